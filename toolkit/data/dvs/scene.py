"""Render a subject doing a gesture under some lighting, and film it with the event camera.

The scene is a reflectance image ``R(x, y, t)`` (background texture, static clutter, an optional
moving distractor, the subject's torso and head, forearms as capsules, hands as discs), lit by
``E(x, y, t) = level * G(x, y) * (1 + a*sin(2*pi*100Hz*t))`` (``G`` a static illumination gradient,
``a`` the mains flicker of fluorescent light). The camera sees ``L = log(E*R + eps)``; ``eps`` is
the dark current, which flattens contrast in dim light as a real photodiode does. Shapes have a
one-pixel soft edge so that sub-pixel motion changes intensity smoothly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .camera import CameraParams, noise_events, to_tonic_rows, video_to_events
from .gestures import Body, gesture_pose

SENSOR = 128  # DVS128: 128x128 pixels, 2 polarities
DARK_CURRENT = 0.02


@dataclass(frozen=True)
class Lighting:
    """One of the DVSGesture lighting conditions (tonic folder suffix ``userNN_<name>``)."""

    name: str
    level: float  # mean illumination, linear
    flicker: float  # relative amplitude of the 100 Hz mains flicker
    noise: float  # multiplier of the background-activity rate (dim light -> more noise)
    gradient: float  # strength of the static illumination gradient (log units across the frame)


LIGHTINGS = {
    "fluorescent": Lighting("fluorescent", 0.6, 0.06, 1.5, 0.3),
    "fluorescent_led": Lighting("fluorescent_led", 0.8, 0.04, 1.2, 0.3),
    "lab": Lighting("lab", 0.35, 0.04, 2.5, 0.5),
    "led": Lighting("led", 0.7, 0.0, 1.3, 0.2),
    "natural": Lighting("natural", 1.0, 0.0, 1.0, 0.9),
}


@dataclass(frozen=True)
class Subject:
    """A person: body geometry and style, fixed across their recordings."""

    user: int
    body: Body
    tempo: float  # this subject's speed factor
    torso_refl: float
    sleeve_refl: float
    skin_refl: float


def sample_subject(user: int, rng: np.random.Generator, difficulty: float = 1.0) -> Subject:
    """Draw a subject; ``difficulty`` widens the spread of position, size and style."""
    d = difficulty
    scale = 1.3 * rng.uniform(1 - 0.12 * d, 1 + 0.1 * d)
    body = Body(
        cx=64 + rng.uniform(-8, 8) * d,
        cy=36 + rng.uniform(-5, 5) * d,
        scale=scale,
        hand_radius=scale * rng.uniform(3.8, 5.2),
        circle_aspect=rng.uniform(1 - 0.35 * d, 1.0),
        circle_tilt=rng.uniform(-0.35, 0.35) * d,
        amplitude=rng.uniform(1 - 0.25 * d, 1 + 0.15 * d),
        wobble=rng.uniform(1.0, 1.0 + 3.0 * d),
    )
    torso = rng.uniform(0.1, 0.5)
    # sleeves a little brighter or darker than the torso, never the background's 0.25
    sleeve = float(np.clip(torso * rng.choice([0.6, 1.6]), 0.06, 0.8))
    return Subject(user, body, tempo=rng.uniform(0.8, 1.25), torso_refl=torso, sleeve_refl=sleeve,
                   skin_refl=rng.uniform(0.6, 0.95))


def _soft(dist_inside: np.ndarray) -> np.ndarray:
    """Coverage of a pixel whose centre is ``dist_inside`` pixels inside the shape's edge."""
    return np.clip(dist_inside + 0.5, 0.0, 1.0)


CHUNK = 12  # time steps per painting chunk: the bounding box is the union over the chunk only


def _chunks(n: int):
    for a in range(0, n, CHUNK):
        yield slice(a, min(a + CHUNK, n))


def _box(lo: np.ndarray, hi: np.ndarray, pad: float):
    """Pixel window covering [lo, hi] (x, y) plus pad, clipped to the sensor; None if empty."""
    xa, ya = (max(int(np.floor(v - pad)), 0) for v in lo)
    xb, yb = (min(int(np.ceil(v + pad)) + 1, SENSOR) for v in hi)
    if xa >= xb or ya >= yb:
        return None
    return (slice(ya, yb), slice(xa, xb), np.arange(ya, yb, dtype=np.float32)[None, :, None],
            np.arange(xa, xb, dtype=np.float32)[None, None, :])


def paint_capsule(video: np.ndarray, p0: np.ndarray, p1: np.ndarray, radius: float, value: float) -> None:
    """Paint segments of half-width ``radius`` from p0[t] to p1[t] (x, y) with reflectance ``value``."""
    for ts in _chunks(len(video)):
        a0, a1 = p0[ts].astype(np.float32), p1[ts].astype(np.float32)
        box = _box(np.minimum(a0, a1).min(0), np.maximum(a0, a1).max(0), radius + 1)
        if box is None:
            continue
        sy, sx, yy, xx = box
        d = a1 - a0
        ll = np.maximum((d * d).sum(1), 1e-6)[:, None, None]
        ox, oy = xx - a0[:, 0, None, None], yy - a0[:, 1, None, None]
        u = np.clip((ox * d[:, 0, None, None] + oy * d[:, 1, None, None]) / ll, 0, 1)
        alpha = _soft(radius - np.hypot(ox - u * d[:, 0, None, None], oy - u * d[:, 1, None, None]))
        sub = video[ts, sy, sx]
        sub += alpha * (np.float32(value) - sub)


def paint_ellipse(video: np.ndarray, c: np.ndarray, rx: float, ry: float, value: float) -> None:
    """Paint ellipses centred at c[t] (x, y), semi-axes rx, ry; ``c`` may be one point for all t."""
    c = np.broadcast_to(np.asarray(c, np.float32).reshape(-1, 2), (len(video), 2))
    for ts in _chunks(len(video)):
        box = _box(c[ts].min(0) - [rx, ry], c[ts].max(0) + [rx, ry], 1)
        if box is None:
            continue
        sy, sx, yy, xx = box
        r = np.hypot((xx - c[ts, 0, None, None]) / rx, (yy - c[ts, 1, None, None]) / ry)
        alpha = _soft((1 - r) * min(rx, ry))
        sub = video[ts, sy, sx]
        sub += alpha * (np.float32(value) - sub)


def _smooth_noise(rng: np.random.Generator, cells: int, amp: float) -> np.ndarray:
    """Band-limited texture: a random cells x cells grid, bilinearly upsampled to the sensor."""
    g = rng.normal(0, amp, (cells + 1, cells + 1))
    pos = np.linspace(0, cells, SENSOR)
    i = np.minimum(pos.astype(int), cells - 1)
    f = pos - i
    rows = g[i] * (1 - f)[:, None] + g[i + 1] * f[:, None]
    return rows[:, i] * (1 - f)[None] + rows[:, i + 1] * f[None]


@dataclass(frozen=True)
class RecordingSpec:
    label: int
    subject: Subject
    lighting: Lighting
    duration_s: float = 1.2
    dt_ms: float = 10.0
    difficulty: float = 1.0
    distractor_prob: float = 0.4


def render_events(spec: RecordingSpec, camera: CameraParams, thresholds: np.ndarray, hot_pixels: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
    """Film one recording: returns an (N, 4) int32 array of x, y, p, t (ms), sorted by t."""
    light, subj, body = spec.lighting, spec.subject, spec.subject.body
    steps = int(round(spec.duration_s * 1000 / spec.dt_ms)) + 1
    t = np.arange(steps) * spec.dt_ms / 1000.0
    speed = subj.tempo * rng.uniform(1 - 0.25 * spec.difficulty, 1 + 0.25 * spec.difficulty)
    pose = gesture_pose(spec.label, t, body, speed, rng)

    # static background: texture, a few clutter blobs
    background = 0.25 + _smooth_noise(rng, 6, 0.06)
    video = np.repeat(np.clip(background, 0.02, 1.0).astype(np.float32)[None], steps, 0)
    for _ in range(rng.integers(0, 4)):
        paint_ellipse(video, rng.uniform(0, SENSOR, 2), rng.uniform(4, 16), rng.uniform(4, 16),
                      rng.uniform(0.1, 0.6))
    if rng.random() < spec.distractor_prob * spec.difficulty:  # something moving in the background
        p0, vel = rng.uniform([0, 0], [SENSOR, SENSOR]), rng.normal(0, 40, 2)  # px/s
        r = rng.uniform(2, 6)
        paint_ellipse(video, p0 + t[:, None] * vel, r, r, rng.uniform(0.12, 0.45))
    # the subject, swaying slightly
    S = body.scale
    sway = np.stack([np.sin(2 * np.pi * rng.uniform(0.2, 0.5) * t + rng.uniform(0, 6.3)),
                     0.3 * np.sin(2 * np.pi * rng.uniform(0.2, 0.5) * t)], 1) * rng.uniform(0, 1.5)
    neck = np.array([body.cx, body.cy]) + sway
    paint_ellipse(video, neck + [0, 24 * S], 17 * S, 26 * S, subj.torso_refl)
    paint_ellipse(video, neck + [0, -9 * S], 8 * S, 9.5 * S, subj.skin_refl * 0.9)
    for hand, joint in zip(pose.hands, pose.joints, strict=True):
        paint_capsule(video, joint + sway, hand + sway, 2.6 * S, subj.sleeve_refl)
        paint_ellipse(video, hand + sway, body.hand_radius, body.hand_radius, subj.skin_refl)
    # illumination: level x static gradient x mains flicker; then log with dark current
    ang = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(ang) * np.arange(SENSOR)[None] + np.sin(ang) * np.arange(SENSOR)[:, None]) / SENSOR
    gain = (light.level * np.exp(light.gradient * (ramp - ramp.mean()))).astype(np.float32)
    flicker = 1 + light.flicker * np.sin(2 * np.pi * (100.0 + rng.normal(0, 0.3)) * t + rng.uniform(0, 6.3))
    video *= gain[None]
    video *= flicker.astype(np.float32)[:, None, None]
    video += DARK_CURRENT
    np.log(video, out=video)

    times_ms = t * 1000.0
    rows = video_to_events(video, times_ms, thresholds, camera, rng)
    noise = noise_events(SENSOR * SENSOR, 0.0, times_ms[-1], camera, light.noise, hot_pixels, rng)
    return to_tonic_rows(np.concatenate([rows, noise]), SENSOR)
