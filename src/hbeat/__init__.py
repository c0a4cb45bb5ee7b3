"""hbeat: a high-availability cluster daemon, a drop-in for Linux-HA
Heartbeat in haresources mode. This package holds the command line and the
configuration model shared by the supervisor and the workers.
"""

__version__ = "0.1.0"
