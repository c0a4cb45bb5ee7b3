"""The status feed: versioned JSON events on a ZeroMQ PUB socket.

Topics and bodies are documented in docs/status-feed.md; this module is
the only place that builds them, so the schema has one home.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

import zmq

from hbeat.ipc.statusfeed import EVENT_SCHEMA


class Feed:
    def __init__(self, socket: zmq.Socket[bytes]) -> None:
        self.socket = socket
        self.sockets = [socket]  # and the TCP feed's, when ha.cf has status_tcp

    def add_socket(self, socket: zmq.Socket[bytes]) -> None:
        self.sockets.append(socket)

    def publish(self, topic: str, body: dict[str, Any]) -> None:
        parts = [topic.encode(), json.dumps(body, separators=(",", ":")).encode()]
        for socket in self.sockets:
            # PUB never blocks; a full pipe drops, as for any slow subscriber.
            with contextlib.suppress(zmq.Again):
                socket.send_multipart(parts, zmq.NOBLOCK)

    def _event(self, **fields: Any) -> dict[str, Any]:
        return {"schema": EVENT_SCHEMA, "at": time.time(), **fields}

    def node(self, node: str, old: str, new: str, reason: str = "") -> None:
        self.publish(f"node.{node}", self._event(node=node, old=old, new=new, reason=reason))

    def link(self, node: str, link: str, old: str, new: str) -> None:
        self.publish(f"link.{node}.{link}", self._event(node=node, link=link, old=old, new=new))

    def cluster(self, event: str, **fields: Any) -> None:
        self.publish(f"cluster.{event}", self._event(event=event, **fields))

    def resource(self, group: str, old: str, new: str, node: str) -> None:
        self.publish(f"resource.{group}", self._event(group=group, old=old, new=new, node=node))

    def monitor(self, group: str, event: str, resource: str | None, reason: str,
                restarts: int, node: str) -> None:
        self.publish(f"monitor.{group}", self._event(group=group, event=event, resource=resource,
                                                     reason=reason, restarts=restarts,
                                                     node=node))

    def fence(self, node: str, old: str, new: str) -> None:
        self.publish(f"fence.{node}", self._event(node=node, old=old, new=new))

    def snapshot(self, snap: dict[str, Any]) -> None:
        self.publish("snapshot", snap)
