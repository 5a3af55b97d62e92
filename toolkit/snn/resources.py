"""Loihi core counts per layer, and an energy estimate from synaptic operations.

Core-count rule (per layer; the total is the sum, since Loihi cores hold one layer each here):
a layer of N neurons, each with F synapses, goes on the fewest cores c such that one core's share,
``n = ceil(N / c)`` neurons, fits every per-core limit:

* compartments:   n <= C_max
* synapse memory: n * ceil(F / 64) * 64 * bits_per_synapse <= M, with F the non-zero synapses
  per neuron (zeros are not stored, so an AvgPool, a diagonal kernel, costs k*k per neuron)   (dense 8-bit synapses cost about
  9 bits each, allocated in blocks of 64; a conv layer on Loihi 1 stores every synapse, since Loihi 1
  has no weight sharing; on Loihi 2 a conv kernel is shared, so a core stores it once:
  K*K*C_in*C_out * 9 bits)
* input axons:    the distinct source neurons that core's neurons listen to <= A_in. Dense: all
  F inputs. Conv: the receptive field of a square tile of p = ceil(n / C_out) output pixels,
  ``(sqrt(p)*s + k - s)^2 * C_in`` (capped at the whole input).

Loihi 1 limits (Davies et al. 2018): C_max = 1024 compartments, A_in = 4096 input axons (and 4096
output axons), M = 1,048,576 bits of synapse memory; 128 cores per chip.
Loihi 2 limits are less well published; assumed here: C_max = 8192 neurons per core (about 1M
neurons over 128 cores), M = 120M synapses / 128 cores at 8 bits (7.5 Mbit), A_in = 4096, and
convolutional weight sharing.

Energy (Davies et al. 2018, IEEE Micro 38(1), Table 1): 23.6 pJ per synaptic spike operation
(the minimum they report), and 52 pJ per neuron update (an inactive compartment; 81 pJ active).
``energy_uj_per_sample`` counts synaptic operations only; the neuron-update term is given apart,
since it depends on how long a sample runs rather than on activity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from neuroedge.snn.network import ConvLayer, Layer, SNNNetwork

SYNOP_PJ = 23.6
NEURON_UPDATE_PJ = 52.0
ENERGY_SOURCE = "Davies et al. 2018, Loihi (IEEE Micro 38(1)), Table 1: 23.6 pJ/synaptic op, 52 pJ/neuron update"


@dataclass(frozen=True)
class CoreLimits:
    name: str
    compartments: int
    input_axons: int
    synapse_bits: int
    bits_per_synapse: int = 9
    block: int = 64
    shared_conv_weights: bool = False
    cores_per_chip: int = 128


LOIHI1 = CoreLimits("loihi1", 1024, 4096, 1_048_576)
LOIHI2 = CoreLimits("loihi2", 8192, 4096, 120_000_000 // 128 * 8, shared_conv_weights=True)


def synapses_per_neuron(layer: Layer) -> float:
    """Non-zero synapses per neuron (zeros are not stored: an AvgPool's kernel is diagonal)."""
    return float(np.count_nonzero(layer.weights)) / float(layer.weights.shape[0])


def _fits(layer: Layer, n: int, lim: CoreLimits) -> bool:
    if n > lim.compartments:
        return False
    fan_in = synapses_per_neuron(layer)
    if isinstance(layer, ConvLayer) and lim.shared_conv_weights:
        bits = np.count_nonzero(layer.weights) * lim.bits_per_synapse
    else:
        bits = n * math.ceil(fan_in / lim.block) * lim.block * lim.bits_per_synapse
    if bits > lim.synapse_bits:
        return False
    if isinstance(layer, ConvLayer):
        x, y, c_in = layer.in_shape
        c_out = layer.out_shape[2]
        side = math.ceil(math.sqrt(math.ceil(n / c_out)))
        (kx, ky), (sx, sy) = layer.kernel, layer.stride
        axons = min(side * sx + kx - sx, x) * min(side * sy + ky - sy, y) * c_in
    else:
        axons = layer.fan_in
    return axons <= lim.input_axons


def layer_cores(layer: Layer, lim: CoreLimits) -> int:
    """The fewest cores this layer fits on (see the module docstring); -1 if no split fits."""
    n_total = math.prod(layer.out_shape)
    for c in range(1, n_total + 1):
        if _fits(layer, math.ceil(n_total / c), lim):
            return c
    return -1


def core_report(net: SNNNetwork) -> dict[str, Any]:
    """Cores per layer and in total for Loihi 1 and Loihi 2, and the chips they take."""
    out: dict[str, Any] = {"layers": []}
    totals = {LOIHI1.name: 0, LOIHI2.name: 0}
    for layer in net.layers:
        row: dict[str, Any] = {"name": layer.name, "neurons": math.prod(layer.out_shape),
                               "synapses_per_neuron": round(synapses_per_neuron(layer), 1)}
        for lim in (LOIHI1, LOIHI2):
            c = layer_cores(layer, lim)
            row[f"{lim.name}_cores"] = c
            totals[lim.name] += c if c > 0 else 0
        out["layers"].append(row)
    for lim in (LOIHI1, LOIHI2):
        out[f"{lim.name}_cores"] = totals[lim.name]
        out[f"{lim.name}_chips"] = math.ceil(totals[lim.name] / lim.cores_per_chip)
    out["rule"] = "fewest cores per layer meeting compartment, synapse-memory and input-axon limits"
    return out


def energy_uj(synops: float, neurons: int = 0, steps: int = 0) -> dict[str, float]:
    """Energy per sample in µJ from synaptic operations (and, apart, neuron updates)."""
    syn = synops * SYNOP_PJ * 1e-6
    upd = neurons * steps * NEURON_UPDATE_PJ * 1e-6
    return {"energy_uj_per_sample": syn, "neuron_update_uj_per_sample": upd, "total_uj_per_sample": syn + upd}
