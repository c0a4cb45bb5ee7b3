"""Entry point of `python -m linklayer` (see linklayer.cli)."""

from __future__ import annotations

import sys

from linklayer.cli import main

sys.exit(main())
