"""Eleven gesture trajectories, with tonic's DVSGesture class indices and names.

A gesture is a function of time giving, for each hand, the hand centre and the joint the forearm
hangs from (shoulder or elbow), in pixels of the 128x128 sensor. Positions are built from a
subject's body (:class:`Body`: centre, scale ``S``, shoulder spacing, limb lengths) so that two
subjects doing the same gesture differ in position, size and style. "Right" means the subject's
right arm, which the camera, facing the subject, sees on the image's left. Directions (cw/ccw)
are as the camera sees them, with y pointing down.

With ``phi(t) = 2*pi*f*t + phi0`` (``f`` the gesture's rate times the recording's speed factor):

* 0 clapping:  hands at ``cx +- (3S + 14S*(1+cos phi)/2)`` at chest height, meeting in the middle;
* 1/2 right/left hand wave: forearm pivots on the elbow, ``theta = 0.55 sin phi`` from vertical;
* 3-6 right/left arm cw/ccw: hand on a (tilted, elliptic) circle round the shoulder, turning
  clockwise (``+``) or counter-clockwise on the image, faster on the way down than on the way up
  (:func:`_swing`);
* 7 arm roll: both hands on a small ellipse in front of the chest, half a turn apart;
* 8 air drums: hands at chest height beating up and down in anti-phase;
* 9 air guitar: strumming hand at the hip at twice the rate, fretting hand sliding slowly;
* 10 other: each hand on a random sum of sinusoids around a random rest point (sometimes one hand).

Every trajectory gets a smooth random wobble (the subject's unsteadiness) on top.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLASSES = (
    "Hand clapping", "Right hand wave", "Left hand wave", "Right arm cw", "Right arm ccw",
    "Left arm cw", "Left arm ccw", "Arm roll", "Air drums", "Air guitar", "Other gestures",
)
# base rate of each gesture in Hz (one cycle = one clap, one wave, one turn ...)
RATE_HZ = (1.6, 1.5, 1.5, 0.7, 0.7, 0.7, 0.7, 1.6, 2.0, 2.0, 1.0)


@dataclass(frozen=True)
class Body:
    """A subject's body in sensor pixels."""

    cx: float
    cy: float  # neck
    scale: float  # S
    hand_radius: float
    circle_aspect: float  # y/x ratio of this subject's arm circles
    circle_tilt: float  # radians
    amplitude: float  # how big this subject's movements are (x1 nominal)
    wobble: float  # pixels of smooth random wobble

    def shoulder(self, side: int) -> np.ndarray:
        """side +1 = subject's left (image right), -1 = subject's right (image left)."""
        return np.array([self.cx + side * 15 * self.scale, self.cy + 4 * self.scale])

    def rest_hand(self, side: int) -> np.ndarray:
        return np.array([self.cx + side * 20 * self.scale, self.cy + 40 * self.scale])


@dataclass
class Pose:
    """Per hand: centres [T, 2] and the joint [T, 2] the forearm is drawn from."""

    hands: list[np.ndarray]
    joints: list[np.ndarray]


def _wobble(t: np.ndarray, amp: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth random 2-D drift: three random sinusoids per axis, 0.3-2.5 Hz."""
    out = np.zeros((len(t), 2))
    for axis in range(2):
        for _ in range(3):
            f, ph = rng.uniform(0.3, 2.5), rng.uniform(0, 2 * np.pi)
            out[:, axis] += amp / 3 * rng.uniform(0.5, 1.5) * np.sin(2 * np.pi * f * t + ph)
    return out


def _const(p: np.ndarray, n: int) -> np.ndarray:
    return np.repeat(np.asarray(p, float)[None], n, 0)


def _circle(centre: np.ndarray, radius: float, theta: np.ndarray, body: Body) -> np.ndarray:
    x, y = radius * np.cos(theta), radius * body.circle_aspect * np.sin(theta)
    c, s = np.cos(body.circle_tilt), np.sin(body.circle_tilt)
    return centre + np.stack([c * x - s * y, s * x + c * y], 1)


def _swing(phi: np.ndarray, direction: int, t: np.ndarray, beta: float = 0.6) -> np.ndarray:
    """Arm angle of a swung arm circle: faster going down than going up (gravity).

    ``dtheta/dt = omega * (1 + beta * direction * cos(theta))``; with y down, ``cos(theta) > 0`` is
    the side where a clockwise (``direction=+1``) hand descends. Integrated with the step of ``t``.
    """
    omega = np.gradient(phi, t) if len(t) > 1 else np.zeros_like(phi)
    theta = np.empty_like(phi)
    theta[0] = direction * phi[0]
    for i in range(1, len(t)):
        th = theta[i - 1]
        theta[i] = th + direction * omega[i] * (1 + beta * direction * np.cos(th)) * (t[i] - t[i - 1])
    return theta


def gesture_pose(label: int, t: np.ndarray, body: Body, speed: float, rng: np.random.Generator) -> Pose:
    """Hand trajectories of gesture ``label`` at times ``t`` (seconds)."""
    S, A, n = body.scale, body.amplitude, len(t)
    phi = 2 * np.pi * RATE_HZ[label] * speed * t + rng.uniform(0, 2 * np.pi)
    chest = np.array([body.cx, body.cy + 18 * S])
    hands: list[np.ndarray]
    joints: list[np.ndarray]
    if label == 0:
        off = (3 + 14 * A * (1 + np.cos(phi)) / 2) * S
        hands = [chest + np.stack([side * off, 2 * S * np.sin(phi)], 1) for side in (-1, 1)]
        joints = [_const(chest + [side * 20 * S, 14 * S], n) for side in (-1, 1)]
    elif label in (1, 2):
        side = -1 if label == 1 else 1
        elbow = body.shoulder(side) + [side * 12 * S, -6 * S]
        theta = 0.55 * A * np.sin(phi)
        hands = [elbow + 18 * S * np.stack([np.sin(theta), -np.cos(theta)], 1)]
        joints = [_const(elbow, n)]
        hands.append(_const(body.rest_hand(-side), n))
        joints.append(_const(body.shoulder(-side), n))
    elif label in (3, 4, 5, 6):
        side = -1 if label in (3, 4) else 1
        direction = 1 if label in (3, 5) else -1
        sh = body.shoulder(side)
        hands = [_circle(sh, 22 * S * A, _swing(phi, direction, t), body)]
        joints = [_const(sh, n)]
        hands.append(_const(body.rest_hand(-side), n))
        joints.append(_const(body.shoulder(-side), n))
    elif label == 7:
        centre = chest + [0, 4 * S]
        sgn = rng.choice([-1, 1])
        hands = [_circle(centre, 8 * S * A, sgn * phi + k * np.pi, body) for k in (0, 1)]
        joints = [_const(chest + [side * 20 * S, 14 * S], n) for side in (-1, 1)]
    elif label == 8:
        hands = [chest + np.stack([np.full(n, side * 15 * S), 10 * S + 10 * S * A * np.sin(phi + k * np.pi)], 1)
                 for k, side in enumerate((-1, 1))]
        joints = [_const(chest + [side * 22 * S, 10 * S], n) for side in (-1, 1)]
    elif label == 9:
        strum = chest + np.stack([np.full(n, -4 * S), 18 * S + 7 * S * A * np.sin(phi)], 1)
        fret = chest + np.stack([24 * S + 4 * S * np.sin(0.25 * phi), np.full(n, -8 * S)], 1)
        hands = [strum, fret]
        joints = [_const(chest + [-20 * S, 12 * S], n), _const(chest + [14 * S, 8 * S], n)]
    elif label == 10:
        hands, joints = [], []
        active = rng.choice([-1, 1]) if rng.random() < 0.4 else 0
        for side in (-1, 1):
            if active and side != active:
                hands.append(_const(body.rest_hand(side), n))
                joints.append(_const(body.shoulder(side), n))
                continue
            rest = chest + [side * rng.uniform(5, 25) * S, rng.uniform(-25, 15) * S]
            path = np.zeros((n, 2))
            for axis in range(2):
                for _ in range(2):
                    f, ph = rng.uniform(0.4, 2.0) * speed, rng.uniform(0, 2 * np.pi)
                    path[:, axis] += rng.uniform(3, 12) * S * A * np.sin(2 * np.pi * f * t + ph)
            hands.append(rest + path)
            joints.append(_const(body.shoulder(side), n))
    else:
        raise ValueError(f"gesture label {label} not in 0..10")
    hands = [h + _wobble(t, body.wobble, rng) for h in hands]
    return Pose(hands=hands, joints=joints)
