"""`python -m hbeat`: the same as the `hbeat` command."""

import sys

from hbeat.cli import main

sys.exit(main())
