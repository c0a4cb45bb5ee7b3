"""STONITH of dead peers as a pure, clock-injected state machine (docs/fencing.md).

`Fencing` decides when to fence which peer with which device and what the
outcome means; it never runs anything itself. It returns `RunFence`
actions (the daemon hands them to the executor, which runs cluster-glue's
`stonith` command in its own process group with a timeout) and is told the
exit code with `done(op_id, rc, now)`. Times are integer monotonic ms.

Per peer: `idle` -> `attempting` (one `stonith -T reset` call at a time,
each configured device in ha.cf order until one succeeds) -> `fenced`, or
`failed` (every device failed) -> `attempting` again after a backoff
(`retry_ms`, doubled after each failed round up to `retry_max_ms`), for as
long as it takes: a peer is never reported fenced unless a device said so.
`cancel(node)` (the peer was heard again before it was fenced) drops a
scheduled retry; a call already running finishes and is reported, but its
success is then not a reason to take anything over (`Fenced.cancelled`).

Log lines are heartbeat 3.0.6's (docs/heartbeat-protocol.md §5.5:
`Resetting node X with [TYPE]`,
`node X now reset.`, `Device TYPE cannot reset host X.`, `Host X not
reset!`, `STONITH of X failed.  Retrying...`) plus the delay of the retry;
`StonithReport` carries the `t=stonith` result heartbeat sends
(`OK`, `badhost`, `bad`) for every finished call.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from hbeat.config.model import StonithDevice
from hbeat.logfmt import Level

from .membership import Log

# cluster-glue's stonith exit codes (the StonithPlugin return values).
S_OK = 0
S_BADHOST = 4
RESULT_OK = "OK"
RESULT_BADHOST = "badhost"
RESULT_BAD = "bad"


class FenceState(enum.Enum):
    IDLE = "idle"
    ATTEMPTING = "attempting"
    FAILED = "failed"
    FENCED = "fenced"


@dataclass(frozen=True, slots=True)
class FencingConfig:
    """The devices this node may use (ha.cf order) and the timers."""

    devices: tuple[StonithDevice, ...]
    command: str = "/usr/sbin/stonith"
    timeout_s: float = 120.0
    retry_ms: int = 5000
    retry_max_ms: int = 60000

    def __post_init__(self) -> None:
        if self.retry_ms <= 0 or self.retry_max_ms < self.retry_ms or self.timeout_s <= 0:
            raise ValueError("fencing timers must be positive, retry_max_ms >= retry_ms")

    @property
    def configured(self) -> bool:
        return bool(self.devices)


# --- actions ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunFence:
    """Run `argv` (cluster-glue's stonith); report its exit code via `done(op_id, ...)`."""

    op_id: int
    node: str
    argv: tuple[str, ...]
    timeout_s: float


@dataclass(frozen=True, slots=True)
class StonithReport:
    """Send heartbeat's `t=stonith node=<node> result=<result>`."""

    node: str
    result: str


@dataclass(frozen=True, slots=True)
class Fenced:
    """A device reported `node` reset. `cancelled`: the fence had been called off
    (the peer was heard again) while this call ran."""

    node: str
    cancelled: bool = False


@dataclass(frozen=True, slots=True)
class FenceStateChanged:
    node: str
    old: str
    new: str


FenceAction = RunFence | StonithReport | Fenced | FenceStateChanged | Log


# --- the machine --------------------------------------------------------------


@dataclass
class _Peer:
    node: str
    state: FenceState = FenceState.IDLE
    op_id: int | None = None
    device: int = 0
    attempts: int = 0
    rounds: int = 0
    retry_at: int | None = None
    cancelled: bool = False
    last_result: str | None = None
    last_rc: int | None = None
    last_device: str | None = None
    history: list[str] = field(default_factory=list)


class Fencing:
    """See the module docstring."""

    def __init__(self, config: FencingConfig) -> None:
        self.config = config
        self._peers: dict[str, _Peer] = {}
        self._next_op = 1

    @property
    def configured(self) -> bool:
        return self.config.configured

    def state(self, node: str) -> FenceState:
        p = self._peers.get(node)
        return FenceState.IDLE if p is None else p.state

    def pending(self, node: str) -> bool:
        """A fence of `node` was asked for and has not succeeded (nor been cancelled)."""
        p = self._peers.get(node)
        return p is not None and not p.cancelled and p.state in (
            FenceState.ATTEMPTING, FenceState.FAILED)

    def owns(self, op_id: int) -> bool:
        return any(p.op_id == op_id for p in self._peers.values())

    def next_deadline(self) -> int | None:
        times = [p.retry_at for p in self._peers.values() if p.retry_at is not None]
        return min(times) if times else None

    # --- events -------------------------------------------------------------

    def begin(self, node: str, now: int) -> list[FenceAction]:
        """Fence `node` (it was declared dead holding resources). A fence already
        under way continues; a node fenced before is fenced again (it may have
        come back since)."""
        if not self.configured:
            raise RuntimeError("no STONITH device configured")
        p = self._peers.get(node)
        if p is not None and p.state in (FenceState.ATTEMPTING, FenceState.FAILED):
            p.cancelled = False
            return []
        p = _Peer(node)
        self._peers[node] = p
        return self._attempt(p, 0, now)

    def cancel(self, node: str, why: str) -> list[FenceAction]:
        """The peer was heard again: no more attempts (one running finishes)."""
        p = self._peers.get(node)
        if p is None or p.cancelled or p.state not in (FenceState.ATTEMPTING, FenceState.FAILED):
            return []
        p.cancelled = True
        p.retry_at = None
        out: list[FenceAction] = [
            Log(Level.WARN, f"STONITH of {node} called off: {why}; its resources are not "
                            f"taken over.")
        ]
        if p.state is FenceState.FAILED:
            out += self._set(p, FenceState.IDLE)
        return out

    def done(self, op_id: int, rc: int | None, now: int) -> list[FenceAction]:
        """The exit code of a `RunFence` (None: timed out, killed or not run)."""
        p = next((q for q in self._peers.values() if q.op_id == op_id), None)
        if p is None:
            return []
        p.op_id = None
        dev = self.config.devices[p.device]
        p.last_rc = rc
        p.last_device = dev.type
        out: list[FenceAction] = []
        if rc == S_OK:
            p.last_result = RESULT_OK
            out.append(Log(Level.INFO, f"node {p.node} now reset."))
            out.append(StonithReport(p.node, RESULT_OK))
            out += self._set(p, FenceState.FENCED)
            out.append(Fenced(p.node, cancelled=p.cancelled))
            return out
        if rc == S_BADHOST:
            p.last_result = RESULT_BADHOST
            out.append(Log(Level.ERROR, f"Device {dev.type} cannot reset host {p.node}."))
        else:
            p.last_result = RESULT_BAD
            how = "timed out or could not run" if rc is None else f"exit code {rc}"
            out.append(Log(Level.ERROR, f"Host {p.node} not reset! ({dev.type}: {how})"))
        out.append(StonithReport(p.node, p.last_result))
        if p.cancelled:
            out += self._set(p, FenceState.IDLE)
            return out
        if p.device + 1 < len(self.config.devices):
            return out + self._attempt(p, p.device + 1, now)
        p.rounds += 1
        delay = min(self.config.retry_ms * 2 ** (p.rounds - 1), self.config.retry_max_ms)
        p.retry_at = now + delay
        out.append(Log(Level.ERROR, f"STONITH of {p.node} failed.  Retrying... (in "
                                    f"{delay / 1000:g} s; attempt {p.attempts} failed)"))
        out += self._set(p, FenceState.FAILED)
        return out

    def tick(self, now: int) -> list[FenceAction]:
        out: list[FenceAction] = []
        for p in self._peers.values():
            if p.retry_at is not None and now >= p.retry_at and not p.cancelled:
                p.retry_at = None
                out += self._attempt(p, 0, now)
        return out

    def snapshot(self) -> dict[str, object]:
        return {
            "configured": self.configured,
            "devices": [d.type for d in self.config.devices],
            "peers": {
                p.node: {
                    "state": p.state.value,
                    "attempts": p.attempts,
                    "last_result": p.last_result,
                    "last_rc": p.last_rc,
                    "last_device": p.last_device,
                    "cancelled": p.cancelled,
                }
                for p in self._peers.values()
            },
        }

    # --- internals ----------------------------------------------------------

    def _attempt(self, p: _Peer, device: int, now: int) -> list[FenceAction]:
        dev = self.config.devices[device]
        p.device = device
        p.attempts += 1
        p.op_id = self._next_op
        self._next_op += 1
        argv = (self.config.command, "-t", dev.type, *dev.config_argv(), "-T", "reset",
                p.node)
        out: list[FenceAction] = [
            Log(Level.INFO, f"Resetting node {p.node} with [{dev.type}]"),
        ]
        out += self._set(p, FenceState.ATTEMPTING)
        out.append(RunFence(p.op_id, p.node, argv, self.config.timeout_s))
        return out

    def _set(self, p: _Peer, new: FenceState) -> list[FenceAction]:
        if p.state is new:
            return []
        old, p.state = p.state, new
        return [FenceStateChanged(p.node, old.value, new.value)]
