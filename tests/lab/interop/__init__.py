"""Interop tests: hbeat nodes and real heartbeat 3.0.6 nodes in one cluster."""
