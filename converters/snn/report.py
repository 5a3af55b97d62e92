"""Where accuracy is lost: each DNN layer's activation next to the SNN's firing rate.

For layer l the DNN side is the normalised activation ``a_l / lambda_l`` (what a rate of 1 spike
per step stands for) and the SNN side is the rate ``r_l = spikes_l / (S - l - 1)``: a run of S steps
(T + depth) gives layer l (0-based) input on its last S - l - 1 steps only (one step of delay per
synaptic layer), so dividing by T instead would overstate layer 0's rate by (T + depth - 1) / T
(+2.7% at T=256 on the 8-layer gesture CNN). For the output layer the SNN side is the readout
``(count + v / theta) / T``. Per layer: Pearson correlation over every neuron of every sample with
the DNN, and with the DNN clipped to [0, 1] (``correlation_clipped``: what a rate can represent, as
an IF neuron fires at most once per step; the gap between the two is the cost of the percentile's
clipping, the rest is spiking), mean absolute error, and the mean rate, so a user sees the layer
where the two part.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neuroedge.converters.snn.layers import FloatLayer
from neuroedge.converters.snn.normalize import ann_forward


def xyc_to_chw_flat(a: np.ndarray, out_shape: tuple[int, ...]) -> np.ndarray:
    """(B, N) in Lava's XYC order -> (B, N) in torch's CHW order (vectors unchanged)."""
    if len(out_shape) != 3:
        return a
    c, h, w = out_shape
    return a.reshape(a.shape[0], w, h, c).transpose(0, 3, 2, 1).reshape(a.shape[0], -1)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else float("nan")


def layer_report(layers: list[FloatLayer], input_scale: float, x: np.ndarray, counts: list[np.ndarray],
                 readout: np.ndarray, timesteps: int, layout: str = "xyc",
                 steps_run: int | None = None) -> list[dict[str, Any]]:
    """Rows per layer: name, source, correlation(_clipped), mean_abs_error, dnn_mean, snn_mean, dnn_above_1.

    ``counts``: spikes per neuron per layer from a simulator ((B, N_l); in XYC order when
    ``layout`` is "xyc", as snn-fast and Lava give them; "chw" for the float SNN), over a run of
    ``steps_run`` steps (default ``timesteps + len(layers)``, how the simulators classify).
    """
    dnn = ann_forward(layers, x, input_scale)
    run = int(steps_run) if steps_run is not None else int(timesteps) + len(layers)
    rows = []
    for li, layer in enumerate(layers):
        last = li == len(layers) - 1
        snn = readout if last else counts[li]
        span = float(timesteps) if last else float(max(run - li - 1, 1))  # steps with input reaching layer li
        snn = (xyc_to_chw_flat(snn, layer.out_shape) if layout == "xyc" else snn) / span
        ref = dnn[li]
        a, b = ref.reshape(-1), snn.reshape(-1)
        rows.append({
            "layer": li, "name": layer.name, "source": layer.source, "neurons": int(ref.shape[1]),
            "correlation": round(_corr(a, b), 4),
            "correlation_clipped": round(_corr(a if last else np.clip(a, 0.0, 1.0), b), 4),
            "mean_abs_error": round(float(np.abs(a - b).mean()), 5),
            "dnn_mean": round(float(a.mean()), 5), "snn_mean": round(float(b.mean()), 5),
            "dnn_above_1": round(float((a > 1).mean()), 5),  # activations the rate (<= 1) cannot reach
        })
    return rows


def format_report(rows: list[dict[str, Any]]) -> str:
    head = (f"{'#':>2} {'layer':<9} {'from':<14} {'corr':>6} {'corr<=1':>7} {'MAE':>7} {'DNN':>7} {'SNN':>7} "
            f"{'>1':>6}")
    lines = [head]
    for r in rows:
        lines.append(f"{r['layer']:>2} {r['name'][:9]:<9} {r['source'][:14]:<14} {r['correlation']:>6.4f} "
                     f"{r.get('correlation_clipped', float('nan')):>7.4f} "
                     f"{r['mean_abs_error']:>7.4f} {r['dnn_mean']:>7.4f} {r['snn_mean']:>7.4f} {r['dnn_above_1']:>6.4f}")
    return "\n".join(lines)
