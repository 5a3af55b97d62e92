"""The sigma-delta bias correction: it removes the fixed-point network's mean error against the DNN
on inputs it was not fitted on, and leaves an ordinary network (same layers, only biases changed)."""

from __future__ import annotations

import numpy as np

from neuroedge.converters.snn import convert_model
from neuroedge.converters.snn.normalize import ann_forward
from neuroedge.converters.snn.report import xyc_to_chw_flat
from neuroedge.converters.snn.sd_bias import bias_corrected
from neuroedge.targets.loihi import fast_sd
from tests.conftest import small_snn_model


def _mean_errors(net, conv, x: np.ndarray) -> list[float]:
    """Per layer: the mean (signed) error of the settled layer values against the DNN, in DNN units."""
    ref = ann_forward(conv.float_layers, x, conv.input_scale)
    q = fast_sd.input_levels(x, net)
    res = fast_sd.simulate_sd(net, np.repeat(q[:, None, :], net.depth + 1, axis=1), record=True)
    out = []
    for li, fl in enumerate(conv.float_layers):
        got = xyc_to_chw_flat(res.rasters[li].astype(np.int64).sum(axis=1) * net.meta["message_units"][li],
                              fl.out_shape)
        out.append(float((got - ref[li]).mean()))
    return out


def test_bias_correction_removes_the_mean_error_on_unseen_inputs() -> None:
    rng = np.random.default_rng(1)
    x_cal, x_new = rng.random((200, 2, 6, 6)).astype(np.float32), rng.random((200, 2, 6, 6)).astype(np.float32)
    conv = convert_model(small_snn_model(), x_cal, neuron="sigma-delta", bias_correction=False)
    fixed, report = bias_corrected(conv.network, conv.float_layers, x_cal, conv.input_scale)
    assert [r["layer"] for r in report] == [fl.name for fl in conv.float_layers]
    assert fixed.meta["bias_corrected"] and not conv.network.meta.get("bias_corrected")
    for a, b in zip(conv.network.layers, fixed.layers, strict=True):  # only the biases move
        assert np.array_equal(a.weights, b.weights)
        assert a.neuron.vth == b.neuron.vth and a.neuron.state_exp == b.neuron.state_exp
    before, after = _mean_errors(conv.network, conv, x_new), _mean_errors(fixed, conv, x_new)
    # the floor of every message biases each layer low; corrected, the output's mean error shrinks
    assert abs(after[-1]) < 0.5 * abs(before[-1]), (before, after)
    assert sum(map(abs, after)) < sum(map(abs, before)), (before, after)
