"""The ``snn-loihi`` network: typed, validated fixed-point layers, and how they are stored.

A network is a feed-forward chain of synaptic layers, each followed by a population of
Loihi LIF compartments (one per output of the layer). Everything is stored the way Lava's
fixed-point models take it, so the Lava worker only instantiates and the fast simulator
copies Lava's arithmetic:

* activations are laid out **XYC** (Lava's order; torch's is CHW), flattened in C order;
* conv kernels are ``[out, kx, ky, in]`` and already **flipped** (Lava's Conv computes a true
  convolution, torch a cross-correlation);
* dense weights are ``[out, in]`` with the columns permuted to the XYC flattening.

Per time step t, for layer l with input spikes s (0/1) from layer l-1 at step t-1::

    a_l[t]  = W_l . s_{l-1}[t-1]                      (Dense: then << weight_exp, or >> -weight_exp)
            = signed_clamp24(conv(s_{l-1}[t-1], K_l))  (Conv: weight_exp is ignored by Lava)
    u[t]    = wrap24( (u[t-1] * (4096 - du - 1)) >>_0 12  +  (a_l[t] << 6) )
    v[t]    = clip24( (v[t-1] * (4096 - dv)) >>_0 12  +  u[t]  +  (bias_mant << bias_exp) )
    spike   = v[t] > (vth << 6)                      (v[0] = v_init, u[0] = 0)
    reset   : v = 0 ("zero", Lava's LIF)  or  v -= vth << 6 ("subtract", neuroedge's LIF model)

where ``>>_0`` rounds toward zero. Conversion uses du = 4095 (u holds one step's input) and
dv = 0 (no leak): integrate-and-fire.

Sigma-delta networks (Loihi 2, ``SigmaDeltaParams``, Lava's ``lava.proc.sdn``) carry **graded**
messages instead: the input is delta-encoded (``InputDelta``), every synapse sums graded values
(the same Dense/Conv arithmetic, int32 for Dense, 24-bit wrap for Conv), and each neuron
accumulates (sigma), applies ReLU and sends the change of its activation once it reaches a
threshold (delta). See ``SigmaDeltaParams`` for the exact fixed-point steps. A network's layers are
all LIF or all sigma-delta.

Lava's Dense keeps 8-bit weights of **one sign** as they are, but when a layer has weights of both
signs it stores a 7-bit magnitude and a sign, rounding odd weights down (3 -> 2, -3 -> -4;
``lava.utils.weightutils.truncate_weights``). A Dense layer whose weights have both signs must
therefore be even (``DenseLayer`` rejects it otherwise; ``lava_dense_weights`` gives what Lava
would use). Lava's Conv keeps odd weights.

Files: ``network.json`` (the graph and scalars) and ``weights.npz`` (``w0, w1, ...`` and
``bias_mant0, ...``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from neuroedge.snn.sigma_delta import InputDelta, NetworkError, SigmaDeltaParams

NETWORK_FILE = "network.json"
WEIGHTS_FILE = "weights.npz"
NETWORK_VERSION = 2  # 2: sigma-delta layers and input_delta (LIF networks are still written as 1)

VTH_MAX = (1 << 17) - 1  # vth is 17-bit unsigned
BIAS_MANT_MIN, BIAS_MANT_MAX = -(1 << 12), (1 << 12) - 1  # 13-bit signed
BIAS_EXP_MAX = 7  # 3-bit
WEIGHT_MIN, WEIGHT_MAX = -256, 254  # 8-bit mixed-sign weights as Lava's Dense keeps them (even values)

Reset = Literal["zero", "subtract"]


@dataclass(frozen=True)
class LIFParams:
    """One LIF population's fixed-point parameters (Loihi ranges are checked)."""

    vth: int
    bias_mant: np.ndarray  # int, shape = the layer's flat size
    bias_exp: int = 0
    du: int = 4095
    dv: int = 0
    reset: Reset = "subtract"
    v_init: int = 0  # v at the start of every sample (the converter uses half a threshold)

    def __post_init__(self) -> None:
        if not 0 <= int(self.vth) <= VTH_MAX:
            raise NetworkError(f"vth {self.vth} outside Loihi's 17-bit range [0, {VTH_MAX}]")
        b = np.asarray(self.bias_mant)
        if b.size and (b.min() < BIAS_MANT_MIN or b.max() > BIAS_MANT_MAX):
            raise NetworkError(f"bias_mant outside 13-bit [{BIAS_MANT_MIN}, {BIAS_MANT_MAX}]")
        if not 0 <= int(self.bias_exp) <= BIAS_EXP_MAX:
            raise NetworkError(f"bias_exp {self.bias_exp} outside [0, {BIAS_EXP_MAX}]")
        for name in ("du", "dv"):
            if not 0 <= int(getattr(self, name)) <= 4095:
                raise NetworkError(f"{name} outside the 12-bit range [0, 4095]")
        if abs(int(self.v_init)) >= 1 << 23:
            raise NetworkError(f"v_init {self.v_init} outside the 24-bit membrane")
        if self.reset not in ("zero", "subtract"):
            raise NetworkError(f"reset must be 'zero' or 'subtract', got {self.reset!r}")
        object.__setattr__(self, "bias_mant", b.astype(np.int32).reshape(-1))

    kind = "lif"

    @property
    def size(self) -> int:
        return int(self.bias_mant.size)


Neuron = LIFParams | SigmaDeltaParams


def lava_dense_weights(w: np.ndarray) -> np.ndarray:
    """The weights Lava's Dense (fixed_pt) actually uses: clipped to 8 bits and, when both signs
    occur, rounded down to even (``lava.utils.weightutils.clip_weights`` + ``truncate_weights``)."""
    w = np.asarray(w).astype(np.int64)
    if w.size and w.min() < 0 < w.max():
        return (np.clip(w, -256, 255) >> 1) << 1
    if w.size and w.max() <= 0:
        return -np.clip(-w, 0, 255)
    return np.clip(w, 0, 255)


@dataclass(frozen=True)
class DenseLayer:
    """``a = (W . s) << weight_exp`` (``>>`` when negative). W: int [out, in], even, in [-256, 254]."""

    name: str
    weights: np.ndarray
    weight_exp: int
    neuron: Neuron
    kind: Literal["dense"] = "dense"

    def __post_init__(self) -> None:
        w = np.asarray(self.weights)
        if w.ndim != 2:
            raise NetworkError(f"{self.name}: dense weights must be 2-D [out, in], got {list(w.shape)}")
        _check_weights(self.name, w)
        if w.size and w.min() < 0 < w.max() and (w % 2 != 0).any():
            i, j = (int(v) for v in np.argwhere(w % 2 != 0)[0])
            raise NetworkError(
                f"{self.name}: dense weights of both signs must be even (weight [{i}, {j}] = {int(w[i, j])}): "
                "Lava's Dense stores them as a 7-bit magnitude and a sign and rounds odd ones down "
                f"({int(w[i, j])} -> {int(lava_dense_weights(w)[i, j])}); use lava_dense_weights(w)")
        if not -8 <= int(self.weight_exp) <= 7:
            raise NetworkError(f"{self.name}: weight_exp {self.weight_exp} outside [-8, 7]")
        object.__setattr__(self, "weights", w.astype(np.int32))
        if self.neuron.size != w.shape[0]:
            raise NetworkError(f"{self.name}: {self.neuron.size} biases for {w.shape[0]} neurons")

    @property
    def in_size(self) -> int:
        return int(self.weights.shape[1])

    @property
    def out_shape(self) -> tuple[int, ...]:
        return (int(self.weights.shape[0]),)

    @property
    def fan_in(self) -> int:
        return self.in_size


@dataclass(frozen=True)
class ConvLayer:
    """``a = signed_clamp24(conv(s, K))``, a true convolution over XYC; K: int [out, kx, ky, in].

    Lava's Conv ignores ``weight_exp``, so a conv layer's scale lives in its threshold and bias.
    """

    name: str
    weights: np.ndarray
    in_shape: tuple[int, int, int]  # X, Y, C
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    neuron: Neuron = field(default=None)  # type: ignore[assignment]
    kind: Literal["conv"] = "conv"

    def __post_init__(self) -> None:
        w = np.asarray(self.weights)
        if w.ndim != 4:
            raise NetworkError(f"{self.name}: conv weights must be 4-D [out, kx, ky, in], got {list(w.shape)}")
        _check_weights(self.name, w)
        object.__setattr__(self, "weights", w.astype(np.int32))
        for key in ("in_shape", "stride", "padding"):
            object.__setattr__(self, key, tuple(int(v) for v in getattr(self, key)))
        if len(self.in_shape) != 3 or self.in_shape[2] != w.shape[3]:
            raise NetworkError(f"{self.name}: in_shape {self.in_shape} does not match kernel {list(w.shape)}")
        x, y, _ = self.out_shape
        if x < 1 or y < 1:
            raise NetworkError(f"{self.name}: output would be empty ({self.out_shape})")
        if self.neuron is None or self.neuron.size != int(np.prod(self.out_shape)):
            raise NetworkError(f"{self.name}: needs one bias per output neuron ({int(np.prod(self.out_shape))})")

    @property
    def kernel(self) -> tuple[int, int]:
        return int(self.weights.shape[1]), int(self.weights.shape[2])

    @property
    def in_size(self) -> int:
        return int(np.prod(self.in_shape))

    @property
    def out_shape(self) -> tuple[int, int, int]:
        (kx, ky), (sx, sy), (px, py) = self.kernel, self.stride, self.padding
        x = (self.in_shape[0] + 2 * px - kx) // sx + 1
        y = (self.in_shape[1] + 2 * py - ky) // sy + 1
        return (x, y, int(self.weights.shape[0]))

    @property
    def fan_in(self) -> int:
        return self.kernel[0] * self.kernel[1] * int(self.weights.shape[3])


Layer = DenseLayer | ConvLayer


def _check_weights(name: str, w: np.ndarray) -> None:
    if not np.issubdtype(w.dtype, np.integer) and not np.all(np.equal(np.mod(w, 1), 0)):
        raise NetworkError(f"{name}: weights must be integers")
    if w.size and (w.min() < WEIGHT_MIN or w.max() > WEIGHT_MAX):
        raise NetworkError(f"{name}: weights in [{w.min()}, {w.max()}], outside 8-bit [{WEIGHT_MIN}, {WEIGHT_MAX}]")


@dataclass(frozen=True)
class SNNNetwork:
    """A chain of layers fed by binary input spikes of ``input_shape`` (XYC, or (n,) for vectors).

    ``input_scale``: a DNN input x becomes a firing probability ``clip(x / input_scale, 0, 1)``
    (see ``neuroedge.snn.encoding``). ``output_scale`` maps the output readout
    (spike count + v / (vth << 6)) back to the DNN's logit scale, for reports.
    """

    input_shape: tuple[int, ...]
    layers: tuple[Layer, ...]
    input_scale: float = 1.0
    output_scale: float = 1.0
    input_layout: str = "xyc"  # how the DNN's input maps: "xyc" for images (from CHW), "flat" for vectors
    meta: dict[str, Any] = field(default_factory=dict)
    input_delta: InputDelta | None = None  # sigma-delta networks: the input's delta encoder

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_shape", tuple(int(v) for v in self.input_shape))
        object.__setattr__(self, "layers", tuple(self.layers))
        if not self.layers:
            raise NetworkError("a network needs at least one layer")
        kinds = {layer.neuron.kind for layer in self.layers}
        if len(kinds) > 1:
            raise NetworkError(f"a network's layers are all LIF or all sigma-delta, got {sorted(kinds)}")
        if (self.neuron == "sigma-delta") != (self.input_delta is not None):
            raise NetworkError("a sigma-delta network needs input_delta, and only it may have one")
        size = int(np.prod(self.input_shape))
        for i, layer in enumerate(self.layers):
            if layer.in_size != size:
                raise NetworkError(f"layer {i} ({layer.name}) takes {layer.in_size} inputs, previous gives {size}")
            size = int(np.prod(layer.out_shape))

    @property
    def depth(self) -> int:
        """Synaptic layers = time steps of pipeline delay from input to the last layer."""
        return len(self.layers)

    @property
    def n_outputs(self) -> int:
        return int(np.prod(self.layers[-1].out_shape))

    @property
    def neuron(self) -> str:
        """"lif" (binary spikes, rate coding) or "sigma-delta" (graded messages)."""
        return self.layers[0].neuron.kind


def layer_to_json(layer: Layer, index: int) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": layer.kind, "name": layer.name, "weights": f"w{index}",
                           "out_shape": list(layer.out_shape)}
    if isinstance(layer.neuron, SigmaDeltaParams):
        out["sigma_delta"] = {"vth": layer.neuron.vth, "state_exp": layer.neuron.state_exp,
                              "activation": layer.neuron.activation}
        out["bias"] = f"bias{index}"
    else:
        out["lif"] = {k: v for k, v in asdict(layer.neuron).items() if k != "bias_mant"}
        out["bias_mant"] = f"bias_mant{index}"
    if isinstance(layer, DenseLayer):
        out["weight_exp"] = int(layer.weight_exp)
    else:
        out.update(in_shape=list(layer.in_shape), stride=list(layer.stride), padding=list(layer.padding))
    return out


def save_network(net: SNNNetwork, folder: Path) -> None:
    """Write ``network.json`` and ``weights.npz`` into ``folder``."""
    arrays: dict[str, np.ndarray] = {}
    layers = []
    for i, layer in enumerate(net.layers):
        arrays[f"w{i}"] = layer.weights.astype(np.int16)
        if isinstance(layer.neuron, SigmaDeltaParams):
            arrays[f"bias{i}"] = layer.neuron.bias.astype(np.int32)
        else:
            arrays[f"bias_mant{i}"] = layer.neuron.bias_mant.astype(np.int16)
        layers.append(layer_to_json(layer, i))
    sd = net.input_delta is not None
    doc = {"network_version": NETWORK_VERSION if sd else 1, "input_shape": list(net.input_shape),
           "input_scale": net.input_scale, "output_scale": net.output_scale,
           "input_layout": net.input_layout, "meta": net.meta, "layers": layers}
    if sd:
        doc["input_delta"] = asdict(net.input_delta)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / NETWORK_FILE).write_text(json.dumps(doc, indent=2) + "\n")
    with open(folder / WEIGHTS_FILE, "wb") as f:
        np.savez_compressed(f, **arrays)


def load_network(folder: Path) -> SNNNetwork:
    """Read and validate a network; every problem is a NetworkError naming the file."""
    path = Path(folder) / NETWORK_FILE
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise NetworkError(f"{path}: cannot read ({exc})") from None
    version = doc.get("network_version")
    if not isinstance(version, int) or version > NETWORK_VERSION:
        raise NetworkError(f"{path}: network_version {version!r} is newer than this neuroedge reads "
                           f"({NETWORK_VERSION}); upgrade neuroedge")
    with np.load(Path(folder) / WEIGHTS_FILE) as z:
        arrays = {k: z[k] for k in z.files}
    layers: list[Layer] = []
    try:
        for i, item in enumerate(doc["layers"]):
            if "sigma_delta" in item:
                lif: Neuron = SigmaDeltaParams(bias=arrays[item["bias"]], **item["sigma_delta"])
            else:
                lif = LIFParams(bias_mant=arrays[item["bias_mant"]], **item["lif"])
            w = arrays[item["weights"]]
            if item["kind"] == "dense":
                layers.append(DenseLayer(item["name"], w, int(item["weight_exp"]), lif))
            elif item["kind"] == "conv":
                layers.append(ConvLayer(item["name"], w, tuple(item["in_shape"]), tuple(item["stride"]),
                                        tuple(item["padding"]), lif))
            else:
                raise NetworkError(f"layer {i}: unknown kind {item['kind']!r}")
        return SNNNetwork(tuple(doc["input_shape"]), tuple(layers), float(doc["input_scale"]),
                          float(doc["output_scale"]), doc.get("input_layout", "xyc"), doc.get("meta", {}),
                          InputDelta(**doc["input_delta"]) if "input_delta" in doc else None)
    except (KeyError, TypeError) as exc:
        raise NetworkError(f"{path}: malformed ({type(exc).__name__}: {exc})") from None
    except NetworkError as exc:
        raise NetworkError(f"{path}: {exc}") from None
