"""The steps and closing lines of the jobs that acquire groups.

Two jobs take groups here (docs/resources.md, "Semantics"): acquiring our
own groups (`req_our_resources`: at start-up, or when the peer no longer
holds them), each preceded by the `ip-request-resp` to ourselves 3.0.6
sends, and the takeover after the peer's death or `shutdone` (`mach_down`):
the dead node's groups, then ours. These builders give their steps and
what is said when they end; which job runs when is `resources`'. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence

from hbeat.logfmt import Level

from . import rscmessages as rm
from .jobrunner import Step
from .rscactions import Action, Log, SendMessage

Hold = rm.Hold


def initial_complete(reason: str) -> Log:
    return Log(Level.INFO, f"Initial resource acquisition complete ({reason})")


def own_steps(me: str, local: Sequence[str], *, retry_failed: bool = False) -> list[Step]:
    """Start our groups `local`, each after an `ip-request-resp` to ourselves."""
    return [
        Step(key, True, (SendMessage(rm.ip_request_resp_fields(me, key, True)),), retry_failed)
        for key in local
    ]


def req_our_done(*, started: bool, initial: str | None, report: SendMessage | None) -> list[Action]:
    """The end of `req_our_resources`: `started` if a group of ours runs,
    `initial` the start-up's reason (None: not the start-up), `report` ours
    (auto_failback on/off)."""
    out: list[Action] = []
    if initial is not None:
        none = "" if started else " (none)"
        out.append(Log(Level.INFO, f"Local Resource acquisition completed.{none}"))
    if report is not None:
        out.append(report)
    if initial is not None:
        out.append(initial_complete(initial))
    return out


def takeover_steps(me: str, theirs: Sequence[str], local: Sequence[str]) -> list[Step]:
    """Take over the dead node's groups `theirs`, then start ours (`local`)."""
    steps = [
        Step(key, True, (Log(Level.INFO, f"Taking over resource group {key}"),), True)
        for key in theirs
    ]
    return steps + own_steps(me, local, retry_failed=True)


def takeover_done(
    dead: str,
    *,
    nice: bool,
    after_shutdone: bool,
    initial: str | None,
    report: SendMessage | None,
) -> list[Action]:
    """The end of the `mach_down` takeover of `dead`'s groups (`report`: ours,
    auto_failback on/off; `initial`: the start-up's reason if it completes it)."""
    out: list[Action] = []
    if nice:
        if report is not None:
            out.append(report)
        if after_shutdone:
            out.append(SendMessage(rm.ask_resources_fields(Hold.ALL, rm.ASK_DONE)))
        out.append(SendMessage(rm.mach_down_fields()))
    out.append(Log(Level.INFO, f"mach_down takeover complete for node {dead}."))
    if initial is not None:
        out.append(initial_complete(initial))
    return out
