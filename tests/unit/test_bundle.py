"""The Bundle: atomic writes, validated loads, and one clear error per kind of damage."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from neuroedge.bundle import (
    BundleError,
    ChainStep,
    Manifest,
    OutputExistsError,
    TensorSpec,
    load,
    save,
)


def _manifest(**kw) -> Manifest:
    base = dict(format="onnx", main="model.bin", inputs=[TensorSpec("x", (1, 4))],
                outputs=[TensorSpec("y", (1, 2))], chain=[ChainStep("c", "1", {"a": 1}, "sha256:00")])
    base.update(kw)
    return Manifest(**base)


def _write(folder: Path) -> None:
    (folder / "model.bin").write_bytes(b"weights")
    (folder / "sub").mkdir()
    (folder / "sub" / "extra.txt").write_text("hello")


def test_save_and_load_roundtrip(tmp_path: Path) -> None:
    b = save(tmp_path / "b", _manifest(metrics={"acc": 0.9}), _write)
    again = load(b.path)
    assert again.manifest == b.manifest
    assert set(again.manifest.files) == {"model.bin", "sub/extra.txt"}
    assert again.main_file.read_bytes() == b"weights"
    assert again.manifest.chain[0].params == {"a": 1}


def test_existing_output_refused_then_replaced_with_force(tmp_path: Path) -> None:
    save(tmp_path / "b", _manifest(), _write)
    with pytest.raises(OutputExistsError, match="already exists"):
        save(tmp_path / "b", _manifest(), _write)
    b = save(tmp_path / "b", _manifest(metrics={"v": 2}), _write, force=True)
    assert load(b.path).manifest.metrics == {"v": 2}


def test_failed_write_leaves_nothing_and_keeps_the_old_bundle(tmp_path: Path) -> None:
    def broken(folder: Path) -> None:
        (folder / "model.bin").write_bytes(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        save(tmp_path / "new", _manifest(), broken)
    assert not (tmp_path / "new").exists()
    save(tmp_path / "old", _manifest(metrics={"v": 1}), _write)
    with pytest.raises(RuntimeError):
        save(tmp_path / "old", _manifest(), broken, force=True)
    assert load(tmp_path / "old").manifest.metrics == {"v": 1}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_missing_file_names_it(tmp_path: Path) -> None:
    b = save(tmp_path / "b", _manifest(), _write)
    (b.path / "sub" / "extra.txt").unlink()
    with pytest.raises(BundleError, match=r"extra\.txt: missing .*files\.sub/extra\.txt"):
        load(b.path)


def test_hash_mismatch_names_file_and_field(tmp_path: Path) -> None:
    b = save(tmp_path / "b", _manifest(), _write)
    (b.path / "model.bin").write_bytes(b"tampered")
    with pytest.raises(BundleError, match=r"model\.bin: sha256 does not match .*'files\.model\.bin'"):
        load(b.path)


def test_truncated_manifest(tmp_path: Path) -> None:
    b = save(tmp_path / "b", _manifest(), _write)
    text = (b.path / "manifest.json").read_text()
    (b.path / "manifest.json").write_text(text[: len(text) // 2])
    with pytest.raises(BundleError, match=r"manifest\.json: not valid JSON \(truncated or corrupt\)"):
        load(b.path)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda m: m.pop("inputs"), "missing field 'inputs'"),
        (lambda m: m.update(format="tflite"), "field 'format': unknown format 'tflite'"),
        (lambda m: m.update(format_version=99), "newer than this neuroedge reads"),
        (lambda m: m["inputs"][0].update(shape=[1, -3]), r"field 'inputs\[0\]'"),
        (lambda m: m["inputs"][0].update(dtype="complex"), r"field 'inputs\[0\]': dtype"),
        (lambda m: m.update(main="nope.onnx"), "field 'main' names 'nope.onnx'"),
        (lambda m: m["files"].update({"../etc/passwd": "sha256:00"}), "relative path inside the bundle"),
        (lambda m: m.update(chain=[{"converter": "x"}]), r"field 'chain\[0\]'"),
    ],
)
def test_schema_errors_name_the_field(tmp_path: Path, mutate, message: str) -> None:
    b = save(tmp_path / "b", _manifest(), _write)
    data = json.loads((b.path / "manifest.json").read_text())
    mutate(data)
    (b.path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(BundleError, match=message):
        load(b.path)


def test_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="not a bundle folder"):
        load(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleError, match=r"manifest\.json: missing"):
        load(tmp_path / "empty")


def test_with_metrics_rewrites_manifest_only(tmp_path: Path) -> None:
    b = save(tmp_path / "b", _manifest(metrics={"a": 1}), _write)
    b2 = b.with_metrics(b=2)
    assert load(b.path).manifest.metrics == {"a": 1, "b": 2}
    assert b2.manifest.files == b.manifest.files


def test_tensorspec_validates() -> None:
    with pytest.raises(ValueError):
        TensorSpec("", (1,))
    with pytest.raises(ValueError):
        TensorSpec("x", (1, 2.5))
    assert TensorSpec("x", ("batch", 3)).concrete_shape(4) == (4, 3)


def test_copy_of_bundle_verifies(tmp_path: Path) -> None:
    b = save(tmp_path / "b", _manifest(), _write)
    shutil.copytree(b.path, tmp_path / "copy")
    assert load(tmp_path / "copy").manifest == b.manifest
