"""Sigma-delta neurons and the input delta encoder (Loihi 2 graded messages, Lava ``lava.proc.sdn``).

Small typed records, checked on construction, used by ``neuroedge.snn.network``. The arithmetic is
Lava's fixed-point ``PySigmaDeltaModelFixed`` / ``PyDeltaModelFixed`` (``lava/proc/sdn/models.py``,
lava-nc 0.10), as written in each docstring; ``neuroedge.targets.loihi.fast`` reproduces it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

SD_STATE_MAX = (1 << 23) - 1  # sigma-delta state (sigma, act, residue, thresholds) is 24-bit
SD_STATE_EXP_MAX = 7  # Lava declares state_exp 3-bit


class NetworkError(ValueError):
    """A network file or layer that is malformed or outside Loihi's ranges."""


@dataclass(frozen=True)
class SigmaDeltaParams:
    """One sigma-delta population (Lava ``SigmaDelta``, fixed_pt ``PySigmaDeltaModelFixed``).

    Per step, with ``a`` the graded synaptic input (already delayed one step by the synapse)::

        sigma   = sigma + a                                   (int32)
        act     = relu(sigma + (bias << state_exp))           ("unit": no relu; the output layer)
        delta   = act - act_prev + residue
        s       = delta if |delta| >= (vth << state_exp) else 0
        residue = delta - s;   act_prev = act
        message = s >> state_exp                              (floor; the low bits are not resent)

    ``vth`` and ``bias`` are in message units (Lava scales both by ``2^state_exp`` itself);
    ``state_exp`` in [0, 7] is the number of fractional bits the state keeps below a message unit.
    All state starts at zero; the bias is sent at the first step.
    """

    vth: int
    bias: np.ndarray  # int, one per neuron, message units
    state_exp: int = 0
    activation: Literal["relu", "unit"] = "relu"

    kind = "sigma-delta"

    def __post_init__(self) -> None:
        se = int(self.state_exp)
        if not 0 <= se <= SD_STATE_EXP_MAX:
            raise NetworkError(f"state_exp {self.state_exp} outside [0, {SD_STATE_EXP_MAX}]")
        if int(self.vth) < 0 or int(self.vth) << se > SD_STATE_MAX:
            raise NetworkError(f"vth {self.vth} << state_exp {se} outside the 24-bit state [0, {SD_STATE_MAX}]")
        b = np.asarray(self.bias)
        if not np.issubdtype(b.dtype, np.integer) and not np.all(np.equal(np.mod(b, 1), 0)):
            raise NetworkError("sigma-delta bias must be integers (message units)")
        if b.size and int(np.abs(b.astype(np.int64)).max()) << se > SD_STATE_MAX:
            raise NetworkError(f"sigma-delta bias << state_exp {se} outside the 24-bit state")
        if self.activation not in ("relu", "unit"):
            raise NetworkError(f"activation must be 'relu' or 'unit', got {self.activation!r}")
        object.__setattr__(self, "bias", b.astype(np.int32).reshape(-1))
        object.__setattr__(self, "state_exp", se)
        object.__setattr__(self, "vth", int(self.vth))

    @property
    def size(self) -> int:
        return int(self.bias.size)


@dataclass(frozen=True)
class InputDelta:
    """How a sigma-delta network's input stream is encoded (Lava ``Delta``, state_exp 0).

    A DNN input x becomes the integer ``q = round(x / input_scale * 2^frac_bits)`` (no clipping);
    per step ``delta = q - q_prev + residue``, sent when ``|delta| >= vth``, the rest kept as residue.
    """

    vth: int = 0
    frac_bits: int = 8

    def __post_init__(self) -> None:
        if not 0 <= int(self.vth) <= SD_STATE_MAX:
            raise NetworkError(f"input vth {self.vth} outside [0, {SD_STATE_MAX}]")
        if not 0 <= int(self.frac_bits) <= 16:
            raise NetworkError(f"input frac_bits {self.frac_bits} outside [0, 16]")


