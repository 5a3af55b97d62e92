"""Our model.nir in real NIR readers: nir 1.0.8 here, and sinabs 3.1.3 (nir 1.0.4) in .venv-sinabs."""

from __future__ import annotations

import warnings
from pathlib import Path

import nir
import numpy as np
import pytest

from neuroedge.converters.snn import convert_model
from neuroedge.converters.snn.nir_export import NIRExportWarning, write_nir
from neuroedge.converters.snn.nir_sinabs import sinabs_agreement, sinabs_status

REPO = Path(__file__).resolve().parents[2]
GESTURE = REPO / ".cache" / "gesture_snn"


def _digits():
    from benchmarks.snn import load_digits

    _, model, x_cal, x_te, _ = load_digits()
    return convert_model(model, x_cal[:1000]), x_te


def test_nir_subset_reads_in_nir_108_and_warns(tmp_path: Path) -> None:
    conv, _ = _digits()
    path = tmp_path / "model.nir"
    with pytest.warns(NIRExportWarning, match="starting voltage"):
        write_nir(conv.quant_layers, conv.input_shape, path)
    g = nir.read(str(path))
    ifs = [n for n in g.nodes.values() if isinstance(n, nir.IF)]
    assert len(ifs) == len(conv.quant_layers) and all((n.v_reset == 0).all() for n in ifs)
    with pytest.warns(NIRExportWarning, match="no sigma-delta"):
        assert write_nir(conv.quant_layers, conv.input_shape, tmp_path / "sd.nir", sd_network=object()) is False


def _gesture() -> tuple[object, np.ndarray, np.ndarray]:
    """The trained gesture CNN and its frames where `make demo` made them; on a fresh clone the same
    architecture, seeded, on event-count frames drawn here (agreement checks the reader, not accuracy)."""
    if (GESTURE / "gesture_cnn.pt").is_file():
        from benchmarks.snn import load_gesture

        _, model, x_cal, x_te, _ = load_gesture()
        return model, x_cal, np.asarray(x_te[:100])
    import torch

    from examples.gesture_snn.model import INPUT_SHAPE, gesture_cnn

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    frames = rng.poisson(0.4, (300, *INPUT_SHAPE[1:])).astype(np.float32)
    return gesture_cnn().eval(), frames[:200], frames[200:]


@pytest.mark.slow
def test_nir_runs_in_sinabs(tmp_path: Path) -> None:
    status = sinabs_status()
    if status is not True:
        pytest.skip(str(status))
    conv, x_te = _digits()
    path = tmp_path / "digits.nir"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NIRExportWarning)
        write_nir(conv.quant_layers, conv.input_shape, path)
    assert sinabs_agreement(conv, path, x_te[:100], 16)["matched_settings"] == 100.0
    model, x_cal, x_te = _gesture()
    conv = convert_model(model, x_cal[:1000])
    path = tmp_path / "gesture.nir"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NIRExportWarning)
        write_nir(conv.quant_layers, conv.input_shape, path)
    assert sinabs_agreement(conv, path, np.asarray(x_te[:100]), 16)["matched_settings"] >= 99.0
