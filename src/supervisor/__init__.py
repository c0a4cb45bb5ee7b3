"""The hbeat supervisor: the one process that owns every cluster decision.

It wires the pure membership and resource state machines to ZeroMQ (the
worker bus, the control API and the status feed) and never blocks on
anything but those sockets and a timer. See docs/design.md.
"""
