"""The jetson target against a real sshd on 127.0.0.1 (Debian openssh-server), onnxruntime as the board backend.

The fixture is ``neuroedge.targets.jetson.loopback``: a generated host key and user key in a private temp
folder, its own AuthorizedKeysFile and a high port. The client uses a temp known_hosts holding the host key,
so host-key checking stays on.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from neuroedge.targets.jetson.loopback import free_port, keygen, loopback_sshd, missing


@pytest.fixture(scope="module")
def sshd():
    """Options for a real sshd on 127.0.0.1, plus ``dir``: its private key folder (with a refused key)."""
    why = missing()
    if why:
        pytest.skip(f"{why} (make setup does)")
    try:
        context = loopback_sshd()
        options = context.__enter__()
    except RuntimeError as exc:  # e.g. not allowed to run sshd here
        pytest.skip(str(exc))
    folder = Path(options["identity"]).parent
    keygen(folder / "other_key")  # a key sshd does not know
    yield {**options, "dir": folder}
    context.__exit__(None, None, None)


def _options(sshd: dict, **extra: str) -> dict:
    return {
        **{k: v for k, v in sshd.items() if k != "dir"},
        "remote_python": sys.executable,  # the board's python: here the venv's, which has onnxruntime
        "backend": "onnxruntime",
        **extra,
    }


def test_remote_run_matches_local_and_benchmark_reports_board(sshd, mlp_bundle) -> None:
    import onnxruntime as ort

    from neuroedge.bench import BenchConfig
    from neuroedge.targets.jetson import TARGET

    assert TARGET.available() is True
    runner = _open(TARGET, mlp_bundle, _options(sshd))
    x = np.random.default_rng(0).random((1, 64)).astype(np.float32)
    (remote,) = runner.run([x])
    local = ort.InferenceSession(str(mlp_bundle.main_file)).run(None, {"input": x})[0]
    np.testing.assert_allclose(remote, local, rtol=1e-5, atol=1e-6)

    report = runner.benchmark([x], BenchConfig(iterations=200, warmup=0, min_duration_s=0.2))
    assert report.iterations >= 200
    assert 0 < report.p50_ms < 50
    assert report.target == "jetson:onnxruntime"
    assert report.settings["build"] is None  # onnxruntime: nothing built; with TensorRT the build log is here
    assert report.host["python"] and "nv_tegra_release" in report.host  # None off a Jetson, but recorded


def test_refused_key_is_one_line_with_fix(sshd, mlp_bundle) -> None:
    from neuroedge.targets.jetson import TARGET, JetsonError

    runner = _open(TARGET, mlp_bundle, _options(sshd, identity=str(sshd["dir"] / "other_key")))
    with pytest.raises(JetsonError, match="key was refused.*ssh-copy-id") as err:
        runner.run([np.zeros((1, 64), np.float32)])
    assert "\n" not in str(err.value)


def test_unknown_host_key_is_refused(sshd, mlp_bundle, tmp_path: Path) -> None:
    from neuroedge.targets.jetson import TARGET, JetsonError

    (tmp_path / "empty_known_hosts").write_text("")
    runner = _open(TARGET, mlp_bundle, _options(sshd, known_hosts=str(tmp_path / "empty_known_hosts")))
    with pytest.raises(JetsonError, match="host key not known.*ssh-keyscan"):
        runner.run([np.zeros((1, 64), np.float32)])


def test_remote_without_python(sshd, mlp_bundle) -> None:
    from neuroedge.targets.jetson import TARGET, JetsonError

    runner = _open(TARGET, mlp_bundle, _options(sshd, remote_python="/nonexistent/python3"))
    with pytest.raises(JetsonError, match="no '/nonexistent/python3' on the board"):
        runner.run([np.zeros((1, 64), np.float32)])


def test_unreachable_host(mlp_bundle) -> None:
    if shutil.which("ssh") is None:
        pytest.skip("no ssh client: apt-get install openssh-client")
    from neuroedge.targets.jetson import TARGET, JetsonError

    runner = _open(TARGET, mlp_bundle, {"url": f"jetson://nobody@127.0.0.1:{free_port()}", "connect_timeout": 3})
    with pytest.raises(JetsonError, match="unreachable"):
        runner.run([np.zeros((1, 64), np.float32)])


def test_one_shared_connection_one_upload_and_batched_runs(sshd, mlp_bundle) -> None:
    import onnxruntime as ort

    from neuroedge.bench import BenchConfig
    from neuroedge.targets.jetson import TARGET

    xs = np.random.default_rng(1).random((6, 1, 64)).astype(np.float32)
    local = ort.InferenceSession(str(mlp_bundle.main_file))
    runner = _open(TARGET, mlp_bundle, _options(sshd))
    try:
        (first,) = runner.run([xs[0]])
        session = runner._session  # run() goes through one long-lived remote runner process
        for x in xs[1:]:
            (y,) = runner.run([x])
            np.testing.assert_allclose(y, local.run(None, {"input": x})[0], rtol=1e-5, atol=1e-6)
        assert runner._session is session and session.proc.poll() is None
        model = runner.settings()["remote_model"]
        assert model.startswith("model-") and runner.ssh.master_running()  # the master outlives the call
        control = Path(runner.ssh.control_dir)
        assert control.stat().st_mode & 0o777 == 0o700 and len(str(control)) < 60
        np.testing.assert_allclose(first, local.run(None, {"input": xs[0]})[0], rtol=1e-5, atol=1e-6)
        many = runner.run_many([[x] for x in xs])  # one remote invocation for all samples
        assert len(many) == 6 and runner.last["samples"] == 6
        for x, (y,) in zip(xs, many, strict=True):
            np.testing.assert_allclose(y, local.run(None, {"input": x})[0], rtol=1e-5, atol=1e-6)
        report = runner.benchmark([xs[0]], BenchConfig(iterations=50, warmup=0, min_duration_s=0.0))
        ort_settings = report.settings["ort_settings"]
        assert ort_settings["io_binding"] is True and ort_settings["providers"] == ["CPUExecutionProvider"]
    finally:
        runner.close()
    assert not control.exists()  # master stopped, socket folder removed

    assert session.proc.poll() is not None  # the remote session ended with the runner
    # A new runner (one remote invocation per call this time): the board already holds every file.
    again = _open(TARGET, mlp_bundle, _options(sshd, persistent="false"))
    try:
        (y,) = again.run([xs[0]])
        np.testing.assert_allclose(y, first, rtol=0, atol=0)
        assert again.settings()["uploaded"] == [] and again.settings()["remote_model"] == model
    finally:
        again.close()


def test_stale_job_folders_are_removed(sshd, mlp_bundle) -> None:
    from neuroedge.targets.jetson import JOBS, TARGET

    stale = Path.home() / JOBS / "stale-test-job"
    stale.mkdir(parents=True, exist_ok=True)
    (stale / "model.onnx").write_bytes(b"old")
    old = time.time() - 3 * 86400
    os.utime(stale, (old, old))
    runner = _open(TARGET, mlp_bundle, _options(sshd))
    try:
        runner.run([np.zeros((1, 64), np.float32)])
    finally:
        runner.close()
    assert not stale.exists()
    assert (Path.home() / runner.job / runner.model_name).is_file()  # the current job stays


def test_tensorrt_backend_without_tensorrt_on_the_board(sshd, mlp_bundle) -> None:
    import importlib.util

    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("this 'board' (the local venv) has tensorrt: the refusal cannot be shown here")
    from neuroedge.targets.jetson import TARGET, JetsonError

    runner = _open(TARGET, mlp_bundle, _options(sshd, backend="tensorrt"))
    try:
        with pytest.raises(JetsonError, match="no tensorrt module.*python3-libnvinfer or pass backend=onnxruntime"):
            runner.run([np.zeros((1, 64), np.float32)])
    finally:
        runner.close()


def test_runner_on_python_38(sshd, mlp_bundle) -> None:
    """JetPack 5 ships Python 3.8: run the whole remote path with a 3.8 'board' interpreter when one is given."""
    python = os.environ.get("NEUROEDGE_TEST_PY38")
    if not python:
        pytest.skip("set NEUROEDGE_TEST_PY38 to a Python 3.8 with numpy and onnxruntime to run this")
    import onnxruntime as ort

    from neuroedge.bench import BenchConfig
    from neuroedge.targets.jetson import TARGET

    x = np.random.default_rng(2).random((1, 64)).astype(np.float32)
    runner = _open(TARGET, mlp_bundle, _options(sshd, remote_python=python))
    try:
        (y,) = runner.run([x])
        (many,) = runner.run_many([[x]])
        report = runner.benchmark([x], BenchConfig(iterations=50, warmup=0, min_duration_s=0.0))
    finally:
        runner.close()
    want = ort.InferenceSession(str(mlp_bundle.main_file)).run(None, {"input": x})[0]
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(many[0], want, rtol=1e-5, atol=1e-6)
    assert report.settings["runner_python"].startswith("3.8.") and report.iterations >= 50


def _open(target, bundle, raw):
    """The target's open() with its options filled as the CLI fills them (unknown keys refused)."""
    from neuroedge.registry import parse_params

    return target.open(bundle, parse_params(target.options, raw, where="target 'jetson'", kind="option"))
