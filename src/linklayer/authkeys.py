"""Reading heartbeat's authkeys file into a Keyring.

The format and its rules are those of heartbeat 3.0.6
(docs/heartbeat-protocol.md §2.1):

* blank lines and lines whose first non-blank character is `#` are
  ignored; a line ending in CRLF is accepted and the `\\r` is never part of
  a key (fields are separated by ASCII whitespace: space, tab, CR, VT, FF);
* `auth N` selects the signing key; it must appear exactly once, and key N
  must be defined on a line *after* it (3.0.6 matches the index while it
  reads the key lines that follow, so a key defined earlier does not count);
* `N method [key]`: N is 0..15, method is `sha1`, `md5` (both need a key)
  or `crc` (which must not have one); an index may be defined only once.
  Every key is loaded, so several may be listed for key rotation.

A key is the first whitespace-delimited token after the method, as in
heartbeat; keys cannot contain spaces. Text after it (or after the index of
`auth N`) is ignored, as heartbeat does, but never silently: it produces a
warning, since it usually means someone expected a key with spaces in it.
Using `crc` also produces a warning: it is a checksum, not authentication,
and anyone on the link can forge it.

Errors raise AuthkeysError, whose text is `path:line: message` (line 0 for
problems with the whole file). `parse_authkeys`/`parse_authkeys_result` are
pure; `load_authkeys`/`load_authkeys_result` open, check permissions
(any group or other bit is refused: heartbeat refuses only group- or
other-readable files) and the owner (root or the reading user), and read
the file.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from linklayer.message import AuthKey, Keyring, Method

__all__ = [
    "AuthkeysError",
    "AuthkeysResult",
    "decode_authkeys",
    "load_authkeys",
    "load_authkeys_result",
    "parse_authkeys",
    "parse_authkeys_result",
    "permission_problem",
]

MAX_KEY_INDEX = 15
_WHITESPACE = re.compile(r"[ \t\r\v\f]+")
_METHODS = {m.value: m for m in Method}


class AuthkeysError(ValueError):
    """An authkeys file that cannot be used; `line` is 0 for whole-file problems."""

    def __init__(self, path: str, line: int, message: str) -> None:
        self.path = path
        self.line = line
        self.message = message
        super().__init__(f"{path}:{line}: {message}")


@dataclass(frozen=True, slots=True)
class AuthkeysResult:
    """The keyring, and warnings (`path:line: text`) about things that work but are unwise."""

    keyring: Keyring
    warnings: tuple[str, ...] = ()


def _key_index(token: str, path: str, lineno: int, what: str, hint: str = "") -> int:
    if not token.isascii() or not token.isdigit() or int(token) > MAX_KEY_INDEX:
        raise AuthkeysError(
            path, lineno, f"{what} [{token}] is not a number from 0 to {MAX_KEY_INDEX}{hint}"
        )
    return int(token)


def parse_authkeys_result(text: str, path: str) -> AuthkeysResult:
    """Parse the text of an authkeys file; `path` is only used in messages."""
    keys: dict[int, AuthKey] = {}
    defined_on: dict[int, int] = {}
    warnings: list[str] = []
    auth_index: int | None = None
    auth_line = 0
    signing_found = False

    for lineno, raw in enumerate(text.split("\n"), start=1):
        tokens = [t for t in _WHITESPACE.split(raw) if t]
        if not tokens or tokens[0].startswith("#"):
            continue

        if tokens[0] == "auth":
            if auth_index is not None:
                raise AuthkeysError(
                    path, lineno, f"Duplicate auth directive (the first is on line {auth_line})"
                )
            if len(tokens) < 2:
                raise AuthkeysError(path, lineno, "auth directive needs a key index: auth N")
            auth_index = _key_index(tokens[1], path, lineno, "auth directive index")
            auth_line = lineno
            if len(tokens) > 2:
                extra = " ".join(tokens[2:])
                warnings.append(f"{path}:{lineno}: ignoring [{extra}] after 'auth {auth_index}'")
            continue

        index = _key_index(
            tokens[0], path, lineno, "Key index", " (lines are 'auth N' or 'N method [key]')"
        )
        if index in keys:
            raise AuthkeysError(
                path,
                lineno,
                f"Duplicate key index [{index}] (already defined on line {defined_on[index]})",
            )
        if len(tokens) < 2:
            raise AuthkeysError(path, lineno, f"Key [{index}] has no auth method (sha1, md5, crc)")
        method = _METHODS.get(tokens[1])
        if method is None:
            raise AuthkeysError(
                path, lineno, f"Unknown auth method [{tokens[1]}] (use sha1, md5 or crc)"
            )
        secret = b""
        if method is Method.CRC:
            if len(tokens) > 2:
                raise AuthkeysError(path, lineno, "Auth method [crc] doesn't use a key")
            warnings.append(
                f"{path}:{lineno}: key {index} uses crc, which is a checksum and provides"
                " no authentication: anyone on the link can forge messages (use sha1)"
            )
        else:
            if len(tokens) < 3:
                raise AuthkeysError(path, lineno, f"Auth method [{method.value}] requires a key")
            secret = tokens[2].encode("utf-8")
            if len(tokens) > 3:
                warnings.append(
                    f"{path}:{lineno}: key {index}: ignoring [{' '.join(tokens[3:])}] after"
                    " the key; a key is one word and cannot contain spaces"
                )
        keys[index] = AuthKey(index, method, secret)
        defined_on[index] = lineno
        if auth_index is not None and index == auth_index:
            signing_found = True

    if auth_index is None:
        raise AuthkeysError(path, 0, f"Missing auth directive in keyfile [{path}]")
    if not signing_found:
        message = f"Auth Key [{auth_index}] not found in keyfile [{path}]"
        if auth_index in defined_on:
            message += (
                f" (key {auth_index} is defined on line {defined_on[auth_index]},"
                f" before the auth directive; it must come after it)"
            )
        raise AuthkeysError(path, auth_line, message)
    keyring = Keyring(keys=MappingProxyType(keys), signing_index=auth_index)
    return AuthkeysResult(keyring, tuple(warnings))


def parse_authkeys(text: str, path: str) -> Keyring:
    """Parse the text of an authkeys file into a Keyring (warnings dropped)."""
    return parse_authkeys_result(text, path).keyring


def decode_authkeys(data: bytes, path: str) -> str:
    """The file's bytes as text; invalid UTF-8 is an error naming its line."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise AuthkeysError(
            path,
            line,
            f"keyfile is not valid UTF-8 (byte 0x{data[exc.start]:02x} at column {column})",
        ) from None


_PERMISSION_BITS = (
    ("group", ((stat.S_IRGRP, "readable"), (stat.S_IWGRP, "writable"),
               (stat.S_IXGRP, "executable"))),
    ("others", ((stat.S_IROTH, "readable"), (stat.S_IWOTH, "writable"),
                (stat.S_IXOTH, "executable"))),
)


def permission_problem(name: str, mode: int, owner: int, euid: int | None = None) -> str | None:
    """Why a keyfile with this mode and owner must not be used, or None.

    heartbeat refuses a keyfile that group or others can read; hbeat also
    refuses any other group/other bit (a file others can write lets them
    choose the cluster's key) and an owner other than root or the user
    reading it (whoever owns the file can change its mode). `euid` defaults
    to this process's.
    """
    reader = os.geteuid() if euid is None else euid
    if owner not in (0, reader):
        return (
            f"keyfile [{name}] is owned by uid {owner}, not by root:"
            f" whoever owns it can change the cluster's keys (chown root:root {name})"
        )
    granted: list[tuple[str, str]] = []
    for who, bits in _PERMISSION_BITS:
        verbs = [verb for bit, verb in bits if mode & bit]
        if verbs:
            granted.append((who, " and ".join(verbs)))
    if not granted:
        return None
    if len(granted) == 2 and granted[0][1] == granted[1][1]:
        detail = f"{granted[0][1]} by group and others"
    else:
        detail = ", ".join(f"{verbs} by {who}" for who, verbs in granted)
    return (
        f"Bad permissions on keyfile [{name}], 600 recommended."
        f" (mode is {stat.S_IMODE(mode):04o}: {detail})"
    )


def load_authkeys_result(path: Path | str) -> AuthkeysResult:
    """Open, permission-check, read and parse an authkeys file."""
    name = str(path)
    try:
        if not stat.S_ISREG(os.stat(name).st_mode):  # never block opening a FIFO
            raise AuthkeysError(name, 0, f"keyfile [{name}] is not a regular file")
        with open(name, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise AuthkeysError(name, 0, f"keyfile [{name}] is not a regular file")
            problem = permission_problem(name, info.st_mode, info.st_uid)
            if problem:
                raise AuthkeysError(name, 0, problem)
            data = handle.read()
    except FileNotFoundError:
        raise AuthkeysError(name, 0, f"Cannot open keyfile [{name}]: no such file") from None
    except OSError as exc:
        raise AuthkeysError(name, 0, f"Cannot read keyfile [{name}]: {exc.strerror}") from None
    return parse_authkeys_result(decode_authkeys(data, name), name)


def load_authkeys(path: Path | str) -> Keyring:
    """Open, permission-check, read and parse an authkeys file into a Keyring."""
    return load_authkeys_result(path).keyring
