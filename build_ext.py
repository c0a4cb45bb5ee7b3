"""cffi builder for the C link layer (`linklayer._frame_cffi`).

Out-of-line API mode: the declarations are read from the real header
`src/linklayer/_frame.h`, the code is the one C file `src/linklayer/_frame.c`,
linked to the system's OpenSSL libcrypto. `HBEAT_SANITIZE=1` builds it with
AddressSanitizer and UndefinedBehaviorSanitizer (see tools/sanitize.sh).
"""

from __future__ import annotations

import os
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
HEADER = HERE / "src" / "linklayer" / "_frame.h"
SOURCE = "src/linklayer/_frame.c"  # relative: setuptools wants it so

CFLAGS = ["-std=c11", "-O2", "-Wall", "-Wextra", "-Wshadow"]
LDFLAGS: list[str] = []
if os.environ.get("HBEAT_SANITIZE") == "1":
    SAN = [
        "-fsanitize=address,undefined",
        "-fno-omit-frame-pointer",
        "-fno-sanitize-recover=all",
    ]
    CFLAGS = [*CFLAGS[:1], "-O1", "-g", *CFLAGS[2:], *SAN]
    LDFLAGS = SAN

ffibuilder = FFI()
ffibuilder.cdef(HEADER.read_text())
ffibuilder.set_source(
    "linklayer._frame_cffi",
    '#include <stdint.h>\n#include <stddef.h>\n#include "_frame.h"\n',
    sources=[SOURCE],
    include_dirs=[str(HEADER.parent)],
    libraries=["crypto"],
    extra_compile_args=CFLAGS,
    extra_link_args=LDFLAGS,
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
