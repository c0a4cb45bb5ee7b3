"""Supervisor.apply on a death: the resource machine's orders go out while the
log and journal writers are held, and every held line follows once they are
out (docs/processes.md, "A death's orders first")."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hbeat.logfmt import Level
from supervisor import membership as mb
from tests.supervisor.test_daemon_sent_history import bare_supervisor


def test_a_deaths_orders_go_out_with_the_writers_held(tmp_path: Path) -> None:
    sup, _config = bare_supervisor(tmp_path)
    sup._bind()  # the bus and the feed the death is reported on
    try:
        seen: list[tuple[str, bool, bool]] = []
        real = sup._to_resources

        def spy(event: Callable[..., Any]) -> None:
            seen.append((getattr(event, "__name__", "?"), sup.log_sink.holdback.holding,
                         sup.journal.holdback.holding))
            real(event)

        sup._to_resources = spy  # type: ignore[method-assign]
        sup.apply([mb.Log(Level.WARN, "node weasel: is dead"),
                   mb.NodeStateChanged("weasel", mb.ACTIVE, mb.DEAD, "no keepalive"),
                   mb.NodeDead("weasel")])
        # node_dead_orders, then settle: both with the writers held
        assert [(held_log, held_journal) for _name, held_log, held_journal in seen] == [
            (True, True), (True, True)]
        assert not sup.log_sink.holdback.holding and not sup.journal.holdback.holding
        assert [e.kind.value for e in sup.journal.ring][-1:] == ["node-dead"]
        # A turn without a death holds nothing.
        seen.clear()
        sup.apply([mb.NodeStateChanged("weasel", mb.DEAD, mb.ACTIVE, "heard again")])
        assert all(not h1 and not h2 for _n, h1, h2 in seen)
    finally:
        sup.ctx.destroy(linger=0)
        sup.board.close()
        sup.instance_lock.release()
