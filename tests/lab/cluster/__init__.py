"""Cluster tests: several real hbeat nodes in harness labs (see tests/harness/hbeatnode.py)."""
