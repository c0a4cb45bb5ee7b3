"""The supervisor hands each `send` order its message's number and tells a
new link worker which numbers it will never be handed, so that the
worker's keepalives wait only for messages on their way to it
(docs/processes.md, "the message mark").

A real Supervisor of the seed configuration (membership, sequence board),
not started on sockets: `tests/supervisor/test_daemon_sent_history.py`."""

from __future__ import annotations

from pathlib import Path

from linklayer.message import STRING
from supervisor.daemon import now_ms
from tests.supervisor.test_daemon_sent_history import bare_supervisor


def test_a_new_worker_waits_only_for_the_messages_it_will_be_handed(tmp_path: Path) -> None:
    sup, _config = bare_supervisor(tmp_path)
    try:
        [name] = sup.workers_by_name
        for n in range(3):  # messages the upper layers send before the link opens
            sup.apply(sup.membership.send(((b"t", STRING, b"hbeat-test"),
                                           (b"n", STRING, b"%d" % n)), now_ms()))
        held = [order.seq for order in sup.held_frames[name]]
        assert len(held) == 3 and all(held) and held == sorted(held)  # numbered, in order
        assert sup.board.read().msg_seq == max(held)
        assert sup._setup_for(name).messages_before == min(held) - 1
        sup.held_frames.pop(name)  # handed to a worker that then died
        assert sup._setup_for(name).messages_before == max(held)
    finally:
        sup.board.close()
        sup.instance_lock.release()
