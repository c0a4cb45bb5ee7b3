"""The LSB init script of echod (tests/lab/monitor/echod.py), written into a node's resource.d.

start (waits until the daemon listens; `START_DELAY_S` more, a service's
start-up time), stop (TERM, then KILL; a stale pid file is removed;
`STOP_DELAY_S` more, a service's shutdown time), status
with LSB exit codes: 0 running, 1 dead with its pid file left, 3 stopped.
"""

from __future__ import annotations

import sys
from pathlib import Path

PORT = 7070
PIDFILE = "/run/echod.pid"
START_DELAY_S = 1.0
STOP_DELAY_S = 1.0

_SCRIPT = """#!/bin/sh
### BEGIN INIT INFO
# Provides:          echod
# Required-Start:    $network
# Required-Stop:     $network
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: echod, a small TCP daemon (hbeat's monitoring lab test)
### END INIT INFO
PIDFILE={pidfile}
DAEMON="{python} {daemon} {port} $PIDFILE"

running() {{
    [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}}

case "$1" in
start)
    if running; then echo "echod already running"; exit 0; fi
    rm -f "$PIDFILE"
    $DAEMON || exit 1
    i=0
    while [ ! -f "$PIDFILE" ]; do
        i=$((i + 1)); [ $i -gt 100 ] && {{ echo "echod did not start" >&2; exit 1; }}
        sleep 0.05
    done
    sleep {delay}
    echo "echod started"
    ;;
stop)
    if [ -f "$PIDFILE" ]; then
        pid=$(cat "$PIDFILE")
        kill "$pid" 2>/dev/null
        i=0
        while kill -0 "$pid" 2>/dev/null; do
            i=$((i + 1)); [ $i -gt 50 ] && kill -9 "$pid" 2>/dev/null
            sleep 0.05
        done
        rm -f "$PIDFILE"
        sleep {stop_delay}
    fi
    echo "echod stopped"
    ;;
status)
    if running; then echo "echod is running"; exit 0; fi
    if [ -f "$PIDFILE" ]; then echo "echod is dead, pid file exists"; exit 1; fi
    echo "echod is stopped"; exit 3
    ;;
*)
    echo "usage: $0 start|stop|status" >&2; exit 2
    ;;
esac
exit 0
"""


def write_initscript(directory: Path) -> Path:
    path = directory / "echod"
    daemon = Path(__file__).resolve().parent / "echod.py"
    path.write_text(_SCRIPT.format(pidfile=PIDFILE, python=sys.executable, daemon=daemon,
                                   port=PORT, delay=START_DELAY_S,
                                   stop_delay=STOP_DELAY_S))
    path.chmod(0o755)
    return path
