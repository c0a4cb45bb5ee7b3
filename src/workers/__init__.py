"""hbeat worker processes: one per medium (serial, bcast, ucast, mcast) and
the resource executor. Each is a thin shell around pure logic that talks to
the supervisor over the ZeroMQ worker bus.
"""
