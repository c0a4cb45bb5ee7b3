"""The supervisor's side of the executor's liveness check (supervisor/executorlink.py):
a ping falls due PING_EVERY_S after the last answer and is sent by whichever
turn of the loop comes first; the loop wakes for it alone only PING_SLACK_S
later; an executor that leaves a ping unanswered for PING_DEADLINE_S is
killed."""

from __future__ import annotations

from pathlib import Path

from hbeat.config import SystemProbe, load_config
from hbeat.ipc.bus import Hello
from hbeat.ipc.executor import ExecutorReady, OutputLimits, Ping, Pong
from hbeat.logfmt import Level
from supervisor.executorlink import PING_DEADLINE_S, PING_EVERY_S, PING_SLACK_S, ExecutorLink
from tests.hbeat.config.seed import write_seed


def make_link(tmp_path: Path) -> tuple[ExecutorLink, list[list[bytes]], list[tuple[Level, str]]]:
    seed = write_seed(tmp_path / "ha.d", serial=None, interfaces=("lo",), haresources="")
    config = load_config(seed.config_dir, seed.node_name,
                         system=SystemProbe(init_dir=str(seed.init_dir)))
    sent: list[list[bytes]] = []
    logs: list[tuple[Level, str]] = []
    link = ExecutorLink(config, sent.append, lambda lv, t: logs.append((lv, t)),
                        lambda op, rc, verdict: None)
    return link, sent, logs


def ready(link: ExecutorLink) -> None:
    link.on_message(b"hello", Hello(4242, "executor").encode())
    link.on_message(b"ready", ExecutorReady(
        4242, OutputLimits(max_lines=10, max_bytes=1000, max_line_bytes=100), 1.0,
        10.0).encode())


def test_no_deadline_before_the_executor_is_ready(tmp_path: Path) -> None:
    link, sent, _ = make_link(tmp_path)
    assert link.next_deadline() is None
    assert link.tick(100.0) is None
    assert sent == []


def test_a_due_ping_is_sent_by_any_turn_and_woken_for_only_after_the_slack(
        tmp_path: Path) -> None:
    link, sent, _ = make_link(tmp_path)
    ready(link)
    sent.clear()  # the setup answering the hello
    assert link.tick(50.0) is None  # the first ping is due at once
    ping = Ping.decode(sent.pop()[1:])
    assert link.next_deadline() == 50.0 + PING_DEADLINE_S  # waiting for the answer
    link.on_message(b"pong", Pong(ping.nonce).encode())
    due = 50.0 + PING_EVERY_S
    assert link.next_deadline() == due + PING_SLACK_S  # the loop wakes for it this late
    assert link.tick(due - 0.01) is None and sent == []
    assert link.tick(due + 0.2) is None  # a turn after it fell due sends it
    assert Ping.decode(sent.pop()[1:]).nonce == ping.nonce + 1


def test_an_unanswered_ping_gets_the_executor_killed(tmp_path: Path) -> None:
    link, sent, logs = make_link(tmp_path)
    ready(link)
    sent.clear()
    link.tick(0.0)
    assert Ping.decode(sent.pop()[1:]).nonce == 1
    assert link.tick(PING_DEADLINE_S - 0.1) is None
    assert link.tick(PING_DEADLINE_S) == 4242
    assert any("did not answer a ping" in text for _, text in logs)
