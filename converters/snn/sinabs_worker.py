"""Runs a NIR file in sinabs 3.1.3 (nir 1.0.4). sinabs' venv only (``.venv-sinabs``); imports nothing
from neuroedge.

    .venv-sinabs/bin/python sinabs_worker.py model.nir spikes.npy out.npy

``spikes.npy``: float32 (B, T, *input_shape) input spikes in torch layout. ``out.npy``: float64
(B, n_out), the output IF layer's spike count over T steps plus its final membrane voltage (the
same readout as neuroedge's float SNN). The model is ``sinabs.from_nir(nir.read(path), batch_size=B)``.
"""

from __future__ import annotations

import sys

import nir
import numpy as np
import sinabs
import sinabs.layers as sl
import torch


def main(path: str, spikes_path: str, out_path: str) -> int:
    spikes = torch.from_numpy(np.load(spikes_path)).float()
    b, t = spikes.shape[:2]
    model = sinabs.from_nir(nir.read(path), batch_size=b)
    neurons = [m for m in model.modules() if isinstance(m, (sl.IAF, sl.IAFSqueeze))]
    with torch.no_grad():
        out = model(spikes.reshape((b * t,) + tuple(spikes.shape[2:])))
    while isinstance(out, (tuple, list)):  # nirtorch's executor may return (output, state)
        out = out[0]
    counts = out.reshape(b, t, -1).sum(1)
    v = neurons[-1].v_mem.reshape(b, -1)
    np.save(out_path, (counts + v).double().numpy())
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
