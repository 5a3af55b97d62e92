"""Recurrent state a runner carries from call to call, as the manifest's ``state`` pairs declare.

A caller feeds only the data inputs (``manifest.data_inputs``); each call's state outputs become the
next call's state inputs, zeros before the first call and after ``reset``. Every runner that takes
bundles with state (onnxruntime, torch) uses this one piece.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neuroedge.manifest import Manifest


class CarriedState:
    def __init__(self, manifest: Manifest) -> None:
        self.pairs = manifest.state
        self.all_inputs = manifest.inputs
        self.values: dict[str, np.ndarray] = {}

    def full_inputs(self, data: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Every input in the manifest's order: ``data`` plus the carried state (zeros at first)."""
        batch = 1
        for spec in self.all_inputs:  # the batch from the first data input's named axis (not always axis 0)
            if spec.name in data and np.ndim(data[spec.name]):
                named = [i for i, d in enumerate(spec.shape) if isinstance(d, str)]
                axis = named[0] if named and named[0] < np.ndim(data[spec.name]) else 0
                batch = int(np.shape(data[spec.name])[axis])
                break
        out = []
        for spec in self.all_inputs:
            if spec.name in data:
                out.append(data[spec.name])
            else:
                value = self.values.get(spec.name)
                out.append(np.zeros(spec.concrete_shape(batch), spec.dtype) if value is None else value)
        return out

    def update(self, outputs: dict[str, Any]) -> None:
        if self.pairs:
            self.values = {p.input: np.asarray(outputs[p.output]) for p in self.pairs}

    def reset(self) -> None:
        self.values = {}
