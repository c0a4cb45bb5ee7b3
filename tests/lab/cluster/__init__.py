"""Cluster tests: several real hbeat nodes in harness labs (see hbeatnode.py)."""
