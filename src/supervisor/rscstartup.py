"""The timers of the start-up negotiation (auto_failback on/off).

After comm-up with a live peer we send `starting` and wait to be stable
(docs/resources.md, "Start-up"): a peer report with isstable=1 completes
the transition at once ("remote"); else RQSTDELAY after its first report
("local"); with no report at all, 3 x RQSTDELAY after comm-up (the safety
delay, WARN). `Negotiation` owns those two deadlines and says when the
transition completes and with which log lines; what completing means
(claiming and acquiring our groups) is `resources`'. Pure: times are ms.
"""

from __future__ import annotations

from hbeat.logfmt import Level

from .rscactions import Log

REMOTE = "T_RESOURCES(them)"
LOCAL = "T_RESOURCES(us)"


class Negotiation:
    def __init__(self, rqstdelay_ms: int) -> None:
        self.rqstdelay_ms = rqstdelay_ms
        self.rqst_deadline: int | None = None  # RQSTDELAY after the peer's first report
        self.safety_deadline: int | None = None  # 3 x RQSTDELAY after comm-up

    def begin(self, now: int) -> None:
        """`starting` was sent: arm the safety delay."""
        self.safety_deadline = now + 3 * self.rqstdelay_ms

    def clear(self) -> None:
        self.rqst_deadline = None
        self.safety_deadline = None

    def deadlines(self) -> tuple[int | None, int | None]:
        return self.rqst_deadline, self.safety_deadline

    def report(self, stable: bool, now: int) -> list[Log] | None:
        """A full peer report while negotiating: the logs of the completed
        transition (reason `REMOTE`), or None (the RQSTDELAY wait is armed)."""
        if stable:
            return [Log(Level.INFO, "remote resource transition completed.")]
        if self.rqst_deadline is None:
            self.rqst_deadline = now + self.rqstdelay_ms
        return None

    def expired(self, now: int, peer: str, *, negotiating: bool) -> list[Log] | None:
        """The logs of a transition completed by a timer now (reason `LOCAL`), or
        None. An expired timer is dropped; it completes only while `negotiating`."""
        if self.rqst_deadline is not None and now >= self.rqst_deadline:
            self.rqst_deadline = None
            if negotiating:
                return [Log(Level.INFO, "local resource transition completed.")]
        if self.safety_deadline is not None and now >= self.safety_deadline:
            self.safety_deadline = None
            if negotiating:
                return [
                    Log(
                        Level.WARN,
                        f"No resource report from {peer}: completing the resource "
                        f"transition without it.",
                    ),
                    Log(Level.INFO, "local resource transition completed."),
                ]
        return None
