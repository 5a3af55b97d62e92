"""The learned half of the attitude model: how strong the linear acceleration is right now.

After Golroudbari & Sabour 2023 (per-axis Conv1D branches, a recurrent core, dense layers, the sampling rate
as an input), made causal and small (~8k parameters). It sees only the sensor signal:

* per-axis Conv1D branches over a causal buffer of the last ``K`` samples (a grouped conv, one group per
  axis);
* a GRU over those features plus signal context: ``â``, ``|a|/g - 1``, ``log(rate/200)``, ``ω``, and the
  rotation residual ``r = ḟ + ω × f`` (zero for gravity seen from a rotating body, so it measures linear
  acceleration);
* a dense head with one output, ``log σ_a``: the RMS linear acceleration per axis (m/s²) around now.

It is trained with a direct loss against the generator's true linear acceleration (``neuroedge.imu.train``),
so its job does not depend on the motion family. ``neuroedge.imu.core`` (compiled, exact) turns ``σ_a`` into
the attitude; ``neuroedge.imu.fast`` runs this same network compiled, from ``to_arrays()``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

GRAVITY = 9.81
INPUT_NAMES = ("imu", "rate", "h", "buf")
OUTPUT_NAMES = ("log_sigma_a", "h_out", "buf_out")


def _cross(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    ax, ay, az = a[..., 0], a[..., 1], a[..., 2]
    bx, by, bz = b[..., 0], b[..., 1], b[..., 2]
    return torch.stack([ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx], dim=-1)


class DisturbanceNet(nn.Module):
    """One step: ``(imu[B,6], rate[B,1], h[B,H], buf[B,6,K]) -> (log σ_a [B,1], h, buf)``.

    ``imu`` is ``ax, ay, az (m/s²), gx, gy, gz (rad/s)``; ``rate`` in Hz; ``buf`` the last K scaled samples.
    """

    def __init__(self, hidden: int = 32, kernel: int = 8, channels: int = 4) -> None:
        super().__init__()
        self.hidden, self.kernel, self.channels = hidden, kernel, channels
        self.branches = nn.Conv1d(6, 6 * channels, kernel_size=kernel, groups=6)
        self.n_in = 6 * channels + 3 + 1 + 1 + 3 + 1 + 3
        self.gru = nn.GRU(self.n_in, hidden, batch_first=True)
        self.head = nn.Sequential(nn.Linear(hidden, 32), nn.ReLU(), nn.Linear(32, 1))
        with torch.no_grad():  # untrained: σ_a ≈ 2 m/s² everywhere
            self.head[2].weight.mul_(0.01)
            self.head[2].bias.fill_(math.log(2.0))
        self.register_buffer("scale", torch.tensor([1 / GRAVITY] * 3 + [1 / math.pi] * 3).view(1, 6, 1))

    def initial_state(self, first_acc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(h, buf)`` before the first sample: as if at rest, reading ``first_acc``."""
        b = first_acc.shape[0]
        buf = torch.zeros(b, 6, self.kernel, dtype=first_acc.dtype)
        buf[:, :3, :] = (first_acc / GRAVITY).unsqueeze(-1)
        return torch.zeros(b, self.hidden, dtype=first_acc.dtype), buf

    def features(self, feats: torch.Tensor, acc: torch.Tensor, gyr: torch.Tensor, acc_prev: torch.Tensor,
                 rate: torch.Tensor) -> torch.Tensor:
        """GRU input from the signal alone (``[B, 3]`` or ``[B, T, 3]``; ``rate`` broadcasts)."""
        a_norm = torch.linalg.vector_norm(acc, dim=-1, keepdim=True)
        r = (acc - acc_prev) * rate + _cross(gyr, acc)
        r_norm = torch.linalg.vector_norm(r, dim=-1, keepdim=True)
        log_rate = torch.log(rate / 200.0) + 0 * a_norm
        return torch.cat([feats, acc / a_norm, a_norm / GRAVITY - 1, log_rate, r / (r_norm + 10.0),
                          torch.log1p(r_norm / 10.0), gyr], dim=-1)

    def forward(self, imu: torch.Tensor, rate: torch.Tensor, h: torch.Tensor, buf: torch.Tensor,
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        acc, gyr = imu[:, :3], imu[:, 3:]
        acc_prev = buf[:, :3, -1] * GRAVITY
        buf = torch.cat([buf[:, :, 1:], imu.unsqueeze(-1) * self.scale], dim=2)
        feats = torch.relu(self.branches(buf)).flatten(1)
        _, h = self.gru(self.features(feats, acc, gyr, acc_prev, rate).unsqueeze(1), h.unsqueeze(0))
        h = h.squeeze(0)
        return self.head(h), h, buf

    def disturbance(self, acc: torch.Tensor, gyr: torch.Tensor, rate: torch.Tensor,
                    state: tuple[torch.Tensor, torch.Tensor] | None = None,
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Over ``[B, T, 3]`` at once: ``log σ_a [B, T, 1]``, the last GRU state, the last buffer."""
        if state is None:
            state = self.initial_state(acc[:, 0])
        h, buf = state
        imu = torch.cat([acc, gyr], dim=-1)
        full = torch.cat([buf, imu.transpose(1, 2) * self.scale], dim=2)  # [B, 6, K + T]
        feats = torch.relu(self.branches(full))[:, :, 1:].transpose(1, 2)
        acc_prev = torch.cat([buf[:, :3, -1:].transpose(1, 2) * GRAVITY, acc[:, :-1]], dim=1)
        x = self.features(feats, acc, gyr, acc_prev, rate.unsqueeze(1))
        hs, _ = self.gru(x, h.unsqueeze(0).contiguous())
        return self.head(hs), hs[:, -1], full[:, :, -self.kernel:]

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The weights as float64 arrays, named for ``neuroedge.imu.fast`` (and the shipped ``.npz``)."""
        sd = {k: v.detach().double().numpy() for k, v in self.state_dict().items()}
        return {"conv_w": sd["branches.weight"][:, 0, :].copy(), "conv_b": sd["branches.bias"],
                "w_ih": sd["gru.weight_ih_l0"], "w_hh": sd["gru.weight_hh_l0"], "b_ih": sd["gru.bias_ih_l0"],
                "b_hh": sd["gru.bias_hh_l0"], "w1": sd["head.0.weight"], "b1": sd["head.0.bias"],
                "w2": sd["head.2.weight"], "b2": sd["head.2.bias"], "scale": sd["scale"].reshape(6)}


def build_network(hidden: int = 32, kernel: int = 8, channels: int = 4) -> DisturbanceNet:
    """Factory for ``neuroedge convert export-onnx neuroedge.imu.network:build_network``."""
    return DisturbanceNet(hidden=hidden, kernel=kernel, channels=channels)
