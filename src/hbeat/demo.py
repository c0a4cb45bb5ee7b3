"""`make demo`: a live two-node cluster on this machine, showing a failover.

The daemon that the demo runs is not built yet (issues 4 and 5); until it
is, this says so plainly instead of pretending.
"""

import sys


def main() -> int:
    print("hbeat demo: the link layer and its tools are built.")
    print("The live two-node cluster demo (otter and weasel, a failover) arrives with the")
    print("daemon; try `python -m linklayer decode --help` meanwhile.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
