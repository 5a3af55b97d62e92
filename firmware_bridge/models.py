"""Small models for the firmware's tests, benchmark and demo: trained on sklearn's digits in seconds,
plus a random int8 model that exercises every kernel the firmware has (and its edge cases)."""

from __future__ import annotations

import numpy as np

from neuroedge.firmware_bridge.blob import (
    AvgPool2d,
    Layer,
    LayerType,
    MaxPool2d,
    Model,
    ReLU,
    make_layer,
    weight_shape,
)


def digits_mlp(hidden: int = 32) -> object:
    from torch import nn

    return nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))


def digits_cnn() -> object:
    """Input [N, 1, 8, 8]: conv, maxpool, depthwise conv, conv (stride 2), avgpool, dense."""
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1, groups=8),
        nn.BatchNorm2d(8),
        nn.ReLU6(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(16, 10),
    )


def train(model: object, x: np.ndarray, y: np.ndarray, steps: int = 300, seed: int = 0) -> object:
    """Full-batch Adam: enough for digits to reach the mid-90s within seconds on 2 cores."""
    import torch

    torch.manual_seed(seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()
    return model.eval()


def trained_digits(
    kind: str = "mlp", steps: int = 150, seed: int = 0, cache: str | None = ".cache/firmware_bridge"
) -> tuple[object, dict[str, np.ndarray]]:
    """(model, data) with data = x_train, y_train, x_test, y_test in the model's own input layout.

    The state_dict is cached (``cache``; None disables it), so only the first call trains.
    """
    from pathlib import Path

    import torch

    from neuroedge.data.digits import as_images, load_digits_split

    torch.manual_seed(seed)
    x_tr, y_tr, x_te, y_te = load_digits_split()
    if kind == "cnn":
        x_tr, x_te = as_images(x_tr), as_images(x_te)
        model = digits_cnn()
    else:
        model = digits_mlp()
    path = Path(cache) / f"digits_{kind}_s{steps}_seed{seed}.pt" if cache else None
    if path is not None and path.is_file():
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        model.eval()
    else:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # small tensors: one thread is faster than two fighting on a busy box
        try:
            model = train(model, x_tr, y_tr, steps, seed)
        finally:
            torch.set_num_threads(threads)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            torch.save(model.state_dict(), tmp)
            tmp.replace(path)
    return model, {"x_train": x_tr, "y_train": y_tr, "x_test": x_te, "y_test": y_te}


def _weighted(
    rng: np.random.Generator,
    ltype: LayerType,
    in_shape: tuple[int, int, int],
    out_shape: tuple[int, int, int],
    kernel=(1, 1),
    stride=(1, 1),
    pad=(0, 0),
    shift_range=(-14, -5),
    relu=False,
    zero_mult: bool = False,
) -> Layer:
    oc = out_shape[2]
    wshape = weight_shape(ltype, in_shape, out_shape, kernel)
    out_zp = int(rng.integers(-20, 20))
    mult = rng.integers(2**30, 2**31 - 1, oc, endpoint=True)
    if zero_mult:
        mult[0] = 0  # a channel whose scale underflowed: output is the zero point
    return make_layer(
        ltype,
        in_shape=in_shape,
        out_shape=out_shape,
        kernel=kernel,
        stride=stride,
        pad=pad,
        in_offset=int(rng.integers(-20, 20)),
        out_offset=out_zp,
        act_min=out_zp if relu else -128,
        act_max=127,
        bias=rng.integers(-5000, 5000, oc),
        mult=mult,
        shift=rng.integers(shift_range[0], shift_range[1], oc, endpoint=True),
        weights=rng.integers(-127, 128, wshape).astype(np.int8),
    )


def random_all_ops(seed: int = 0) -> Model:
    """A random int8 model on a 9x9x3 input that uses every layer type, odd sizes, strides, padding,
    a depth multiplier, a saturating positive shift, a zero multiplier, and a standalone ReLU."""
    rng = np.random.default_rng(seed)
    layers = [
        _weighted(rng, LayerType.CONV2D, (9, 9, 3), (5, 5, 6), (3, 3), (2, 2), (1, 1), relu=True),
        _weighted(rng, LayerType.DWCONV2D, (5, 5, 6), (5, 5, 12), (3, 3), (1, 1), (1, 1)),
        ReLU((5, 5, 12), (5, 5, 12), act_min=-3, act_max=100),
        MaxPool2d((5, 5, 12), (3, 3, 12), (3, 3), (2, 2), (1, 1)),
        AvgPool2d((3, 3, 12), (2, 2, 12), (2, 2), (2, 2), (1, 1), act_min=-100, act_max=90),
        _weighted(rng, LayerType.CONV2D, (2, 2, 12), (2, 2, 8), (1, 1), shift_range=(-12, 2)),
        _weighted(rng, LayerType.DENSE, (1, 1, 32), (1, 1, 10), shift_range=(-10, -6), zero_mult=True),
    ]
    return Model(layers, 0.05, int(rng.integers(-10, 10)), 0.1, layers[-1].out_offset)
