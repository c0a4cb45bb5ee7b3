"""When this node must fence itself, as a pure decision (docs/self-fencing.md).

A node that learns that its peer declared it dead and took its groups over
while it still runs some (an asymmetric partition: we hear the peer, it
does not hear us) must not go on running them. The signs, both sent by a
peer that declared us dead (hbeat and heartbeat 3.0.6 alike):

* `t=stonith node=<us>` (any result): the peer's death handling for us;
* `t=resource ... info=mach_down` while the peer is not known to have heard
  our `shutdone`: its takeover of a dead node's groups is complete.

And a stop that failed for good (`stop-failed`): heartbeat 3.0.6 reboots;
hbeat resets through the watchdog where one is configured, and otherwise
keeps the group claimed (resources.py, "Stop failure").

`fence_reason` says whether a delivered message is such a sign; it does not
act. The supervisor ignores the signs for two deadtimes after it saw a
partition itself (its own loop stalled past a lease, a node died, a
partition healed): both sides hear each other again then, and the partition
rules of resources.py decide (docs/self-fencing.md). Otherwise the supervisor
stops feeding the watchdog (reset within its timeout) and, watchdog or not,
releases every group at once and restarts (exit code 1: systemd's
Restart=on-failure brings hbeat back, which rejoins as a restarted node and
starts nothing the peer holds).
"""

from __future__ import annotations

from supervisor import rscmessages as rm

MACH_DOWN = "mach_down"


def fence_reason(me: str, msg: rm.ResourceMessage, holding: bool,
                 peer_saw_shutdone: bool = False) -> str | None:
    """Why this node must fence itself on `msg` from its peer, or None."""
    if not holding:
        return None
    if isinstance(msg, rm.Stonith) and msg.node == me:
        return (f"{msg.src} declared this node dead (stonith node={me} "
                f"result={msg.result}) while it runs resource groups")
    if (isinstance(msg, rm.ResourceReport) and msg.info == MACH_DOWN
            and not peer_saw_shutdone):
        return (f"{msg.src} took this node's resource groups over after declaring it "
                f"dead (info={MACH_DOWN}) while they still run here")
    return None
