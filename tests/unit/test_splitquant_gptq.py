"""GPTQ rounding (``*-gptq``): the awmse grids kept, the rounding chosen to lower each layer's output error."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from neuroedge.converters.splitquant import SCHEMES, quantize_weights, split_layers
from neuroedge.converters.splitquant.gptq import gptq_codes, output_error
from neuroedge.converters.splitquant.merge import levels_per_channel, merge_split
from neuroedge.converters.splitquant.quantize import quant_layers


def _correlated_inputs(n: int, k: int, seed: int) -> torch.Tensor:
    """Low-rank inputs plus a little noise, as a layer's activations tend to be (GPTQ's case)."""
    g = torch.Generator().manual_seed(seed)
    basis = torch.randn(k // 4, k, generator=g, dtype=torch.float64)
    return (torch.randn(n, k // 4, generator=g, dtype=torch.float64) @ basis
            + 0.1 * torch.randn(n, k, generator=g, dtype=torch.float64))


def _minmax_grid(w: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    lo, hi = w.min(1, keepdim=True).values.clamp(max=0), w.max(1, keepdim=True).values.clamp(min=0)
    s = (hi - lo) / (2**bits - 1)
    return s.expand_as(w), torch.round(-lo / s).expand_as(w)


def test_gptq_lowers_output_error_against_round_to_nearest_on_the_same_grid():
    w = torch.randn(16, 32, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x = _correlated_inputs(512, 32, 1)
    h = x.T @ x
    s, z = _minmax_grid(w, 2)
    codes = gptq_codes(w, h, s, z, 0, 3)
    rtn = torch.clamp(torch.round(w / s) + z, 0, 3)
    assert torch.equal(codes, torch.round(codes)) and codes.min() >= 0 and codes.max() <= 3  # on the grid
    err_gptq, err_rtn = output_error(w, (codes - z) * s, h), output_error(w, (rtn - z) * s, h)
    assert err_gptq < 0.5 * err_rtn, (err_gptq, err_rtn)
    assert abs(err_gptq - float((((w - (codes - z) * s) @ x.T) ** 2).sum())) < 1e-6 * err_gptq
    assert torch.equal(gptq_codes(w, h, s, z, 0, 3), codes)  # deterministic


def test_forced_codes_are_kept_and_dead_inputs_round_to_nearest():
    w = torch.randn(4, 8, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    x = _correlated_inputs(64, 8, 3)
    x[:, 5] = 0  # an input that never fires: its column has no error to spread, and takes none
    s, z = _minmax_grid(w, 2)
    forced = torch.full_like(w, float("nan"))
    forced[0, 3], forced[2, 0] = 0.0, 3.0
    codes = gptq_codes(w, x.T @ x, s, z, 0, 3, forced)
    assert codes[0, 3] == 0 and codes[2, 0] == 3
    assert torch.equal(codes[:, 5], torch.clamp(torch.round(w[:, 5] / s[:, 5]) + z[:, 5], 0, 3))


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 36, 5)).eval()


def _quantise(model: nn.Module, scheme: str, x: torch.Tensor, bc: bool = False) -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quantize_weights(model, 2, scheme, calibration=x, bias_correction=bc)


@pytest.mark.parametrize("scheme", ["paper-gptq", "sym-per-channel-gptq"])
def test_split_layer_output_error_drops_on_the_awmse_grid(scheme):
    """One split layer with correlated inputs: same grid as awmse (round to nearest), lower output error."""
    assert scheme in SCHEMES
    torch.manual_seed(0)
    layer = nn.Linear(48, 24).eval()
    x = _correlated_inputs(1024, 48, 4).float()
    split = split_layers(layer, seed=0)
    gq, rq = _quantise(split, scheme, x), _quantise(split, scheme.replace("gptq", "awmse"), x)
    with torch.no_grad():
        y = layer(x)
        err = {k: float((m(x) - y).pow(2).mean()) for k, m in (("gptq", gq), ("rtn", rq))}
    assert err["gptq"] < 0.7 * err["rtn"], err
    for name, g in quant_layers(gq).items():  # each part keeps its awmse grid: same scales, same zero points
        a, b = g.quant_weight(), quant_layers(rq)[name].quant_weight()
        assert torch.equal(a.scale, b.scale) and torch.equal(a.zero_point, b.zero_point), name
        assert torch.allclose(a.value, (a.int().float() - a.zero_point) * a.scale), name
        float_w = split.get_submodule(name).weight
        assert torch.all(a.value[float_w == 0] == 0), name  # the other parts' weights stay exact zeros


def test_deterministic_and_leaves_its_argument_alone():
    model, x = _model(), torch.rand(128, 2, 6, 6, generator=torch.Generator().manual_seed(5))
    split = split_layers(model, seed=0)
    before = {k: v.clone() for k, v in split.state_dict().items()}
    a, b = _quantise(split, "paper-gptq", x, bc=True), _quantise(split, "paper-gptq", x, bc=True)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    assert all(torch.equal(before[k], v) for k, v in split.state_dict().items())


def test_merged_equals_unmerged_with_at_most_twelve_levels():
    model, x = _model(), torch.rand(128, 2, 6, 6, generator=torch.Generator().manual_seed(6))
    q = _quantise(split_layers(model, seed=0), "paper-gptq", x, bc=True)
    merged, weights = merge_split(q)
    with torch.no_grad():
        y, ym = q(x), merged(x)
    assert float((y - ym).abs().max() / y.abs().max()) <= 1e-5
    assert all(levels_per_channel(w.numpy()).max() <= 12 for w in weights.values())


def test_bias_correction_removes_the_mean_output_shift_on_calibration_data():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 8)).eval()
    x = torch.rand(512, 16, generator=torch.Generator().manual_seed(7)) + 0.5  # inputs with a large mean
    with torch.no_grad():
        y = model(x)
        shift = {bc: (_quantise(split_layers(model), "paper-gptq", x, bc)(x) - y).mean(0).abs().max().item()
                 for bc in (False, True)}
    assert shift[True] < 1e-4 * float(y.abs().max()) < shift[False], shift


def test_needs_calibration_and_layerwise_mode():
    with pytest.raises(ValueError, match="needs calibration data"):
        quantize_weights(_model(), 2, "paper-gptq")
    with pytest.raises(ValueError, match="mode='layerwise'"):
        quantize_weights(_model(), 2, "paper-gptq", calibration=torch.rand(4, 2, 6, 6), mode="graph")


def test_convert_command_without_calibration_names_the_option(tmp_path, monkeypatch, capsys):
    from pathlib import Path

    cli = pytest.importorskip("neuroedge.cli", reason="the neuroedge CLI is not installed")
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    rc = cli.main(["convert", "splitquant", "examples.digits.models:digits_mlp", "-o", str(tmp_path / "b"),
                   "--param", "bits=2", "--param", "input_shape=1,64", "--param", "scheme=paper-gptq"])
    err = capsys.readouterr().err
    assert rc != 0 and "needs calibration data" in err and "--param calibration=" in err
    assert "Traceback" not in err


def test_converter_bundle_runs_merged_and_the_torch_target_rebuilds_it(tmp_path):
    """The scheme through the converter: merged = three parts, ONNX = brevitas, torch rebuild = ONNX."""
    import numpy as np

    from examples.digits.models import digits_mlp
    from neuroedge.converters.splitquant import CONVERTER
    from neuroedge.converters.splitquant.params import SplitQuantParams
    from neuroedge.registry import open_runner

    torch.manual_seed(0)
    torch.save(digits_mlp().state_dict(), tmp_path / "w.pt")
    x = np.random.default_rng(0).random((64, 64), dtype=np.float32)
    np.save(tmp_path / "cal.npy", x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bundle = CONVERTER("examples.digits.models:digits_mlp",
                           SplitQuantParams(bits=2, scheme="paper-gptq", weights=str(tmp_path / "w.pt"),
                                            calibration=str(tmp_path / "cal.npy"), check_samples=4),
                           tmp_path / "b")
    m = bundle.manifest.metrics
    assert bundle.manifest.extra["scheme"] == "asym-per-channel-gptq" and bundle.manifest.extra["merged"]
    assert m["merged_max_rel_error"] <= 1e-5 and m["merged_levels_max"] <= 12
    assert m["qcdq_ort_max_abs_error"] < 1e-4 and m["qonnx_max_abs_error"] < 1e-4
    want = open_runner(bundle, "onnxruntime", {"disable_quant_qdq": "true"}).run([x[:1]])[0]
    got = open_runner(bundle, "torch").run([x[:1]])[0]
    np.testing.assert_allclose(got, want, atol=1e-4 * max(1.0, float(np.abs(want).max())))


def test_grouped_conv_keeps_round_to_nearest_and_conv1d_is_rounded():
    """GPTQ takes dense Linear/Conv1d/Conv2d layers; a grouped conv keeps awmse's rounding, unchanged."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1, groups=2), nn.ReLU(), nn.Flatten(),
                          nn.Unflatten(1, (4, 16)), nn.Conv1d(4, 6, 3, padding=1), nn.Flatten(),
                          nn.Linear(96, 3)).eval()
    x = torch.rand(64, 4, 2, 8, generator=torch.Generator().manual_seed(8))
    g, r = _quantise(model, "paper-gptq", x), _quantise(model, "paper-awmse", x)
    wg = {n: m.quant_weight().value for n, m in quant_layers(g).items()}
    wr = {n: m.quant_weight().value for n, m in quant_layers(r).items()}
    assert torch.equal(wg["0"], wr["0"])
    assert not torch.equal(wg["4"], wr["4"]) and not torch.equal(wg["6"], wr["6"])
