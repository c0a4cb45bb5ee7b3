"""Resource monitoring inside the resource machine: probes, restarts, hand-overs, said.

`Monitor` keeps one `monitorpolicy.Watch` per group and turns the policy's
answers into what the machine emits (docs/resources.md, "Monitoring"): the
probes due (`take_due`, then `pending`: `resources` queues them as a
`monitor` job when no other job runs), what a probe's failure leads to
(`failed`: the log lines, the `MonitorEvent` and the verdict; the jobs are
queued by `resources`, which knows the groups), and the words of each step
(restart, restart here, hand-over, ignored). It follows each group's state
(`state_changed`): a group is watched while it runs here. `moving` says
why a failure is set aside (the group is being stopped or moved anyway),
`peer_unfit` why the peer cannot be handed a group now. Pure: times are
the machine's integer ms.
"""

from __future__ import annotations

from collections.abc import Iterable

from hbeat.config.model import MonitorSpec
from hbeat.logfmt import Level

from . import groupops as go
from . import rscmessages as rm
from .monitorpolicy import Verdict, Watch
from .rscactions import FAILED, RUNNING, STOP_FAILED, Action, Log, MonitorEvent, SendMessage
from .rscpeer import PeerState
from .rscsnapshot import GroupMonitorView, MonitorView

PROBE_JOB = "monitor"
QUIET_JOBS = frozenset({PROBE_JOB})
"""Jobs that leave rscstatus alone: a probe changes nothing (a restart is a transition)."""
RESTARTING = "restarting"
HANDING_OVER = "handing-over"


def _seconds(ms: int) -> str:
    return f"{ms / 1000:g} s"


def moving(phase: str, state: str, *, pending: bool, standby: bool) -> str | None:
    """Why a monitor failure is set aside (None: act on it): the machine is not
    stable (`phase`), the group is no longer running (`state`), a queued step
    is about to stop or move it (`pending`), or a standby exchange is under way."""
    if phase != "stable":
        return f"resources are {phase}"
    if state != RUNNING:
        return f"the group is {state} now"
    if pending:
        return "another job is about to stop or move the group"
    if standby:
        return "a standby exchange is under way"
    return None


def peer_unfit(peer: PeerState | None, *, fenced: bool, nice: bool, standby: bool,
               from_peer: bool) -> str | None:
    """Why `peer` cannot be handed a group now (None: it can): none, dead, being
    fenced (`fenced`), shutting down, not stable (auto_failback on/off: `nice`),
    a standby exchange under way, or it gave us the group after a failure there
    (`from_peer`: the group would ping-pong)."""
    if peer is None:
        return "there is no other node"
    if not peer.alive:
        return f"{peer.name} is dead"
    if fenced:
        return f"{peer.name} is being fenced"
    if peer.leaving:
        return f"{peer.name} is shutting down"
    if not peer.ready_for(nice=nice):
        return f"{peer.name} is not stable"
    if standby:
        return "a standby exchange is under way"
    if from_peer:
        return f"{peer.name} gave it to us after it failed there"
    return None


class Monitor:
    """See the module docstring."""

    def __init__(self, spec: MonitorSpec, keys: Iterable[str]) -> None:
        self.spec = spec
        self.watches = {key: Watch(spec) for key in keys}
        self.action: dict[str, str] = {}  # group -> what monitoring is doing to it
        self._pending: list[str] = []  # probes due, not queued yet
        self._failed_rsc: dict[str, str] = {}  # group -> the resource being restarted

    # --- schedule -----------------------------------------------------------

    def state_changed(self, key: str, new: str, now: int) -> list[Action]:
        """Group `key` changed state: watched while running; the end of a restart said."""
        w = self.watches[key]
        out: list[Action] = []
        if new == RUNNING:
            w.arm(now)
            if self.action.pop(key, None) == RESTARTING:
                rsc = self._failed_rsc.pop(key, None)
                out += [
                    Log(Level.INFO, f"Resource group {key} restarted after a monitor failure"
                                    f"{f' of {rsc}' if rsc else ''}."),
                    self._event(key, "restarted", rsc, "running again", now),
                ]
            return out
        w.disarm()
        if key in self._pending:
            self._pending.remove(key)
        if new in (FAILED, STOP_FAILED) and self.action.get(key) == RESTARTING:
            del self.action[key]
            rsc = self._failed_rsc.pop(key, None)
            why = "its start failed" if new == FAILED else "its stop failed"
            out.append(self._event(key, "restart-failed", rsc, why, now))
        return out

    def deadline(self) -> int | None:
        times = [w.next_ms for w in self.watches.values() if w.watched and w.next_ms is not None]
        return min(times) if times else None

    def take_due(self, now: int) -> None:
        """Probes due now become pending (no deadline until they ran)."""
        for key, w in self.watches.items():
            if w.take(now) and key not in self._pending:
                self._pending.append(key)

    def pending(self) -> list[str]:
        """The groups to probe now, in the order they fell due (handed out once)."""
        keys, self._pending = self._pending, []
        return keys

    def done(self, key: str) -> None:
        """A restart or hand-over job ended."""
        self.action.pop(key, None)

    # --- a probe's result ---------------------------------------------------

    def passed(self, key: str, now: int) -> None:
        self.watches[key].passed(now)

    def ignored(self, key: str, rsc: str, why: str, now: int) -> list[Action]:
        """A failure seen while the group is being stopped or moved: the move wins."""
        self.watches[key].passed(now)
        return [
            Log(Level.INFO, f"Monitor failure of {rsc} (group {key}) ignored: {why}."),
            self._event(key, "ignored", rsc, why, now),
        ]

    def failed(self, key: str, rsc: str, status: go.ResourceStatus, now: int, *,
               peer: str | None, unfit: str | None) -> tuple[list[Action], Verdict]:
        """Resource `rsc` of group `key` failed its probe; `unfit`: why the peer
        cannot take the group (None: it can). Returns what is said and the verdict."""
        w = self.watches[key]
        if status is go.ResourceStatus.STOPPED:
            how = "not running"
        elif status.cannot_run:
            how = f"cannot run here ({status.value})"
        else:
            how = "status failed or timed out"
        verdict = w.failed(now, f"{rsc}: {how}", peer_fit=unfit is None)
        n, limit, window = w.restarts(now), self.spec.restarts, _seconds(self.spec.window_ms)
        out: list[Action] = [self._event(key, "failed", rsc, how, now)]
        if verdict is Verdict.RESTART:
            self.action[key] = RESTARTING
            self._failed_rsc[key] = rsc
            out += [
                Log(Level.WARN, f"Restarting {rsc} of group {key} in place (restart {n} of "
                                f"{limit} within {window})."),
                self._event(key, "restart", rsc, f"restart {n} of {limit}", now),
            ]
        elif verdict is Verdict.HANDOVER:
            self.action[key] = HANDING_OVER
            assert peer is not None
            out += [
                Log(Level.WARN, f"Resource group {key} failed again after {limit} restart(s) "
                                f"within {window}: handing it to {peer}."),
                self._event(key, "handover", rsc, f"{limit} restart(s) within {window}; "
                                                  f"to {peer}", now),
            ]
        else:
            self.action[key] = RESTARTING
            self._failed_rsc[key] = rsc
            why = unfit or "no peer"
            out += [
                Log(Level.WARN, f"Resource group {key} failed again after {limit} restart(s) "
                                f"within {window}, and no other node can take it ({why}): "
                                f"restarting {rsc} here again."),
                self._event(key, "restart-here", rsc, why, now),
            ]
        return out, verdict

    def handed(self, key: str, peer: str, now: int) -> list[Action]:
        """The group is stopped here: give it to `peer`, as a failed start is
        (docs/resources.md, "Start failure")."""
        self.done(key)
        return [
            Log(Level.WARN, f"Resource group {key} stopped here after repeated monitor "
                            f"failures: handing it to {peer}."),
            SendMessage(rm.ip_request_resp_fields(peer, key, True)),
        ]

    def kept(self, key: str, why: str, now: int) -> list[Action]:
        """The group was stopped for a hand-over the peer can no longer take."""
        self.action[key] = RESTARTING
        return [
            Log(Level.WARN, f"Resource group {key} was stopped to be handed over, but no "
                            f"other node can take it now ({why}): starting it here again."),
            self._event(key, "restart-here", None, why, now),
        ]

    # --- views --------------------------------------------------------------

    def _event(self, key: str, event: str, rsc: str | None, reason: str,
               now: int) -> MonitorEvent:
        return MonitorEvent(key, event, rsc, reason, self.watches[key].restarts(now))

    def settings(self) -> MonitorView:
        return {"interval_ms": self.spec.interval_ms, "restarts": self.spec.restarts,
                "window_ms": self.spec.window_ms}

    def view(self, key: str, now: int) -> GroupMonitorView:
        w = self.watches[key]
        return {
            "watched": w.watched,
            "next_ms": w.next_ms,
            "failures": w.failures,
            "restarts": w.restarts(now),
            "last_failure": w.last_failure,
            "last_failure_ms": w.last_failure_ms,
            "action": self.action.get(key),
        }


__all__ = ["HANDING_OVER", "PROBE_JOB", "QUIET_JOBS", "RESTARTING", "Monitor", "moving",
           "peer_unfit"]
