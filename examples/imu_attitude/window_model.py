"""Causal IMU attitude model in **window** mode, after Golroudbari & Sabour 2023.

Their network: per-axis Conv1D branches -> BiLSTM -> dense -> unit quaternion, with the sampling rate as
an extra input and a quaternion loss. In their code the label sits mid-window (~0.5 s of future). Here the
label is the window's **last** sample, so the model is causal: a BiLSTM *inside* a window that ends at the
label reads only the past, both directions included.

One call: ``imu [B, W, 6]`` (ax ay az m/s², gx gy gz rad/s; the last row is "now") and ``rate [B, 1]`` Hz
-> ``q [B, 4]`` (w, x, y, z, body -> world, unit norm).

The maths (the window of ``W`` samples is cut into ``N`` blocks of ``L`` samples for the BiLSTM, and into
``M`` sub-blocks of ``P`` samples for the physics; ``dt = 1/rate``):

* **per-axis Conv1D branches**: a grouped conv with kernel = stride = ``L``, one group per axis, so each
  axis gets ``C`` learned features per block and the recurrent part runs ``N`` steps instead of ``W``. It is
  computed as one MatMul of each block (``[L·6]``) with a block-diagonal matrix, which also yields the
  sub-block sums below (one node, no transposes; a constant in the exported graph);
* **gyro transport** (exact physics, no weights): the sub-block rotation ``θ_j = dt·Σ ω`` and its matrix
  ``D_j = exp([θ_j]×) = I + s[θ]× + c(θθᵀ - |θ|²I)`` with ``s = sin|θ|/|θ|``, ``c = (1 - cos|θ|)/|θ|²`` as
  series (no trig). A world-fixed vector seen from the body obeys ``f_M = (D_(j+1)···D_M)ᵀ f_j``, so each
  sub-block's mean accelerometer reading is carried to the body frame *at the label*:
  ``g_j = (D(θ_j/2) S_j)ᵀ ā_j`` with ``S_j = D_(j+1)···D_M``. The suffix products come from a log-depth
  (Hillis-Steele) scan, ``⌈log₂ M⌉`` batched 3×3 MatMuls instead of ``M`` sequential ones. The ``g_j`` are
  then averaged per block: ``g_b``. Sub-blocks must be short (summing the gyro over a sub-block ignores that
  rotations do not commute; measured on an 8 s window: 64-sample sub-blocks cost 0.4° of tilt, 32 none);
* **BiLSTM** (hidden ``H``) over the ``N`` blocks, fed the conv features, ``g_b/g``, its direction,
  ``|ā_b|/g - 1`` and ``log(rate/200)``;
* **dense heads**: one scores each block, ``w = softmax_b(score_b)``, and up in the body frame is estimated
  as ``v = Σ_b w_b g_b`` (gravity is the part of ``g_b`` common to all blocks; the network learns which
  blocks are disturbed); the other reads the last block's BiLSTM output and adds a small correction ``d``:
  ``v' = v/|v| + d``;
* **output**: ``q = normalise(1 + v̂'_z, v̂'_y, -v̂'_x, 0)``, the shortest rotation taking ``v̂'`` to world
  up: a unit quaternion with zero yaw (heading is unobservable from six axes).

Loss: ``tilt_loss`` from ``model.py``, ``mean |v̂(q) - v̂(q_true)|² = mean 4 sin²(tilt/2)``, the quaternion loss
restricted to what six axes observe.

Window vs streaming (why streaming stays the default): a window's memory is its length. The linear
acceleration here is low-passed at ~0.3 s and bursty, so a 2 s window averages few independent disturbance
samples: measured on the validation split, the plain mean of the transported readings (the untrained
model) has 4.2° tilt error at 2 s, 2.2° at 4 s, 1.8° at 6 s, 1.6° at 8-10 s, while tuned filters remember
3-10 s (VQF's tauAcc) and a carried recurrent state has no limit. The physics transport makes the cost per
call depend on ``N`` and ``M`` much more than on ``W``, so windows longer than 2 s are affordable, but the
input alone is ``6W`` floats per call, and the gyro bias (unobservable inside a window) grows the error of
old readings. A streaming step costs the same at any memory length. The window's upside: calls are
independent, with no state to carry, reset or corrupt.
"""

from __future__ import annotations

import math

import torch
from torch import nn

WINDOW_MODEL_VERSION = 2  # bump when the maths changes: cached weights are keyed by it
GRAVITY = 9.81
INPUT_NAMES = ("imu", "rate")
OUTPUT_NAMES = ("q",)

# [θ]× = reshape(θ @ SKEW_BASIS, 3, 3): the cross-product matrix as one constant MatMul (ONNX-friendly).
_SKEW = torch.zeros(3, 9)
for _i, _j, _k, _sign in ((0, 1, 2, -1), (0, 2, 1, 1), (1, 0, 2, 1), (1, 2, 0, -1), (2, 0, 1, -1), (2, 1, 0, 1)):
    _SKEW[_k, 3 * _i + _j] = _sign


def rotation_matrices(theta: torch.Tensor, skew_basis: torch.Tensor) -> torch.Tensor:
    """``exp(K)``, ``K = [θ]×``, for rotation vectors ``[..., 3]``, by Rodrigues' formula with series
    coefficients: ``I + s K + c (θθᵀ - |θ|²I)``, ``s = sin|θ|/|θ| = 1 - |θ|²/3! + |θ|⁴/5! - |θ|⁶/7!``,
    ``c = (1 - cos|θ|)/|θ|² = 1/2! - |θ|²/4! + |θ|⁴/6! - |θ|⁶/8!``. The error is ~``|θ|⁹/9!`` (3e-6 rad at
    |θ| = 1 rad: a block of 80 samples at 2.5 rad/s and 200 Hz), and the graph has no trig or division."""
    n2 = (theta * theta).sum(-1, keepdim=True).unsqueeze(-1)  # [..., 1, 1]
    k = (theta @ skew_basis).reshape(*theta.shape[:-1], 3, 3)
    # s and c side by side on a last axis of 2, so one Horner pass evaluates both (half the graph nodes)
    coef = torch.tensor([[1.0, 0.5], [-1 / 6, -1 / 24], [1 / 120, 1 / 720], [-1 / 5040, -1 / 40320]],
                        dtype=theta.dtype)
    sc = coef[3] * n2 + coef[2]
    sc = sc * n2 + coef[1]
    sc = sc * n2 + coef[0]  # [..., 1, 2]
    s, c = sc[..., :1], sc[..., 1:]
    eye = torch.eye(3, dtype=theta.dtype)
    return eye * (1 - c * n2) + s * k + c * (theta.unsqueeze(-1) * theta.unsqueeze(-2))


def suffix_products(d: torch.Tensor) -> torch.Tensor:
    """``S_b = D_(b+1) ··· D_N`` for ``d [B, N, 3, 3]`` (``S_N = I``), by a log-depth (Hillis-Steele) scan.

    Shifting by ``k`` fills the tail with identities as ``p[:, :k]·0 + I``: it broadcasts to the batch
    with no shape arithmetic in the exported graph.
    """
    n = d.shape[1]
    eye = torch.eye(3, dtype=d.dtype)
    p = torch.cat([d[:, 1:], d[:, :1] * 0 + eye], dim=1)  # p_b = D_(b+1), p_N = I
    step = 1
    while step < n:  # afterwards p_b covers D_(b+1)..D_(b+2^k), clipped at N
        p = p @ torch.cat([p[:, step:], p[:, :step] * 0 + eye], dim=1)  # batched MatMul: fastest in ORT
        step *= 2
    return p


def sub_block_suffix_products(d: torch.Tensor, blocks: int) -> torch.Tensor:
    """``S_j = D_(j+1) ··· D_M`` for ``M = blocks·k`` sub-blocks ``d [B, M, 3, 3]``, in two levels.

    Within each block ``W_i = D_(i+1) ··· D_(k-1)`` (``k - 1`` products), the block's own product is
    ``D_0 W_0``, the blocks' suffix products come from ``suffix_products`` over ``N = M/k`` matrices, and
    ``S = W_i · S_block``. Same result as ``suffix_products(d)``, but the scan runs over ``N`` matrices,
    not ``M``: onnxruntime's batched 3×3 MatMul costs ~0.23 µs per matrix, so this saves ~25 µs per call
    at ``M = 50, N = 25``.
    """
    k = d.shape[1] // blocks
    if k == 1:
        return suffix_products(d)
    dk = d.reshape(-1, blocks, k, 3, 3)
    inner = [dk[:, :, k - 1]]  # W_(k-2) = D_(k-1); W_(k-1) = I is implicit
    for i in range(k - 2, 0, -1):
        inner.insert(0, dk[:, :, i] @ inner[0])
    s_block = suffix_products(dk[:, :, 0] @ inner[0])  # [B, N, 3, 3]
    parts = [w @ s_block for w in inner] + [s_block]  # sub-block i of each block: W_i S_block
    return torch.stack(parts, dim=2).reshape(-1, blocks * k, 3, 3)


def quat_from_up(v: torch.Tensor) -> torch.Tensor:
    """The zero-yaw unit quaternion whose up axis in the body is ``v`` (shortest arc, no trig)."""
    v = v / torch.linalg.vector_norm(v, dim=-1, keepdim=True)
    q = torch.stack([1 + v[..., 2], v[..., 1], -v[..., 0], torch.zeros_like(v[..., 0])], dim=-1)
    return q / torch.linalg.vector_norm(q, dim=-1, keepdim=True).clamp_min(1e-6)


class WindowAttitudeNet(nn.Module):
    """``(imu [B, W, 6], rate [B, 1]) -> q [B, 4]``; the label is the window's last sample."""

    def __init__(self, window: int = 400, block: int = 16, channels: int = 4, hidden: int = 32,
                 physics_block: int = 8) -> None:
        super().__init__()
        if window % block:
            raise ValueError(f"window {window} must be a multiple of block {block}")
        if block % physics_block:
            raise ValueError(f"block {block} must be a multiple of physics_block {physics_block}")
        self.window, self.block, self.channels, self.hidden = window, block, channels, hidden
        self.physics_block = physics_block
        self.blocks = window // block
        self.sub_blocks = window // physics_block
        self.gravity = GRAVITY
        self.branches = nn.Conv1d(6, 6 * channels, kernel_size=block, stride=block, groups=6)  # per axis
        n_in = 6 * channels + 3 + 3 + 1 + 1
        self.lstm = nn.LSTM(n_in, hidden, batch_first=True, bidirectional=True)
        self.score = nn.Sequential(nn.Linear(2 * hidden, 32), nn.ReLU(), nn.Linear(32, 1))
        self.correct = nn.Sequential(nn.Linear(2 * hidden, 32), nn.ReLU(), nn.Linear(32, 3))
        with torch.no_grad():  # start as "average all transported readings, no correction"
            self.score[2].weight.zero_()
            self.score[2].bias.zero_()
            self.correct[2].weight.mul_(0.01)
            self.correct[2].bias.zero_()
        scale = torch.tensor([1 / GRAVITY] * 3 + [1 / math.pi] * 3).repeat_interleave(channels).view(-1, 1, 1)
        self.register_buffer("scale", scale)  # per-axis input scaling, folded into the conv weights
        self.register_buffer("skew_basis", _SKEW.clone())
        self.register_buffer("ones_blocks", torch.ones(1, self.blocks, 1))
        # (1 + v_z, v_y, -v_x, 0) = v @ UP_TO_QUAT + (1, 0, 0, 0): the shortest arc as one MatMul + Add
        self.register_buffer("up_to_quat", torch.tensor([[0.0, 0, -1, 0], [0, 1, 0, 0], [1, 0, 0, 0]]))
        self.register_buffer("quat_one", torch.tensor([1.0, 0, 0, 0]))

    def block_matrix(self) -> torch.Tensor:
        """``[L·6, 6C + (L/P)·6]``: the per-axis conv branches (block-diagonal: axis ``a`` only sees axis ``a``)
        and the sub-block sums of the transport, as one matrix applied to each block of ``L`` samples.

        A grouped conv with kernel = stride = ``L`` is this MatMul, and as one MatMul it needs neither the
        two transposes nor the separate reduction (in the exported graph this matrix is a constant).
        """
        c, length, p = self.channels, self.block, self.physics_block
        w = self.branches.weight.reshape(6, c, length) * self.scale.reshape(6, c, 1)  # [axis, C, L]
        eye6 = torch.eye(6, dtype=w.dtype)
        w_conv = (w.permute(2, 0, 1).unsqueeze(1) * eye6.reshape(1, 6, 6, 1)).reshape(length * 6, 6 * c)
        # sums[l·6 + a, j·6 + a] = 1 when sample l falls in sub-block j
        w_sum = (torch.eye(length // p, dtype=w.dtype).repeat_interleave(p, 0).reshape(length, 1, length // p, 1)
                 * eye6.reshape(1, 6, 1, 6)).reshape(length * 6, (length // p) * 6)
        return torch.cat([w_conv, w_sum], dim=1)

    def _block_matrix(self) -> torch.Tensor:
        """``block_matrix()``, cached outside training: it is a constant in the exported graph, so torch
        eager must not pay for rebuilding it on every call either (that would flatter onnxruntime). The
        cache is keyed by the weight's version counter, so ``load_state_dict`` or an optimiser step
        invalidates it."""
        if self.training or torch.is_grad_enabled():
            return self.block_matrix()
        w = self.branches.weight
        key = (w._version, w.data_ptr())
        if getattr(self, "_cache_key", None) != key:
            self._cache = self.block_matrix()
            self._cache_key = key
        return self._cache

    def transported_gravity(self, sub: torch.Tensor, rate: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(g_b, ā_b)``, each ``[B, N, 3]``, from the sub-block sums ``sub [B, M, 6]``: the blocks' mean
        accel carried by the gyro to the body frame at the label, and the mean accel itself.

        The transport runs on sub-blocks of ``physics_block`` samples (short enough that summing the gyro is
        exact: measured, 64-sample sub-blocks cost 0.4° of tilt on an 8 s window, 32 nothing), then
        sub-blocks are averaged into the ``N`` blocks the BiLSTM steps over: the recurrent cost is set by
        ``N``, so a longer window costs little.
        """
        m_sub, n = self.sub_blocks, self.blocks
        acc_sub = sub[..., :3] * (1 / self.physics_block)
        theta = sub[..., 3:] * (1 / rate).unsqueeze(-1)  # [B, M, 3] rotation over each sub-block
        d = rotation_matrices(torch.cat([theta, 0.5 * theta], dim=1), self.skew_basis)  # whole and half
        s = sub_block_suffix_products(d[:, :m_sub], n)
        m = d[:, m_sub:] @ s  # D(θ/2) S: mid-sub-block -> label frame, transposed
        g_sub = (acc_sub.unsqueeze(-2) @ m).reshape(-1, n, m_sub // n, 3)  # āᵀ M == Mᵀ ā
        return g_sub.mean(2), acc_sub.reshape(-1, n, m_sub // n, 3).mean(2)

    def forward(self, imu: torch.Tensor, rate: torch.Tensor) -> torch.Tensor:
        z = imu.reshape(-1, self.blocks, self.block * 6) @ self._block_matrix()  # -1: no shape ops in the graph
        feats = torch.relu(z[..., : 6 * self.channels] + self.branches.bias)  # [B, N, 6C] per-axis branches
        g, acc_mean = self.transported_gravity(z[..., 6 * self.channels:].reshape(-1, self.sub_blocks, 6), rate)
        g_norm = torch.linalg.vector_norm(g, dim=-1, keepdim=True)
        acc_norm = torch.linalg.vector_norm(acc_mean, dim=-1, keepdim=True)
        log_rate = torch.log(rate * (1 / 200.0)).unsqueeze(1) * self.ones_blocks  # [B, N, 1]
        x = torch.cat([feats, g * (1 / self.gravity), g / g_norm, acc_norm * (1 / self.gravity) - 1, log_rate], -1)
        y, _ = self.lstm(x)  # [B, N, 2H]
        w = torch.softmax(self.score(y), dim=1)  # [B, N, 1]
        v = (w * g).sum(1)
        v = v / torch.linalg.vector_norm(v, dim=-1, keepdim=True) + self.correct(y[:, -1])
        v = v / torch.linalg.vector_norm(v, dim=-1, keepdim=True)
        q = v @ self.up_to_quat + self.quat_one  # = quat_from_up(v) before normalising
        return q / torch.linalg.vector_norm(q, dim=-1, keepdim=True)

    def window_gravity(self, imu: torch.Tensor, rate: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``transported_gravity`` straight from a window ``[B, W, 6]`` (for checks and plots)."""
        z = imu.reshape(-1, self.blocks, self.block * 6) @ self.block_matrix()
        return self.transported_gravity(z[..., 6 * self.channels:].reshape(-1, self.sub_blocks, 6), rate)


def build_window_model(window: int = 400, block: int = 16, channels: int = 4, hidden: int = 32,
                       physics_block: int = 8) -> WindowAttitudeNet:
    """Factory, e.g. for ``neuroedge convert export-onnx`` references."""
    return WindowAttitudeNet(window=window, block=block, channels=channels, hidden=hidden,
                             physics_block=physics_block)
