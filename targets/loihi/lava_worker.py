"""Runs an snn-loihi network in Lava (lava-nc 0.10, Loihi2SimCfg fixed_pt). Lava's venv only.

It is started by ``neuroedge.targets.loihi.lava`` as ``.venv-lava/bin/python lava_worker.py JOBDIR``
and imports nothing from neuroedge (Lava needs Python 3.10 and numpy<2; the toolkit does not).

Protocol (files in JOBDIR; all arrays little-endian numpy):

* in  ``network.json`` + ``weights.npz``: the network as ``neuroedge.snn.network`` saves it
  (weights already in Lava's layout: XYC activations, flipped ``[out, kx, ky, in]`` kernels).
* in  ``request.json``: ``{"steps": P, "record": [layer indices whose spikes to return]}``.
* in  ``spikes.npy``: bool (B, P, n_in) input spikes, flat in XYC order.
* out ``result.npz``: ``counts{l}`` int32 (B, N_l) for every layer, ``spikes{l}`` bool (B, P, N_l)
  for recorded layers, ``v_out`` int64 (B, N_last): the output layer's final voltage.
* out ``result.json``: ``{"build_s", "run_s", "per_sample_s": [...], "lava_version", "steps"}``.
* stdout: one line ``progress i/B`` per finished sample; stderr: Lava's own output and any
  traceback. Exit status 0 on success; anything else is a failure and the host shows stderr's tail.

Sigma-delta networks (``"neuron": "sigma-delta"`` in request.json) read ``values.npy``, int32
(B, P, n_in) input values per step, one stream per row, and write ``msgs_in`` and ``msgs{l}``, int32
(B, P, N_l): every graded message of the input encoder and of each layer (``build_sd``).

Each sample runs P steps; between samples every LIF's u (to 0) and v (to its ``v_init``) and
every synapse's buffered output (Dense ``a_buff``, Conv ``a_buf``, to 0) are set back, so samples are independent, as in
the fast simulator. Reset-by-subtraction is ``PyLifSubtractModelBitAcc`` below: Lava's
bit-accurate LIF with ``v -= vth << 6`` in place of ``v = 0``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.ports import PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.conv.process import Conv
from lava.proc.dense.process import Dense
from lava.proc.io.sink import RingBuffer as SinkBuffer
from lava.proc.io.source import RingBuffer as SourceBuffer
from lava.proc.lif.models import AbstractPyLifModelFixed
from lava.proc.lif.process import LIF
from lava.proc.sdn.process import ActivationMode, Delta, SigmaDelta


class LIFSubtract(LIF):
    """Lava's LIF process, run by a model that resets by subtracting the threshold."""


@implements(proc=LIFSubtract, protocol=LoihiProtocol)
@requires(CPU)
@tag("bit_accurate_loihi", "fixed_pt")
class PyLifSubtractModelBitAcc(AbstractPyLifModelFixed):
    """lava.proc.lif.models.PyLifModelBitAcc with reset-by-subtraction: ``v -= vth << 6`` on a spike.

    Everything else (24-bit u wrap, v saturation, bias and threshold scaling) is inherited from
    ``AbstractPyLifModelFixed``, so the dynamics are Lava's own.
    """

    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    vth: int = LavaPyType(int, np.int32, precision=17)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.effective_vth = 0

    def scale_threshold(self):
        self.effective_vth = np.left_shift(self.vth, self.vth_shift)
        self.isthrscaled = True

    def spiking_activation(self):
        return self.v > self.effective_vth

    def reset_voltage(self, spike_vector: np.ndarray):
        self.v[spike_vector] -= self.effective_vth


def synapse(item: dict, arrays: dict, prev_port: Any, prev_shape: tuple, message_bits: int) -> Any:
    """The layer's Dense or Conv process, fed from ``prev_port`` (flattened or reshaped to fit).

    ``message_bits``: 0 for binary spikes (LIF), 24 for graded sigma-delta messages.
    """
    w = arrays[item["weights"]]
    if item["kind"] == "dense":
        syn = Dense(weights=w, weight_exp=int(item["weight_exp"]), num_message_bits=message_bits)
        port = prev_port if len(prev_shape) == 1 else prev_port.flatten()
    else:
        syn = Conv(weight=w, input_shape=tuple(item["in_shape"]), padding=tuple(item["padding"]),
                   stride=tuple(item["stride"]), num_message_bits=message_bits)
        port = prev_port if prev_shape == tuple(item["in_shape"]) else prev_port.reshape(tuple(item["in_shape"]))
    port.connect(syn.s_in)
    return syn


def build(job: Path, steps: int, record: list[int], first: np.ndarray):
    doc = json.loads((job / "network.json").read_text())
    with np.load(job / "weights.npz") as z:
        arrays = {k: z[k].astype(np.int32) for k in z.files}
    in_shape = tuple(doc["input_shape"])
    source = SourceBuffer(data=as_source(first, in_shape))
    prev_port, prev_shape = source.s_out, in_shape
    lifs, synapses, sinks = [], [], {}
    n = len(doc["layers"])
    for i, item in enumerate(doc["layers"]):
        out_shape = tuple(item["out_shape"])
        syn = synapse(item, arrays, prev_port, prev_shape, message_bits=0)
        lif_p = item["lif"]
        cls = LIFSubtract if lif_p["reset"] == "subtract" else LIF
        bias = arrays[item["bias_mant"]].reshape(out_shape)
        v_init = int(lif_p.get("v_init", 0))
        lif = cls(shape=out_shape, du=int(lif_p["du"]), dv=int(lif_p["dv"]), vth=int(lif_p["vth"]),
                  bias_mant=bias, bias_exp=int(lif_p["bias_exp"]), v=np.full(out_shape, v_init))
        lif.v_init_value = v_init
        syn.a_out.connect(lif.a_in)
        if i in record or i == n - 1:
            sink = SinkBuffer(shape=out_shape, buffer=steps)
            lif.s_out.connect(sink.a_in)
            sinks[i] = sink
        lifs.append(lif)
        synapses.append(syn)
        prev_port, prev_shape = lif.s_out, out_shape
    return in_shape, source, lifs, synapses, sinks


def as_source(spikes: np.ndarray, in_shape: tuple[int, ...]) -> np.ndarray:
    """(P, n_in) flat XYC spikes -> the source's (*in_shape, P) int32 buffer."""
    steps = spikes.shape[0]
    return np.ascontiguousarray(np.moveaxis(spikes.astype(np.int32).reshape((steps,) + in_shape), 0, -1))


def build_sd(job: Path, steps: int, first: np.ndarray):
    """A sigma-delta network from Lava's own processes: Source -> Delta -> [Conv|Dense -> SigmaDelta]*.

    Synapses carry graded messages (``num_message_bits=24``); every population is sunk so that each
    message can be compared.
    """
    doc = json.loads((job / "network.json").read_text())
    with np.load(job / "weights.npz") as z:
        arrays = {k: z[k].astype(np.int32) for k in z.files}
    in_shape = tuple(doc["input_shape"])
    source = SourceBuffer(data=as_source(first, in_shape))
    enc = Delta(shape=in_shape, vth=int(doc["input_delta"]["vth"]))
    source.s_out.connect(enc.a_in)
    sinks = {-1: SinkBuffer(shape=in_shape, buffer=steps)}
    enc.s_out.connect(sinks[-1].a_in)
    prev_port, prev_shape = enc.s_out, in_shape
    neurons, synapses = [enc], []
    for i, item in enumerate(doc["layers"]):
        out_shape = tuple(item["out_shape"])
        syn = synapse(item, arrays, prev_port, prev_shape, message_bits=24)
        p = item["sigma_delta"]
        mode = ActivationMode.RELU if p["activation"] == "relu" else ActivationMode.UNIT
        sd = SigmaDelta(shape=out_shape, vth=int(p["vth"]), bias=arrays[item["bias"]].reshape(out_shape),
                        act_mode=mode, state_exp=int(p["state_exp"]))
        syn.a_out.connect(sd.a_in)
        sinks[i] = SinkBuffer(shape=out_shape, buffer=steps)
        sd.s_out.connect(sinks[i].a_in)
        neurons.append(sd)
        synapses.append(syn)
        prev_port, prev_shape = sd.s_out, out_shape
    return in_shape, source, neurons, synapses, sinks


def main_sd(job: Path, steps: int) -> int:
    values = np.load(job / "values.npy")  # (B, steps, n_in) int32 input values per step
    b = values.shape[0]
    t0 = time.perf_counter()
    in_shape, source, neurons, synapses, sinks = build_sd(job, steps, values[0])
    cfg = Loihi2SimCfg(select_tag="fixed_pt")
    out = {i: np.zeros((b, steps, int(np.prod(s.shape))), np.int32) for i, s in sinks.items()}
    per_sample, build_s = [], None
    last = neurons[-1]
    try:
        for k in range(b):
            s0 = time.perf_counter()
            if k > 0:  # a new stream: every state back to zero
                source.data.set(as_source(values[k], in_shape))
                for n in neurons:
                    for var in ("act", "residue", "error") + (("sigma",) if isinstance(n, SigmaDelta) else ()):
                        getattr(n, var).set(np.zeros(getattr(n, var).shape))
                for syn in synapses:
                    buf = syn.a_buff if isinstance(syn, Dense) else syn.a_buf
                    buf.set(np.zeros(buf.shape))
            last.run(condition=RunSteps(num_steps=steps), run_cfg=cfg)
            if k == 0:
                build_s = time.perf_counter() - t0
            for i, sink in sinks.items():
                out[i][k] = np.rint(np.moveaxis(sink.data.get(), -1, 0).reshape(steps, -1)).astype(np.int32)
            per_sample.append(time.perf_counter() - s0)
            print(f"progress {k + 1}/{b}", flush=True)
    finally:
        last.stop()
    np.savez(job / "result.npz", **{f"msgs{i}" if i >= 0 else "msgs_in": m for i, m in out.items()})
    import lava

    meta = {"build_s": build_s, "run_s": float(sum(per_sample)), "per_sample_s": per_sample,
            "steps": steps, "lava_version": getattr(lava, "__version__", "0.10.0")}
    (job / "result.json").write_text(json.dumps(meta))
    return 0


def main(job: Path) -> int:
    req = json.loads((job / "request.json").read_text())
    if req.get("neuron") == "sigma-delta":
        return main_sd(job, int(req["steps"]))
    steps, record = int(req["steps"]), [int(i) for i in req.get("record", [])]
    spikes = np.load(job / "spikes.npy")
    b = spikes.shape[0]
    t0 = time.perf_counter()
    in_shape, source, lifs, synapses, sinks = build(job, steps, record, spikes[0])
    n = len(lifs)
    cfg = Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map={LIFSubtract: PyLifSubtractModelBitAcc})
    counts = [np.zeros((b, int(np.prod(lif.v.shape))), np.int32) for lif in lifs]
    rasters = {i: np.zeros((b, steps, int(np.prod(lifs[i].v.shape))), bool) for i in record}
    v_out = np.zeros((b, int(np.prod(lifs[-1].v.shape))), np.int64)
    per_sample, build_s = [], None
    try:
        for k in range(b):
            s0 = time.perf_counter()
            # Lava plays data[..., (t-1) % steps]: a run of exactly `steps` starts at column 0.
            if k > 0:
                source.data.set(as_source(spikes[k], in_shape))
                for lif in lifs:
                    lif.u.set(np.zeros(lif.v.shape))
                    lif.v.set(np.full(lif.v.shape, lif.v_init_value))
                for syn in synapses:
                    buf = syn.a_buff if isinstance(syn, Dense) else syn.a_buf
                    buf.set(np.zeros(buf.shape))
                lifs[-1].run(condition=RunSteps(num_steps=steps), run_cfg=cfg)
            else:
                lifs[-1].run(condition=RunSteps(num_steps=steps), run_cfg=cfg)
                build_s = time.perf_counter() - t0
            for i, sink in sinks.items():
                rec = sink.data.get()  # (*shape, steps)
                flat = np.moveaxis(rec, -1, 0).reshape(steps, -1) != 0
                counts[i][k] = flat.sum(axis=0)
                if i in rasters:
                    rasters[i][k] = flat
            v_out[k] = np.rint(lifs[-1].v.get()).astype(np.int64).reshape(-1)
            per_sample.append(time.perf_counter() - s0)
            print(f"progress {k + 1}/{b}", flush=True)
    finally:
        lifs[-1].stop()
    # Layers that were not sunk have no counts from Lava: mark them with -1.
    out = {f"counts{i}": (counts[i] if i in sinks else np.full_like(counts[i], -1)) for i in range(n)}
    out.update({f"spikes{i}": r for i, r in rasters.items()})
    out["v_out"] = v_out
    np.savez(job / "result.npz", **out)
    import lava

    meta = {"build_s": build_s, "run_s": float(sum(per_sample)), "per_sample_s": per_sample,
            "steps": steps, "lava_version": getattr(lava, "__version__", "0.10.0")}
    (job / "result.json").write_text(json.dumps(meta))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: lava_worker.py JOBDIR", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(Path(sys.argv[1])))
