"""echod: a small TCP daemon for the monitoring lab test, started by the LSB script `echod`.

`echod.py PORT PIDFILE` detaches (double fork, new session, stdio to /dev/null),
listens on PORT, writes its pid to PIDFILE once it listens, and answers every
connection with one line, `echod <node> <pid>`, until it is killed.
"""

from __future__ import annotations

import os
import socket
import sys


def main() -> None:
    port, pidfile = int(sys.argv[1]), sys.argv[2]
    if os.fork():
        os._exit(0)
    os.setsid()
    if os.fork():
        os._exit(0)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", port))
    server.listen(8)
    tmp = f"{pidfile}.tmp"
    with open(tmp, "w") as f:
        f.write(f"{os.getpid()}\n")
    os.rename(tmp, pidfile)
    answer = f"echod {os.uname().nodename} {os.getpid()}\n".encode()
    while True:
        conn, _ = server.accept()
        with conn:
            conn.sendall(answer)


if __name__ == "__main__":
    main()
