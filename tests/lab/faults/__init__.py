"""Randomised, seeded fault-injection suite (Pacemaker/heartbeat CTS style)."""
