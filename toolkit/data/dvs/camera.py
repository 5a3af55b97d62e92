"""A DVS pixel array: a log-intensity video in, ON/OFF events out.

Each pixel keeps a reference log intensity ``L_ref``. When the log intensity ``L(t)`` moves past
``L_ref + C`` the pixel emits an ON event and ``L_ref`` rises by ``C``; past ``L_ref - C`` an OFF
event, and ``L_ref`` falls by ``C``. One step from ``L_prev`` (at ``t0``) to ``L`` (at ``t1``)
crossing ``n = floor(|L - L_ref| / C)`` levels gives ``n`` events, the k-th at the time the straight
line from ``L_prev`` to ``L`` meets ``L_ref +- k*C``::

    t_k = t0 + (t1 - t0) * (L_ref +- k*C - L_prev) / (L - L_prev)

Non-idealities, as in ESIM / v2e, simplified:

* per-pixel threshold mismatch: ``C ~ N(C0, sigma)`` (clipped at ``0.4*C0``), fixed per sensor;
* a refractory period: an event closer than ``refractory_ms`` to the pixel's previous one is lost,
  and at most ``max_events_per_step`` events per pixel and step (the reference still moves by all
  crossings, as the front end keeps integrating);
* read noise on ``L`` each step, which makes low-threshold pixels chatter under flicker;
* background-activity noise (Poisson, ``background_rate_hz`` per pixel, random polarity) and a few
  hot pixels that fire at ``hot_rate_hz`` whatever the scene.

Only pixels whose ``L`` spans at least their threshold over the recording can fire, so the
sequential part runs on those alone. Timestamps are float ms here; the writer floors them to the
integer ms of tonic's DVSGesture files.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CameraParams:
    threshold: float = 0.4  # C0, log-intensity contrast threshold (ON and OFF)
    threshold_sigma: float = 0.05  # pixel-to-pixel mismatch (std of C)
    refractory_ms: float = 1.0
    read_noise: float = 0.01  # std of the log-intensity noise added per step
    background_rate_hz: float = 0.02  # per pixel, both polarities together
    hot_pixels: int = 6
    hot_rate_hz: float = 40.0
    max_events_per_step: int = 2


def pixel_thresholds(n_pixels: int, params: CameraParams, rng: np.random.Generator) -> np.ndarray:
    c = rng.normal(params.threshold, params.threshold_sigma, n_pixels)
    return np.maximum(c, 0.4 * params.threshold).astype(np.float32)


def video_to_events(log_video: np.ndarray, times_ms: np.ndarray, thresholds: np.ndarray,
                    params: CameraParams, rng: np.random.Generator) -> np.ndarray:
    """Scene events of a log-intensity video [T, H, W] sampled at ``times_ms`` [T].

    Returns float64 rows (pixel id, polarity 0/1, t ms), unsorted. The sensor starts adapted to the
    first frame (no burst at t0).
    """
    steps = log_video.shape[0]
    lum = log_video.reshape(steps, -1)
    # a pixel whose noise-free span stays 6 sigma of read noise below its threshold never fires
    active = np.flatnonzero((lum.max(0) - lum.min(0)) >= thresholds - 6 * params.read_noise)
    lum = np.ascontiguousarray(lum[:, active])
    if params.read_noise:
        lum += params.read_noise * rng.standard_normal(lum.shape, dtype=np.float32)
    c = thresholds[active]
    l_ref = lum[0].copy()
    t_last = np.full(len(active), -1e9)
    chunks = []
    for i in range(1, steps):
        diff = lum[i] - l_ref
        sel = np.flatnonzero(np.abs(diff) >= c)
        if not len(sel):
            continue
        d, cs = diff[sel], c[sel]
        n = np.floor(np.abs(d) / cs).astype(np.int64)
        sign = np.sign(d)
        kept = np.minimum(n, params.max_events_per_step)
        rep = np.repeat(np.arange(len(sel)), kept)
        k = np.arange(len(rep)) - np.repeat(np.cumsum(kept) - kept, kept) + 1  # 1..kept within a pixel
        q = sel[rep]
        level = l_ref[q] + sign[rep] * k * cs[rep]
        span = (lum[i, q] - lum[i - 1, q]).astype(np.float64)
        span[np.abs(span) < 1e-9] = 1e-9
        frac = np.clip((level - lum[i - 1, q]) / span, 0.0, 1.0)
        t = times_ms[i - 1] + (times_ms[i] - times_ms[i - 1]) * frac
        prev = np.where(k == 1, t_last[q], np.concatenate([[0.0], t[:-1]]))
        keep = (t - prev) >= params.refractory_ms
        t, q, s = t[keep], q[keep], sign[rep][keep]
        if len(t):
            t_last[q] = t  # a pixel's run is in time order, so its last write is its latest event
            chunks.append(np.stack([active[q].astype(np.float64), (s > 0).astype(np.float64), t], 1))
        l_ref[sel] += sign * n * cs
    return np.concatenate(chunks) if chunks else np.zeros((0, 3))


def noise_events(n_pixels: int, t_start: float, t_end: float, params: CameraParams, rate_scale: float,
                 hot_pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Background activity (Poisson, random polarity) plus hot pixels; rows (pixel id, p, t ms)."""
    dur_s = (t_end - t_start) / 1000.0
    n_ba = rng.poisson(params.background_rate_hz * rate_scale * n_pixels * dur_s)
    pid = [rng.integers(0, n_pixels, n_ba)]
    for hp in hot_pixels:
        pid.append(np.full(rng.poisson(params.hot_rate_hz * dur_s), hp))
    pids = np.concatenate(pid)
    return np.stack([pids, rng.integers(0, 2, len(pids)), rng.uniform(t_start, t_end, len(pids))],
                    1).astype(np.float64)


def to_tonic_rows(rows: np.ndarray, width: int) -> np.ndarray:
    """(pixel id, p, t ms) rows -> tonic's DVSGesture file rows: (N, 4) int32 x, y, p, t(ms), sorted by t."""
    rows = rows[np.argsort(rows[:, 2], kind="stable")]
    pid = rows[:, 0].astype(np.int64)
    out = np.empty((len(rows), 4), np.int32)
    out[:, 0], out[:, 1] = pid % width, pid // width
    out[:, 2] = rows[:, 1].astype(np.int32)
    out[:, 3] = np.floor(rows[:, 2]).astype(np.int32)
    return out
