"""Tests of the running daemon: real hbeat processes in network namespaces."""
