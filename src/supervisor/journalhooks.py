"""What the supervisor's decision points put in the decision journal
(docs/journal.md): the entries for a node's death or return, a peer's
request, a local hb_standby/hb_takeover, and the small readings they need
(the STONITH plugin of a command line, a control client's uid and pid).

Each function is one decision point's entry, called once by `daemon.py`;
the journal itself (`journal.py`) knows nothing of membership, messages or
monitoring.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import zmq

from hbeat.ipc.journal import Kind

from . import ipfail as ipf
from . import membership as mb
from . import rscmessages as rm
from .journal import Journal
from .rscactions import MonitorEvent

TAKEOVER_ANSWER_S = 60.0
"""A peer's standby this soon after our own hb_takeover is its answer to it."""


def fence_plugin(argv: tuple[str, ...]) -> str:
    """The STONITH plugin of a `stonith -t <type> ...` command line."""
    if "-t" in argv[:-1]:
        return argv[argv.index("-t") + 1]
    return argv[0] if argv else "?"


def peer_credentials(frame: zmq.Frame) -> tuple[int, int] | None:
    """(uid, pid) of a local client, from the kernel's peer credentials that
    ZeroMQ reports for an ipc connection (`Peer-Address` ends `:uid:gid:pid`)."""
    try:
        words = str(frame.get("Peer-Address")).rsplit(":", 3)
        return int(words[1]), int(words[3])
    except (zmq.ZMQError, ValueError, IndexError, TypeError):
        return None


def node_changed(journal: Journal, local: str, change: mb.NodeStateChanged,
                 last_heard: Mapping[str, int | None], now_ms: int,
                 decided_ns: int | None = None) -> None:
    """A peer declared dead (with the last keepalive heard on each link,
    monotonic ms in `last_heard`, and the CLOCK_REALTIME ns of the decision,
    `decided_ns`, when given), or back from the dead."""
    if change.node == local:
        return
    if change.new == mb.DEAD:
        links = {md: {"ago_ms": None if heard is None else now_ms - heard}
                 for md, heard in last_heard.items()}
        extra: dict[str, Any] = {} if decided_ns is None else {"decided_ns": decided_ns}
        journal.record(Kind.NODE_DEAD, change.reason, node=change.node, links=links,
                       was=change.old, **extra)
    elif change.old == mb.DEAD:
        last = journal.ring[-1] if journal.ring else None
        if (last is not None and last.node == change.node
                and last.kind in (Kind.PEER_RESTARTED, Kind.PARTITION_HEALED)):
            return  # the same return, told once
        journal.record(Kind.NODE_BACK, change.reason, node=change.node, status=change.new)


def peer_request(journal: Journal, node: str, msg: rm.ResourceMessage | None,
                 wall: float) -> None:
    """A peer asking for a standby, a takeover or a group opens a decision."""
    if isinstance(msg, rm.AskResources) and msg.info == rm.ASK_ME:
        cause = journal.cause_of(journal.current)
        if (cause is not None and cause.detail.get("what") == "takeover"
                and cause.detail.get("by") == "local" and wall - cause.wall < TAKEOVER_ANSWER_S):
            return  # the peer going standby is its answer to our hb_takeover
        journal.record(Kind.REQUEST, f"{node} (hb_standby there)", node=node,
                       what="standby", which=msg.which.word, by="peer")
    elif isinstance(msg, rm.HbTakeover):
        journal.record(Kind.REQUEST, f"{node} (hb_takeover there)", node=node,
                       what="standby", which=msg.which, by="peer-takeover")
    elif isinstance(msg, rm.IpRequest):
        journal.record(Kind.REQUEST, f"{node} (legacy ip-request)", node=node,
                       what="ip-request", which=msg.key, by="peer-legacy")


MOVING_COMMANDS = ("standby", "takeover")


def local_request(journal: Journal, local: str, command: str, args: Mapping[str, Any],
                  creds: tuple[int, int] | None) -> None:
    """hb_standby or hb_takeover on this node (control socket), with the
    caller's uid and pid when the kernel told them."""
    if command not in MOVING_COMMANDS:
        return
    uid, pid = creds if creds is not None else (None, None)
    who = f"hb_{command} on {local}" + (f" (uid {uid}, pid {pid})" if uid is not None else "")
    journal.record(Kind.REQUEST, who, node=local, what=command,
                   which=str(args.get("which", "all"))[:20], by="local", uid=uid, pid=pid)


def monitor_event(journal: Journal, event: MonitorEvent) -> None:
    """A monitor failure opens a decision; what monitoring does next
    (restart, handover, restarted, ...) is a step of it."""
    if event.event == "failed":
        journal.record(Kind.MONITOR_FAILED, f"{event.resource}: {event.reason}",
                       group=event.group_key, resource=event.resource,
                       restarts=event.restarts)
    else:
        journal.record(Kind.MONITOR, event.reason, group=event.group_key, event=event.event,
                       resource=event.resource, restarts=event.restarts)


def ipfail_request(journal: Journal, local: str, which: str, ipfail: ipf.IpFail | None) -> None:
    """ipfail (built in, supervisor/pinglink.py) gives this node's groups to
    the peer, which sees more ping nodes."""
    if ipfail is None:
        return
    journal.record(Kind.REQUEST, f"ipfail on {local}: {ipfail.local} of {ipfail.total} ping "
                                 f"nodes answer here, {ipfail.remote} on {ipfail.peer}",
                   node=local, what="standby", which=which, by="ipfail",
                   local_count=ipfail.local, peer_count=ipfail.remote, total=ipfail.total)
