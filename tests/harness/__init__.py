"""Test harness for real multi-process clusters on one machine (see README.md).

`Lab` builds namespaced nodes on a private bridge, `SerialCable` joins two of
them with a socat pty pair, `Capture` records packets, `HeartbeatNode` runs a
real heartbeat 3.0.6 on a node, and `wait_for`/`LogWatcher` wait with deadlines.
"""

from .capture import Capture, UdpDatagram, udp_datagrams
from .heartbeat_lab import HeartbeatConfig, HeartbeatNode, authkeys_text, ha_cf
from .netns import NODE_NAMES, Lab, Node, sweep_stale_labs
from .procs import HarnessError, Proc
from .pty import SerialCable
from .requirements import require_commands, require_root, skip_or_fail
from .waiting import LogWatcher, WaitTimeout, wait_for

__all__ = [
    "NODE_NAMES",
    "Capture",
    "HarnessError",
    "HeartbeatConfig",
    "HeartbeatNode",
    "Lab",
    "LogWatcher",
    "Node",
    "Proc",
    "SerialCable",
    "UdpDatagram",
    "WaitTimeout",
    "authkeys_text",
    "ha_cf",
    "require_commands",
    "require_root",
    "skip_or_fail",
    "sweep_stale_labs",
    "udp_datagrams",
    "wait_for",
]
