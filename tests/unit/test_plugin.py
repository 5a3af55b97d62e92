"""A plugin package (tests/plugin_demo) adds a format, a converter that writes it and a target that runs
it: installed with pip into a folder of its own, it works through the CLI with no change to neuroedge."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "tests" / "plugin_demo"


def two_linears() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), nn.Linear(6, 3))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "--target", str(site), str(PLUGIN)],
                   check=True, capture_output=True, cwd=tmp_path_factory.getbasetemp())
    return site


def _cli(site: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}
    return subprocess.run([sys.executable, "-m", "neuroedge.cli", *args], capture_output=True, text=True,
                          env=env, cwd=REPO)


def test_a_plugin_adds_a_format_a_converter_and_a_target(site: Path, tmp_path: Path) -> None:
    listed = _cli(site, "converters")
    assert "to-affine" in listed.stdout and "npz-affine" in listed.stdout, listed.stderr
    assert "numpy-affine" in _cli(site, "targets").stdout
    assert "dtype" in _cli(site, "targets", "numpy-affine").stdout
    out = tmp_path / "affine"
    done = _cli(site, "convert", "to-affine", "tests.unit.test_plugin:two_linears", "-o", str(out),
                "--param", "input_shape=1,4")
    assert done.returncode == 0, done.stderr
    x = np.arange(8, dtype=np.float32).reshape(2, 4) / 8
    np.save(tmp_path / "x.npy", x)
    ran = _cli(site, "run", str(out), "-t", "numpy-affine", "--data", str(tmp_path / "x.npy"),
               "--save", str(tmp_path / "y.npz"), "--option", "dtype=float64")
    assert ran.returncode == 0, ran.stderr
    with torch.inference_mode():
        want = two_linears()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(np.load(tmp_path / "y.npz")["y"], want, atol=1e-5)
    inspected = _cli(site, "inspect", str(out))
    assert "format   npz-affine" in inspected.stdout and "step 0   to-affine" in inspected.stdout
    bad = _cli(site, "run", str(out), "-t", "numpy-affine", "--option", "dtype=int8")
    assert bad.returncode == 1 and "dtype must be float32 or float64" in bad.stderr and "Traceback" not in bad.stderr
    # The plugin's format is checked like a built-in one: its declared extra fields are required.
    manifest = (out / "manifest.json").read_text().replace('"n_in"', '"n_inputs"')
    (out / "manifest.json").write_text(manifest)
    broken = _cli(site, "inspect", str(out))
    assert broken.returncode == 1 and "field 'extra'" in broken.stderr and "n_in" in broken.stderr


def test_a_chain_whose_formats_do_not_meet_is_refused_before_any_work(site: Path, tmp_path: Path) -> None:
    config = tmp_path / "p.toml"
    config.write_text('[model]\nref = "tests.unit.test_plugin:two_linears"\ninput_shape = [1, 4]\n'
                      '[[steps]]\nconverter = "to-affine"\n[[steps]]\nconverter = "tensorrt"\n')
    done = _cli(site, "compile", str(config), "-o", str(tmp_path / "o"))
    assert done.returncode == 1 and not (tmp_path / "o").exists()
    assert "steps[1] 'tensorrt' reads onnx, qcdq-onnx, but the step before gives npz-affine" in done.stderr
    config.write_text('[model]\nref = "tests.unit.test_plugin:two_linears"\ninput_shape = [1, 4]\n'
                      '[[steps]]\nconverter = "to-affine"\n[target]\nname = "onnxruntime"\n')
    done = _cli(site, "compile", str(config), "-o", str(tmp_path / "o"))
    assert "'onnxruntime' runs onnx, qcdq-onnx bundles, but the last step 'to-affine' writes npz-affine" in done.stderr
