"""The legacy (auto_failback legacy) `ip-request` / `ip-request-resp` exchange.

At comm-up each of our groups is requested from the peer; the holder stops
it if it runs it and answers `ip-request-resp weown=yes|no`, upon which the
requester starts it; an answer with `ok=` other than OK is a refusal (the
holder's stop failed). docs/resources.md ("Legacy"). `LegacyRequests`
owns what we asked and not yet got an answer for (rscstatus is
`transition` meanwhile) and the requests that wait for the start-up probe;
`on_request` and `on_response` decide an incoming request or answer from a
group's state. The jobs they lead to are `resources`'. Pure.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from hbeat.logfmt import Level

from . import rscmessages as rm
from . import stopfailure as sf
from .rscactions import FAILED, HELD_STATES, PARTIAL, STOP_FAILED, Action, Log, SendMessage


class Request(enum.Enum):
    """What to do with a peer's `ip-request` for one of our groups."""

    UNKNOWN = "unknown"  # no such group: an ERROR
    DEFER = "defer"  # we are probing: answered when we know what runs here
    REFUSE = "refuse"  # stop-failed here: we cannot give it up
    RELEASE = "release"  # held or about to start here: stop it, then answer weown=yes
    NOT_OURS = "not-ours"  # not held here: answer weown=no at once


def on_request(state: str | None, *, committed: bool, probing: bool) -> Request:
    """`state`: the group's state (None: no such group); `committed`: a start of it
    is queued and will run."""
    if state is None:
        return Request.UNKNOWN
    if probing:
        return Request.DEFER
    if state == STOP_FAILED:
        return Request.REFUSE
    if state in HELD_STATES or committed:
        return Request.RELEASE
    return Request.NOT_OURS


def unknown_request(peer: str, key: str) -> Log:
    return Log(Level.ERROR, f"ip-request from {peer} for unknown group [{key}]")


def answer(peer: str, key: str, *, weown: bool) -> SendMessage:
    return SendMessage(rm.ip_request_resp_fields(peer, key, weown))


def refusal(peer: str, key: str) -> list[Action]:
    return [
        sf.refused_ip_request(peer, key),
        SendMessage(rm.ip_request_resp_fields(peer, key, True, ok=False)),
    ]


def after_release(peer: str, key: str, state: str) -> list[Action]:
    """The answer to a request once our copy of `key` is stopped (`state`: after it)."""
    return refusal(peer, key) if state == STOP_FAILED else [answer(peer, key, weown=True)]


@dataclass(frozen=True)
class Response:
    """What a peer's `ip-request-resp` to us leads to."""

    logs: list[Log] = field(default_factory=list)
    take: bool = False  # start the group here
    from_peer_failure: bool = False  # the peer gave it up unasked (a failed start there)


def on_response(
    peer: str,
    resp: rm.IpRequestResp,
    state: str | None,
    *,
    phase: str | None,
    committed: bool,
    requested: bool,
) -> Response:
    """`phase`: None while we are stable, else the phase's name (the answer is
    ignored); `state`: the group's (None: no such group); `requested`: we asked."""
    if phase is not None:
        text = f"ip-request-resp from {peer} for [{resp.key}] ignored: resource state is {phase}"
        return Response([Log(Level.WARN, text)])
    if state is None:
        return Response(
            [Log(Level.ERROR, f"ip-request-resp from {peer} for unknown group [{resp.key}]")]
        )
    if not resp.ok:
        text = (
            f"{peer} could not give up resource group {resp.key} (its stop failed there): "
            f"not taking it."
        )
        return Response([Log(Level.WARN, text)])
    if state in (FAILED, STOP_FAILED):
        text = f"Not taking resource group {resp.key} from {peer}: it failed on this node."
        return Response([Log(Level.WARN, text)])
    if (state in HELD_STATES and state != PARTIAL) or committed:
        return Response()
    return Response(take=True, from_peer_failure=not requested and resp.weown)


class LegacyRequests:
    def __init__(self) -> None:
        self.requested: set[str] = set()  # asked with ip-request, not answered yet
        self.deferred: list[rm.IpRequest] = []  # the peer's, waiting for our probe

    def request(self, key: str) -> SendMessage:
        self.requested.add(key)
        return SendMessage(rm.ip_request_fields(key))

    def answered(self, key: str) -> bool:
        """An answer for `key` came: whether we had asked."""
        asked = key in self.requested
        self.requested.discard(key)
        return asked

    def clear(self) -> None:
        self.requested.clear()

    def take_deferred(self) -> list[rm.IpRequest]:
        deferred, self.deferred = self.deferred, []
        return deferred
