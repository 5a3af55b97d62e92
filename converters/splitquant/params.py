"""The ``splitquant`` converter's parameters (apart, so the torch rebuild needs no converter code)."""

from __future__ import annotations

from dataclasses import dataclass

from neuroedge.converters.splitquant.quantize import SCHEMES, check_bits


@dataclass
class SplitQuantParams:
    """Parameters of the ``splitquant`` converter."""

    bits: int = 4  # weight bit width, 2..8
    split: bool = True  # SplitQuant's layer splitting before quantisation (false: plain quantisation)
    # one of quantize.SCHEMES; "paper": asym per channel < 8 bits, sym at 8; *-awmse and *-gptq need calibration
    scheme: str = "paper"
    seed: int = 0  # k-means seed
    input_shape: tuple[int, ...] = ()  # e.g. 1,64; taken from the calibration data when empty
    weights: str | None = None  # state_dict for a "package.module:factory" model
    # .npy, or .npz with x (and y): calibrates sym-per-tensor-act8; otherwise the check inputs (and accuracy)
    calibration: str | None = None  # model inputs: .npy [N, ...] or .npz with x (and y); see README "Calibration data"
    bias_correction: bool = True  # with sym-per-tensor-act8, after calibration
    mode: str = "layerwise"  # or "graph" (brevitas FX; fails on many transformers)
    qonnx: bool = True  # also export QONNX when bits < 8
    check_samples: int = 8  # inputs compared between torch, onnxruntime and qonnx
    # Deploy one layer per split layer, its weight the three quantised parts summed (stored as per-channel
    # codebooks); false: the main ONNX holds the three parts. Equal outputs up to float summation.
    merge: bool = True

    def __post_init__(self) -> None:
        check_bits(self.bits)
        if self.scheme not in SCHEMES:
            raise ValueError(f"scheme {self.scheme!r} is not one of {', '.join(SCHEMES)}")
        if self.mode not in ("layerwise", "graph"):
            raise ValueError(f"mode must be 'layerwise' or 'graph', got {self.mode!r}")
        if any(d <= 0 for d in self.input_shape):
            raise ValueError(f"input_shape {list(self.input_shape)}: every dim must be > 0")
        if self.check_samples < 1:
            raise ValueError("check_samples must be >= 1")
