"""authkeys parsing and loading: heartbeat 3.0.6 rules, exact error texts."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from linklayer.authkeys import (
    AuthkeysError,
    decode_authkeys,
    load_authkeys,
    load_authkeys_result,
    parse_authkeys,
    parse_authkeys_result,
    permission_problem,
)
from linklayer.message import AuthKey, Method
from tests.harness.requirements import require_root
from tests.interop_vectors import INTEROP

P = "/etc/ha.d/authkeys"


def error_text(text: str) -> str:
    with pytest.raises(AuthkeysError) as info:
        parse_authkeys(text, P)
    assert isinstance(info.value, ValueError)
    assert str(info.value) == f"{info.value.path}:{info.value.line}: {info.value.message}"
    return str(info.value)


def write(tmp_path: Path, text: str | bytes, mode: int = 0o600) -> Path:
    path = tmp_path / "authkeys"
    if isinstance(text, str):
        text = text.encode()
    path.write_bytes(text)
    path.chmod(mode)
    return path


# --------------------------------------------------------------------------
# Good files


def test_the_interop_cluster_file() -> None:
    keyring = parse_authkeys((INTEROP / "config" / "authkeys").read_text(), P)
    assert dict(keyring.keys) == {1: AuthKey(1, Method.SHA1, b"secret")}
    assert keyring.signing_index == 1
    assert keyring.signing_key == AuthKey(1, Method.SHA1, b"secret")


def test_several_keys_for_rotation_comments_and_blank_lines() -> None:
    text = (
        "# rotation in progress\n"
        "\n"
        "   # indented comment\n"
        "1 sha1 oldsecret\n"
        "auth 2\n"
        "\t2   md5\tnewsecret  \n"
        "3 crc\n"
        "15 sha1 last\n"
        "0 sha1 first\n"
    )
    result = parse_authkeys_result(text, P)
    keyring = result.keyring
    assert keyring.signing_index == 2
    assert keyring.signing_key == AuthKey(2, Method.MD5, b"newsecret")
    assert dict(keyring.keys) == {
        0: AuthKey(0, Method.SHA1, b"first"),
        1: AuthKey(1, Method.SHA1, b"oldsecret"),
        2: AuthKey(2, Method.MD5, b"newsecret"),
        3: AuthKey(3, Method.CRC, b""),
        15: AuthKey(15, Method.SHA1, b"last"),
    }
    assert result.warnings == (
        f"{P}:7: key 3 uses crc, which is a checksum and provides no authentication:"
        " anyone on the link can forge messages (use sha1)",
    )


def test_crlf_line_endings_do_not_leak_into_keys() -> None:
    keyring = parse_authkeys("auth 1\r\n1 sha1 secret\r\n", P)
    assert keyring.signing_key == AuthKey(1, Method.SHA1, b"secret")
    assert parse_authkeys("auth 3\r\n3 crc\r\n", P).signing_key == AuthKey(3, Method.CRC)


def test_key_is_the_first_token_and_extra_text_is_a_warning() -> None:
    result = parse_authkeys_result("auth 1 extra\n1 sha1 my secret key\n", P)
    assert result.keyring.signing_key == AuthKey(1, Method.SHA1, b"my")
    assert result.warnings == (
        f"{P}:1: ignoring [extra] after 'auth 1'",
        f"{P}:2: key 1: ignoring [secret key] after the key; a key is one word and cannot"
        " contain spaces",
    )


def test_keys_are_utf8_bytes_and_no_final_newline_is_needed() -> None:
    keyring = parse_authkeys("auth 1\n1 sha1 clé", P)
    assert keyring.signing_key == AuthKey(1, Method.SHA1, "clé".encode())


def test_crc_only_file_loads_with_a_warning() -> None:
    result = parse_authkeys_result("auth 0\n0 crc\n", P)
    assert result.keyring.signing_key == AuthKey(0, Method.CRC)
    assert len(result.warnings) == 1 and "no authentication" in result.warnings[0]


# --------------------------------------------------------------------------
# Errors, each naming file and line


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", f"{P}:0: Missing auth directive in keyfile [{P}]"),
        ("# nothing\n1 sha1 k\n", f"{P}:0: Missing auth directive in keyfile [{P}]"),
        ("auth 1\n2 sha1 k\n", f"{P}:1: Auth Key [1] not found in keyfile [{P}]"),
        (
            "1 sha1 k\nauth 1\n",
            f"{P}:2: Auth Key [1] not found in keyfile [{P}] (key 1 is defined on line 1,"
            " before the auth directive; it must come after it)",
        ),
        (
            "auth 1\n1 sha1 a\nauth 1\n",
            f"{P}:3: Duplicate auth directive (the first is on line 1)",
        ),
        ("auth\n1 sha1 k\n", f"{P}:1: auth directive needs a key index: auth N"),
        ("auth x\n", f"{P}:1: auth directive index [x] is not a number from 0 to 15"),
        ("auth 16\n", f"{P}:1: auth directive index [16] is not a number from 0 to 15"),
        ("auth -1\n", f"{P}:1: auth directive index [-1] is not a number from 0 to 15"),
        (
            "auth 1\n16 sha1 k\n",
            f"{P}:2: Key index [16] is not a number from 0 to 15"
            " (lines are 'auth N' or 'N method [key]')",
        ),
        (
            "auth 1\none sha1 k\n",
            f"{P}:2: Key index [one] is not a number from 0 to 15"
            " (lines are 'auth N' or 'N method [key]')",
        ),
        (
            "Auth 1\n1 sha1 k\n",
            f"{P}:1: Key index [Auth] is not a number from 0 to 15"
            " (lines are 'auth N' or 'N method [key]')",
        ),
        ("auth 1\n1\n", f"{P}:2: Key [1] has no auth method (sha1, md5, crc)"),
        ("auth 1\n1 sha256 k\n", f"{P}:2: Unknown auth method [sha256] (use sha1, md5 or crc)"),
        ("auth 1\n1 SHA1 k\n", f"{P}:2: Unknown auth method [SHA1] (use sha1, md5 or crc)"),
        ("auth 1\n1 sha1\n", f"{P}:2: Auth method [sha1] requires a key"),
        ("auth 1\n1 md5 \r\n", f"{P}:2: Auth method [md5] requires a key"),
        ("auth 1\n1 crc secret\n", f"{P}:2: Auth method [crc] doesn't use a key"),
        (
            "auth 1\n1 sha1 a\n\n1 md5 b\n",
            f"{P}:4: Duplicate key index [1] (already defined on line 2)",
        ),
    ],
)
def test_errors(text: str, expected: str) -> None:
    assert error_text(text) == expected


def test_invalid_utf8_names_the_line() -> None:
    with pytest.raises(AuthkeysError) as info:
        decode_authkeys(b"auth 1\n1 sha1 ab\xffcd\n", P)
    assert str(info.value) == (f"{P}:2: keyfile is not valid UTF-8 (byte 0xff at column 10)")


# --------------------------------------------------------------------------
# Real files


def test_load_a_0600_file(tmp_path: Path) -> None:
    path = write(tmp_path, (INTEROP / "config" / "authkeys").read_bytes())
    keyring = load_authkeys(path)
    assert keyring.signing_key == AuthKey(1, Method.SHA1, b"secret")
    assert load_authkeys(str(path)) == keyring


@pytest.mark.parametrize("mode", [0o400, 0o600, 0o700])
def test_owner_only_modes_are_accepted(tmp_path: Path, mode: int) -> None:
    path = write(tmp_path, "auth 1\n1 sha1 k\n", mode)
    assert load_authkeys(path).signing_index == 1


@pytest.mark.parametrize(
    ("mode", "readers"),
    [(0o640, "group"), (0o604, "others"), (0o644, "group and others"), (0o444, "group and others")],
)
def test_group_or_other_readable_is_refused(tmp_path: Path, mode: int, readers: str) -> None:
    path = write(tmp_path, "auth 1\n1 sha1 k\n", mode)
    with pytest.raises(AuthkeysError) as info:
        load_authkeys(path)
    assert str(info.value) == (
        f"{path}:0: Bad permissions on keyfile [{path}], 600 recommended."
        f" (mode is {mode:04o}: readable by {readers})"
    )


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope"
    with pytest.raises(AuthkeysError) as info:
        load_authkeys(path)
    assert str(info.value) == f"{path}:0: Cannot open keyfile [{path}]: no such file"


def test_directory_is_not_a_keyfile(tmp_path: Path) -> None:
    with pytest.raises(AuthkeysError) as info:
        load_authkeys(tmp_path)
    assert str(info.value) == f"{tmp_path}:0: keyfile [{tmp_path}] is not a regular file"


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "fifo"
    os.mkfifo(path, 0o600)
    with pytest.raises(AuthkeysError, match="is not a regular file"):
        load_authkeys(path)


def test_unreadable_file(tmp_path: Path) -> None:
    """Root reads any file, so as root the check runs in a child switched to
    `nobody` with setpriv (util-linux); unprivileged, it runs directly."""
    if os.geteuid() != 0:
        path = write(tmp_path, "auth 1\n1 sha1 k\n", 0o200)
        with pytest.raises(AuthkeysError) as info:
            load_authkeys(path)
        assert str(info.value) == f"{path}:0: Cannot read keyfile [{path}]: Permission denied"
        return
    assert shutil.which("setpriv"), "setpriv (util-linux) is needed to drop root"
    import subprocess
    import sys

    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o755)
    path = write(home, "auth 1\n1 sha1 k\n", 0o600)
    tmp_path.chmod(0o755)
    code = (
        "from linklayer.authkeys import load_authkeys, AuthkeysError\n"
        "try:\n"
        f"    load_authkeys({str(path)!r})\n"
        "except AuthkeysError as e:\n"
        "    print(e)\n"
    )
    from tests.harness.otherusers import REPO, traversable

    src = REPO / "src"
    with traversable(src, Path(sys.executable).parent):
        proc = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable,
             "-c", code],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(src)},
            timeout=60,
            check=False,
        )
    assert "No module named" not in proc.stderr, proc.stderr
    assert proc.stdout.strip() == f"{path}:0: Cannot read keyfile [{path}]: Permission denied"


def test_non_utf8_file(tmp_path: Path) -> None:
    path = write(tmp_path, b"auth 1\n# caf\xe9\n1 sha1 k\n")
    with pytest.raises(AuthkeysError) as info:
        load_authkeys(path)
    assert str(info.value) == f"{path}:2: keyfile is not valid UTF-8 (byte 0xe9 at column 6)"


def test_load_result_keeps_warnings(tmp_path: Path) -> None:
    path = write(tmp_path, "auth 1\n1 crc\n")
    result = load_authkeys_result(path)
    assert result.keyring.signing_key == AuthKey(1, Method.CRC)
    assert result.warnings[0].startswith(f"{path}:2: key 1 uses crc")


def test_parse_errors_from_a_file_name_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "auth 1\n1 sha1\n")
    with pytest.raises(AuthkeysError) as info:
        load_authkeys(path)
    assert str(info.value) == f"{path}:2: Auth method [sha1] requires a key"


@pytest.mark.parametrize(
    ("mode", "detail"),
    [
        (0o622, "writable by group and others"),
        (0o620, "writable by group"),
        (0o602, "writable by others"),
        (0o610, "executable by group"),
        (0o664, "readable and writable by group, readable by others"),
        (0o666, "readable and writable by group and others"),
    ],
)
def test_any_group_or_other_bit_is_refused(tmp_path: Path, mode: int, detail: str) -> None:
    """heartbeat accepts 0622 (anyone may rewrite the key); hbeat does not."""
    path = write(tmp_path, "auth 1\n1 sha1 k\n", mode)
    with pytest.raises(AuthkeysError) as info:
        load_authkeys(path)
    assert str(info.value) == (
        f"{path}:0: Bad permissions on keyfile [{path}], 600 recommended."
        f" (mode is {mode:04o}: {detail})"
    )


def test_owner_must_be_root_or_the_reader(tmp_path: Path) -> None:
    assert permission_problem("k", 0o100600, owner=0, euid=0) is None
    assert permission_problem("k", 0o100600, owner=1000, euid=1000) is None
    assert permission_problem("k", 0o100600, owner=0, euid=1000) is None
    assert permission_problem("k", 0o100600, owner=1000, euid=0) == (
        "keyfile [k] is owned by uid 1000, not by root: whoever owns it can change"
        " the cluster's keys (chown root:root k)"
    )


def test_keyfile_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    """As root, a 0600 file owned by `nobody` is refused (it could rewrite it)."""
    require_root("chown of a keyfile to another user")
    path = write(tmp_path, "auth 1\n1 sha1 k\n", 0o600)
    os.chown(path, 65534, 65534)
    with pytest.raises(AuthkeysError) as info:
        load_authkeys(path)
    assert str(info.value) == (
        f"{path}:0: keyfile [{path}] is owned by uid 65534, not by root: whoever owns it"
        f" can change the cluster's keys (chown root:root {path})"
    )
