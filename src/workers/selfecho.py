"""Keeping a node's own keepalives out of its bcast/mcast receive socket.

A bcast (or looped mcast) socket receives every datagram the node sends on
that medium. The supervisor needs the first one (its own link comes up) and
nothing from the later ones (docs/processes.md, "Own echoes"), so once the
link worker has forwarded that first echo it asks the kernel to drop the
datagrams whose source is its own sending socket (the address and port the
first echo came from): a classic BPF socket filter, so the worker is not
woken for them at all. Where the kernel refuses the filter the worker drops
them itself, after the wake-up.
"""

from __future__ import annotations

import ctypes
import ipaddress
import socket
import struct

SO_ATTACH_FILTER = 26
SKF_NET_OFF = -0x100000  # classic BPF: offsets from the network (IP) header

# Classic BPF opcodes (linux/filter.h).
_LD_H_ABS = 0x28  # BPF_LD | BPF_H | BPF_ABS
_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_RET_K = 0x06  # BPF_RET | BPF_K
_INSN = struct.Struct("=HBBI")  # struct sock_filter: code, jt, jf, k


def own_filter(address: str, port: int) -> list[tuple[int, int, int, int]]:
    """The classic BPF program (struct sock_filter entries: code, jt, jf, k)
    that drops UDP datagrams from IPv4 `address`:`port` and passes every
    other one whole. On a UDP socket offset 0 is the UDP header (its source
    port), SKF_NET_OFF + 12 the IP source address. ValueError for anything
    but an IPv4 address and a port of 1 to 65535."""
    ip = int(ipaddress.IPv4Address(address))
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is not 1 to 65535")
    return [
        (_LD_H_ABS, 0, 0, 0),  # A = UDP source port
        (_JEQ_K, 0, 3, port),  # not ours: pass
        (_LD_W_ABS, 0, 0, (SKF_NET_OFF + 12) & 0xFFFFFFFF),  # A = IP source address
        (_JEQ_K, 0, 1, ip),  # not ours: pass
        (_RET_K, 0, 0, 0),  # ours: drop
        (_RET_K, 0, 0, 0xFFFFFFFF),  # pass the whole datagram
    ]


def drop_from(sock: socket.socket, address: str, port: int) -> str | None:
    """Attach `own_filter(address, port)` to `sock`. None when the kernel
    took it, else why not (the caller keeps dropping in user space)."""
    try:
        program = own_filter(address, port)
    except ValueError as exc:
        return str(exc)
    code = b"".join(_INSN.pack(*insn) for insn in program)
    buf = ctypes.create_string_buffer(code, len(code))
    fprog = struct.pack("HxxxxxxQ", len(program), ctypes.addressof(buf))
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
    except OSError as exc:
        return f"SO_ATTACH_FILTER: {exc.strerror}"
    finally:
        del buf
    return None
