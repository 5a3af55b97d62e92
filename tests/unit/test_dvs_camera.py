"""The event-camera model: threshold crossings, polarity, refractory period, noise."""

from __future__ import annotations

import numpy as np

from neuroedge.data.dvs.camera import (
    CameraParams,
    noise_events,
    pixel_thresholds,
    to_tonic_rows,
    video_to_events,
)

QUIET = CameraParams(threshold_sigma=0.0, read_noise=0.0, background_rate_hz=0.0, hot_pixels=0)


def test_ramp_gives_one_event_per_threshold_crossing_at_the_crossing_time():
    # one pixel, log intensity rising linearly by 1.0 over 100 ms; C = 0.3 -> 3 ON events
    times = np.linspace(0, 100, 11)
    video = np.linspace(0, 1.0, 11, dtype=np.float32)[:, None, None]
    rows = video_to_events(video, times, np.full(1, 0.3, np.float32), QUIET, np.random.default_rng(0))
    assert rows.shape == (3, 3)
    assert np.all(rows[:, 1] == 1)  # ON
    np.testing.assert_allclose(np.sort(rows[:, 2]), [30, 60, 90], atol=1e-3)


def test_falling_intensity_gives_off_events_and_static_pixels_stay_silent():
    times = np.arange(5) * 10.0
    video = np.zeros((5, 1, 2), np.float32)
    video[:, 0, 0] = [0, -0.35, -0.7, -0.7, -0.7]  # pixel 0 darkens twice past C
    rows = video_to_events(video, times, np.full(2, 0.3, np.float32), QUIET, np.random.default_rng(0))
    assert len(rows) == 2 and np.all(rows[:, 1] == 0) and np.all(rows[:, 0] == 0)


def test_refractory_period_drops_events_too_close_together():
    # a jump of 3*C in one 1 ms step: three crossings 0.33 ms apart, refractory 1 ms -> the first only
    times = np.array([0.0, 1.0])
    video = np.array([0.0, 0.95], np.float32)[:, None, None]
    params = CameraParams(threshold_sigma=0.0, read_noise=0.0, refractory_ms=1.0)
    rows = video_to_events(video, times, np.full(1, 0.3, np.float32), params, np.random.default_rng(0))
    assert len(rows) == 1


def test_moving_bright_bar_has_on_events_ahead_and_off_behind():
    # a bright bar 4 px wide moving right, 1 px per step, on a dark background
    steps, width = 20, 40
    video = np.full((steps, 1, width), np.log(0.1), np.float32)
    for i in range(steps):
        video[i, 0, 5 + i:9 + i] = np.log(0.8)
    rows = video_to_events(video, np.arange(steps) * 5.0, np.full(width, 0.3, np.float32), QUIET,
                           np.random.default_rng(0))
    x = rows[:, 0]
    last = rows[:, 2] >= rows[:, 2].max() - 5  # events of the last step
    assert x[last & (rows[:, 1] == 1)].mean() > x[last & (rows[:, 1] == 0)].mean()


def test_noise_rates_and_hot_pixels():
    params = CameraParams(background_rate_hz=0.5, hot_rate_hz=200.0)
    rng = np.random.default_rng(1)
    hot = np.array([7, 99])
    rows = noise_events(1000, 0.0, 2000.0, params, 1.0, hot, rng)
    n_hot = np.isin(rows[:, 0], hot).sum()
    assert abs(n_hot - 2 * 200 * 2) < 4 * np.sqrt(800) + 5  # Poisson, 800 expected (+ background)
    assert abs((len(rows) - n_hot) - 1000 * 0.5 * 2) < 4 * np.sqrt(1000)
    assert set(np.unique(rows[:, 1])) == {0.0, 1.0}


def test_threshold_mismatch_and_tonic_row_format():
    c = pixel_thresholds(10_000, CameraParams(threshold=0.3, threshold_sigma=0.04), np.random.default_rng(0))
    assert abs(c.mean() - 0.3) < 0.005 and abs(c.std() - 0.04) < 0.005 and c.min() >= 0.12
    rows = np.array([[130.0, 1, 5.7], [2.0, 0, 1.2]])
    out = to_tonic_rows(rows, width=128)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, [[2, 0, 0, 1], [2, 1, 1, 5]])  # sorted by t, t floored to ms
