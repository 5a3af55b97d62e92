"""The jetson target's address parsing and SSH error messages (the real-sshd tests are in integration/)."""

from __future__ import annotations

import pytest

from neuroedge.targets.jetson import SshAddress, classify_ssh_error, parse_url

ADDR = SshAddress("nvidia", "orin.local", 2222)


def test_parse_url() -> None:
    assert parse_url("jetson://nvidia@orin.local:2222") == ADDR
    assert parse_url("jetson://orin") == SshAddress(None, "orin", None)
    assert parse_url("ubuntu@[fe80::1]:22") == SshAddress("ubuntu", "fe80::1", 22)
    assert str(ADDR) == "jetson://nvidia@orin.local:2222"
    for bad in ("jetson://", "jetson://a@b:port", "jetson://a b"):
        with pytest.raises(ValueError, match="jetson://user@host"):
            parse_url(bad)


@pytest.mark.parametrize(
    ("stderr", "rc", "expected"),
    [
        ("ssh: connect to host orin.local port 2222: Connection refused", 255, "unreachable"),
        ("ssh: Could not resolve hostname orin.local: Name or service not known", 255, "unreachable"),
        ("nvidia@orin.local: Permission denied (publickey).", 255, "key was refused.*ssh-copy-id nvidia@orin.local"),
        ("Host key verification failed.", 255, "host key not known.*ssh-keyscan -p 2222 orin.local"),
        ("bash: line 1: python3: command not found", 127, "no 'python3' on the board.*remote_python"),
        ("Traceback ...\nRuntimeError: boom", 1, "remote command failed: RuntimeError: boom"),
    ],
)
def test_ssh_errors_are_one_line_with_the_fix(stderr: str, rc: int, expected: str) -> None:
    msg = classify_ssh_error(stderr, rc, ADDR, "python3")
    assert "\n" not in msg
    assert msg.startswith("jetson://nvidia@orin.local:2222")
    import re

    assert re.search(expected, msg), msg


def test_target_needs_a_url(mlp_bundle) -> None:
    from neuroedge.targets.jetson import TARGET

    with pytest.raises(ValueError, match="url=jetson://user@host"):
        TARGET.open(mlp_bundle, {})
    with pytest.raises(ValueError, match="unknown option"):
        TARGET.open(mlp_bundle, {"url": "jetson://a@b", "colour": "red"})
