"""Which ping nodes are up: the ping worker's pure part (time as a parameter, no I/O).

`EchoBook` remembers the echo requests sent (host, sequence number, the
request's token, when) and accepts a reply only when its source address,
sequence number and payload all match a request still outstanding, once:
every reply byte is hostile, so a forged, late, duplicated or foreign reply
changes nothing. It holds at most `capacity` requests (the oldest go).

`PingTracker` turns accepted replies into node states, as heartbeat 3.0.6
does for its ping pseudo-nodes (docs/heartbeat-protocol.md §7): a `ping`
node is its one host; a `ping_group` is up while any of its hosts answers.
A node is up from the first accepted reply of one of its hosts and dead
when none has answered for `deadping_ms`; a node never heard is reported
dead once `deadping_ms` has passed since the start. Only transitions are
returned, so the worker reports changes, never packets.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Transition:
    node: str
    up: bool
    host: str | None
    """The host whose reply brought the node up (None for a death)."""


class EchoBook:
    """Outstanding echo requests, keyed by (host, seq)."""

    def __init__(self, capacity: int, max_age_ms: int) -> None:
        self.capacity = capacity
        self.max_age_ms = max_age_ms
        self._sent: OrderedDict[tuple[str, int], tuple[bytes, int]] = OrderedDict()

    def sent(self, host: str, seq: int, token: bytes, now: int) -> None:
        self._sent[(host, seq)] = (token, now)
        self._sent.move_to_end((host, seq))
        while len(self._sent) > self.capacity:
            self._sent.popitem(last=False)

    def match(self, host: str, seq: int, payload: bytes, now: int) -> bool:
        """True for the one reply to an outstanding request (then forgotten)."""
        entry = self._sent.get((host, seq))
        if entry is None:
            return False
        token, at = entry
        if payload != token or now - at > self.max_age_ms:
            return False
        del self._sent[(host, seq)]
        return True

    def expire(self, now: int) -> None:
        while self._sent:
            key, (_, at) = next(iter(self._sent.items()))
            if now - at <= self.max_age_ms:
                return
            del self._sent[key]

    def __len__(self) -> int:
        return len(self._sent)


class PingTracker:
    """Node states from accepted replies (see the module docstring)."""

    def __init__(self, targets: Sequence[tuple[str, Sequence[str]]], deadping_ms: int,
                 now: int) -> None:
        self.deadping_ms = deadping_ms
        self.started = now
        self.hosts = {name: tuple(hosts) for name, hosts in targets}
        self.last_reply: dict[str, int] = {}
        self.state: dict[str, bool | None] = {name: None for name in self.hosts}

    def reply(self, host: str, now: int) -> list[Transition]:
        self.last_reply[host] = now
        out = []
        for name, hosts in self.hosts.items():
            if host in hosts and self.state[name] is not True:
                self.state[name] = True
                out.append(Transition(name, True, host))
        return out

    def _alive(self, name: str, now: int) -> bool:
        return any(now - self.last_reply[h] < self.deadping_ms
                   for h in self.hosts[name] if h in self.last_reply)

    def tick(self, now: int) -> list[Transition]:
        out = []
        for name, state in self.state.items():
            if self._alive(name, now):
                continue
            if state is True or (state is None and now - self.started >= self.deadping_ms):
                self.state[name] = False
                out.append(Transition(name, False, None))
        return out

    def next_deadline(self) -> int:
        """When `tick` may next have something to say."""
        due = []
        for name, state in self.state.items():
            if state is None:
                due.append(self.started + self.deadping_ms)
            elif state:
                heard = [self.last_reply[h] for h in self.hosts[name] if h in self.last_reply]
                due.append(max(heard) + self.deadping_ms)
        return min(due) if due else self.started + 3_600_000
