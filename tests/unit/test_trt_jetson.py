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
        _open(TARGET, mlp_bundle, {})
    with pytest.raises(ValueError, match="unknown option"):
        _open(TARGET, mlp_bundle, {"url": "jetson://a@b", "colour": "red"})


def _qdq_matmul(path, weight_bits: int | None, act_bits: int | None):
    """input[batch,64] -> MatMul(W[64,10]) -> output, brevitas-style Q/DQ (the digits MLP's tensor names)."""
    pytest.importorskip("onnx")
    from tests.qdq_fixtures import qdq_matmul

    return qdq_matmul(path, weight_bits, act_bits, n_in=64, n_out=10, names=("input", "output"))


def _bundle(tmp_path, onnx_path, fmt: str):
    from neuroedge.bundle import Manifest, TensorSpec, save

    return save(tmp_path / f"b-{onnx_path.stem}", Manifest(fmt, "model.onnx", (TensorSpec("input", ("batch", 64)),),
                                                           (TensorSpec("output", ("batch", 10)),)),
                lambda folder: (folder / "model.onnx").write_bytes(onnx_path.read_bytes()))


@pytest.fixture
def no_ssh(monkeypatch):
    """Fail the test if the jetson target starts any process (ssh) at all."""
    import subprocess

    def refuse(*args, **kwargs):
        raise AssertionError(f"the jetson target started a process: {args[:1]}")

    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)


@pytest.mark.parametrize(
    ("weight_bits", "act_bits", "precision", "message"),
    [
        (None, None, "int8", "precision int8: int8 needs explicit Q/DQ on activations"),
        (4, None, "fp16", "precision fp16: the ONNX has 4-bit weight-only Q/DQ"),
        (4, None, "int8", "4-bit weight-only Q/DQ"),
    ],
)
def test_precision_is_refused_on_the_host_before_any_ssh(tmp_path, no_ssh, weight_bits, act_bits, precision,
                                                         message) -> None:
    from neuroedge.targets.jetson import TARGET, JetsonError

    bundle = _bundle(tmp_path, _qdq_matmul(tmp_path / "m.onnx", weight_bits, act_bits),
                     "onnx" if weight_bits is None else "qcdq-onnx")
    with pytest.raises(JetsonError, match=message) as err:
        _open(TARGET, bundle, {"url": "jetson://nvidia@orin.local", "precision": precision})
    assert "\n" not in str(err.value) and str(err.value).startswith("jetson://nvidia@orin.local")


def test_host_prepares_qdq_before_any_ssh(tmp_path, no_ssh) -> None:
    from neuroedge.targets.jetson import TARGET

    bundle = _bundle(tmp_path, _qdq_matmul(tmp_path / "w8a8.onnx", 8, 8), "qcdq-onnx")
    runner = _open(TARGET, bundle, {"url": "jetson://nvidia@orin.local", "precision": "int8"})
    try:
        settings = runner.settings()
        assert settings["qdq"]["activation_qdq"] == 1 and settings["qdq_prep"]["pass"] == "tensorrt-qdq-prep"
        assert settings["ssh_connection_sharing"] is True and settings["remote_model"] is None  # nothing sent yet
    finally:
        runner.close()
    # onnxruntime on the board ignores precision: nothing to refuse, nothing to prepare.
    float_bundle = _bundle(tmp_path, _qdq_matmul(tmp_path / "f.onnx", None, None), "onnx")
    runner = _open(TARGET, float_bundle, {"url": "jetson://a@b", "precision": "int8", "backend": "onnxruntime"})
    assert runner.settings()["qdq_prep"] is None
    runner.close()


def test_board_onnxruntime_providers() -> None:
    from neuroedge.trt.session import pick_providers

    cloud = ["AzureExecutionProvider", "CPUExecutionProvider"]
    assert pick_providers(cloud) == ["CPUExecutionProvider"]  # never a cloud endpoint
    jetson = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert pick_providers(jetson) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert pick_providers(jetson, "tensorrt,cuda") == jetson
    assert pick_providers(jetson, "cpu") == ["CPUExecutionProvider"]
    with pytest.raises(ValueError, match="unknown onnxruntime provider"):
        pick_providers(jetson, "azure")


def test_split_samples() -> None:
    import numpy as np

    from neuroedge.trt.runner import split_samples

    a, b = np.zeros(2), np.ones(2)
    assert [sorted(s) for s in split_samples({"1:x": b, "0:x": a, "0:y": b, "1:y": a})] == [["x", "y"], ["x", "y"]]
    assert split_samples({"1:x": b, "0:x": a})[0]["x"] is a


def _open(target, bundle, raw):
    """The target's open() with its options filled as the CLI fills them (unknown keys refused)."""
    from neuroedge.registry import parse_params

    return target.open(bundle, parse_params(target.options, raw, where="target 'jetson'", kind="option"))
