"""Causal IMU attitude model, after Golroudbari & Sabour 2023, run in **streaming** mode.

Their network: per-axis Conv1D branches -> BiLSTM -> dense -> unit quaternion, with the sampling rate as an
extra input and a quaternion loss; in their code the label sits mid-window, so it sees ~0.5 s of future.
Ours is causal: one call per new sample, with a unidirectional recurrent state carried from call to call.

Why streaming is the default (not a window): a window short enough for a 0.25 ms call (~2 s at 200 Hz)
remembers less than a tuned filter (VQF's tauAcc is 3-10 s), while a carried state has no such limit, and
one step costs the same at any memory length.

One step (``AttitudeCell.forward``), with ``a`` accel (m/s²), ``ω`` gyro (rad/s), ``dt = 1/rate``:

* per-axis Conv1D branches over a causal buffer of the last ``K`` samples (a grouped conv, one group per
  axis; in streaming form the kernel spans the buffer, so each branch gives ``C`` features per axis);
* a GRU cell (the recurrent part, unidirectional) over those features plus the physics context: the
  normalised accel ``â``, the current estimate of up in the body ``v̂ = R(q)^T e_z``, ``|a|/g - 1``,
  ``log(rate/200)`` and the rotation residual ``r = ḟ + ω × f`` (zero for gravity seen from a rotating
  body, so it measures linear acceleration) as a direction and ``log(1 + |r|/10)``;
* a dense head giving two positive gains ``k_P, k_I`` (softplus) -- how much to trust the accelerometer now;
* the quaternion update itself is exact physics, not learned (as in Mahony's filter, but with gains
  chosen by the network at every step):

      e = â × v̂                       (tilt error seen by the accelerometer)
      ẽ = e / (|e| + ε)                (robust: saturates above ε ≈ 1°, as Madgwick's normalised step)
      i ← i + ẽ·dt                     (integral state: absorbs the gyro bias)
      ω_c = ω + k_P ẽ + k_I i
      q ← normalise(q ⊗ exp(½ ω_c dt))

So the output is a unit quaternion by construction. The saturation matters with bursty disturbances:
a proportional (Mahony) correction lets a 10 m/s² burst pull hard; measured on the validation split,
fixed gains gave 2.74° proportional vs 2.02° saturating. The network's job is what a fixed-gain filter cannot
do: recognise from the recent signal when the accelerometer is disturbed and stop trusting it.

Loss (``tilt_loss``): ``mean |v̂(q_est) - v̂(q_true)|²``, a quaternion loss restricted to what six axes
observe; it equals ``4 sin²(tilt/2) ≈ tilt²``. Heading is unobservable without a magnetometer, so a
full-quaternion loss would only teach the network to guess yaw.
"""

from __future__ import annotations

import math

import torch
from torch import nn

MODEL_VERSION = 2  # bump when the cell's maths changes: cached weights are keyed by it
GRAVITY = 9.81
ROBUST_SCALE = 0.02  # rad (~1.1°): above this tilt error the correction saturates, as Madgwick's does
INPUT_NAMES = ("imu", "rate", "h", "q", "i", "buf")
OUTPUT_NAMES = ("q_out", "h_out", "i_out", "buf_out")


def quat_mul(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Hamilton product ``p ⊗ q`` on ``[..., 4]`` (w, x, y, z)."""
    pw, px, py, pz = p[..., 0], p[..., 1], p[..., 2], p[..., 3]  # indexing, not unbind: TorchScript-able
    qw, qx, qy, qz = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return torch.stack(
        [
            pw * qw - px * qx - py * qy - pz * qz,
            pw * qx + px * qw + py * qz - pz * qy,
            pw * qy - px * qz + py * qw + pz * qx,
            pw * qz + px * qy - py * qx + pz * qw,
        ],
        dim=-1,
    )


def up_in_body(q: torch.Tensor) -> torch.Tensor:
    """``R(q)^T e_z``: world up seen in the body frame."""
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return torch.stack([2 * (x * z - w * y), 2 * (y * z + w * x), w * w - x * x - y * y + z * z], dim=-1)


def small_rotation(theta: torch.Tensor) -> torch.Tensor:
    """``exp(½θ)`` for a per-sample rotation vector, as a 4th-order series (|θ| < 0.05 rad per sample).

    ``cos(|θ|/2) ≈ 1 - |θ|²/8 + |θ|⁴/384``, ``sin(|θ|/2)/|θ| ≈ ½ - |θ|²/48``; no sqrt or division, so the
    ONNX graph stays plain arithmetic.
    """
    n2 = (theta * theta).sum(-1, keepdim=True)
    w = 1 - n2 / 8 + n2 * n2 / 384
    return torch.cat([w, theta * (0.5 - n2 / 48)], dim=-1)


class AttitudeCell(nn.Module):
    """One streaming step: ``(imu[B,6], rate[B,1], h, q, i, buf) -> (q, h, i, buf)``.

    ``imu`` is ``ax, ay, az (m/s²), gx, gy, gz (rad/s)``; ``rate`` in Hz. States: ``h [B,H]`` GRU,
    ``q [B,4]`` attitude, ``i [B,3]`` integral of the tilt error, ``buf [B,6,K]`` the last K samples.
    """

    def __init__(self, hidden: int = 32, kernel: int = 8, channels: int = 4) -> None:
        super().__init__()
        self.hidden, self.kernel, self.channels = hidden, kernel, channels
        self.gravity = GRAVITY
        self.robust_scale = ROBUST_SCALE
        self.branches = nn.Conv1d(6, 6 * channels, kernel_size=kernel, groups=6)  # one branch per axis
        n_in = 6 * channels + 3 + 3 + 3 + 1 + 1 + 3 + 1
        self.gru = nn.GRUCell(n_in, hidden)
        self.head = nn.Sequential(nn.Linear(hidden, 32), nn.ReLU(), nn.Linear(32, 2))
        # Start near a sensible fixed-gain filter (k_P ≈ 0.02 rad/s, k_I ≈ 0.001 rad/s²; measured on the
        # validation split) so training only has to learn when to deviate from it.
        with torch.no_grad():
            self.head[2].weight.mul_(0.1)
            self.head[2].bias.copy_(torch.tensor([math.log(math.expm1(0.02)), math.log(math.expm1(0.001))]))
        self.register_buffer("scale", torch.tensor([1 / GRAVITY] * 3 + [1 / math.pi] * 3).view(1, 6, 1))

    def initial_state(self, first_acc: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """States before the first sample: attitude levelled on the first accel reading, zero elsewhere."""
        b = first_acc.shape[0]
        a = first_acc / first_acc.norm(dim=-1, keepdim=True)
        up = torch.tensor([0.0, 0.0, 1.0]).expand(b, 3)
        axis = torch.cross(a, up, dim=-1)
        s = axis.norm(dim=-1, keepdim=True).clamp_min(1e-9)
        angle = torch.atan2(s, (a * up).sum(-1, keepdim=True))
        q = torch.cat([torch.cos(angle / 2), torch.sin(angle / 2) * axis / s], dim=-1)
        buf = torch.zeros(b, 6, self.kernel)
        buf[:, :3, :] = (first_acc / GRAVITY).unsqueeze(-1)  # as if at rest before the first sample
        return (torch.zeros(b, self.hidden), q, torch.zeros(b, 3), buf)

    def forward(self, imu: torch.Tensor, rate: torch.Tensor, h: torch.Tensor, q: torch.Tensor,
                i: torch.Tensor, buf: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        dt = 1.0 / rate
        acc, gyr = imu[:, :3], imu[:, 3:]
        acc_prev = buf[:, :3, -1] * self.gravity
        buf = torch.cat([buf[:, :, 1:], imu.unsqueeze(-1) * self.scale], dim=2)
        feats = torch.relu(self.branches(buf)).flatten(1)
        a_norm = torch.linalg.vector_norm(acc, dim=-1, keepdim=True)
        a_hat = acc / a_norm
        v_hat = up_in_body(q)
        e = torch.cross(a_hat, v_hat, dim=-1)
        # Residual of the accel against a pure rotation: gravity seen from a rotating body obeys
        # ḟ = -ω × f, so r = ḟ + ω × f is (the derivative of) linear acceleration plus noise.
        r = (acc - acc_prev) * rate + torch.cross(gyr, acc, dim=-1)
        r_norm = torch.linalg.vector_norm(r, dim=-1, keepdim=True)
        x = torch.cat([feats, a_hat, v_hat, e, a_norm / self.gravity - 1, torch.log(rate / 200.0),
                       r / (r_norm + 10.0), torch.log1p(r_norm / 10.0)], dim=-1)
        h = self.gru(x, h)
        gains = nn.functional.softplus(self.head(h))
        k_p, k_i = gains[:, :1], gains[:, 1:]
        e_robust = e / (torch.linalg.vector_norm(e, dim=-1, keepdim=True) + self.robust_scale)
        i = i + e_robust * dt
        omega = gyr + k_p * e_robust + k_i * i
        q = quat_mul(q, small_rotation(omega * dt))
        q = q / torch.linalg.vector_norm(q, dim=-1, keepdim=True)
        return q, h, i, buf

    def run_sequence(self, acc: torch.Tensor, gyr: torch.Tensor, rate: torch.Tensor,
                     state: tuple[torch.Tensor, ...] | None = None,
                     ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """Step over ``[B, T, 3]`` accel/gyro; returns quaternions ``[B, T, 4]`` and the final state."""
        if state is None:
            state = self.initial_state(acc[:, 0])
        imu = torch.cat([acc, gyr], dim=-1)
        h, q, i, buf = state
        outs = []
        for t in range(imu.shape[1]):
            q, h, i, buf = self(imu[:, t], rate, h, q, i, buf)
            outs.append(q)
        return torch.stack(outs, dim=1), (h, q, i, buf)


def tilt_loss(q_est: torch.Tensor, q_true: torch.Tensor) -> torch.Tensor:
    """``mean |v̂(q_est) - v̂(q_true)|² = mean 4 sin²(tilt/2)``: the quaternion loss on observable tilt."""
    return ((up_in_body(q_est) - up_in_body(q_true)) ** 2).sum(-1).mean()


def build_model(hidden: int = 32, kernel: int = 8, channels: int = 4) -> AttitudeCell:
    """Factory for ``neuroedge convert export-onnx examples.imu_attitude.model:build_model``."""
    return AttitudeCell(hidden=hidden, kernel=kernel, channels=channels)
