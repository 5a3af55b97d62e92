"""DNN -> SNN benchmark: accuracy vs timesteps, Lava vs snn-fast spike for spike, cores, energy.

    .venv/bin/python benchmarks/snn.py [--lava-samples 3] [--lava-timesteps 64] [--skip-lava] [--only small|sdnn]

Networks: the gesture CNN on the synthetic DVS gesture set's held-out subjects (when
``examples/gesture_snn/train.py`` has cached its weights and frames), and sklearn digits' CNN
(always). Writes ``benchmarks/results/snn.json`` and ``snn_accuracy_vs_timesteps.png``,
``snn_raster.png``. The main network (gesture if present, else digits) gives the top-level keys.

* Accuracy at T timesteps: the run is T + depth steps (one step of pipeline delay per synaptic
  layer), the readout is the output layer's spike count + v / threshold. One run of 256 + depth
  steps gives every shorter T, since the input encoding of a shorter run is a prefix of it.
* Fidelity: ``fixed_dnn_agreement`` is how often the fixed-point SNN picks the DNN's class, right
  or wrong, at each T; the per-layer report compares rates with activations (see
  ``neuroedge.converters.snn.report``).
* Fast vs Lava: the same network and the same input spikes, in one run; every layer's spikes
  are compared. samples/s: Lava per sample after its first (compile) sample; snn-fast batched.
* Energy: synaptic operations per sample x 23.6 pJ (Davies et al. 2018).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from neuroedge.converters.snn import Conversion, convert_model  # noqa: E402
from neuroedge.converters.snn.float_snn import simulate_float  # noqa: E402
from neuroedge.converters.snn.report import format_report, layer_report  # noqa: E402
from neuroedge.results import RESULTS_DIR, write_results  # noqa: E402
from neuroedge.snn import encoding  # noqa: E402
from neuroedge.snn.resources import ENERGY_SOURCE, SYNOP_PJ, core_report, energy_uj  # noqa: E402
from neuroedge.targets.loihi import fast  # noqa: E402
from neuroedge.targets.loihi.lava import lava_status, run_lava  # noqa: E402

TIMESTEPS = (16, 32, 64, 128, 256)
PAPER_CORES = 37  # Massa et al. 2020, gesture CNN on Loihi


def say(msg: str) -> None:
    print(f"[snn bench] {msg}", flush=True)


def dnn_logits(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return np.concatenate([model(torch.from_numpy(np.asarray(x[i:i + 256], dtype=np.float32))).numpy()
                               for i in range(0, len(x), 256)])


def dnn_predictions(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    return dnn_logits(model, x).argmax(1)


def dnn_accuracy(model: torch.nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    return float((dnn_predictions(model, x) == y).mean() * 100)


def load_digits() -> tuple[str, torch.nn.Module, np.ndarray, np.ndarray, np.ndarray]:
    from examples.digits.train import FACTORIES, ensure_trained
    from neuroedge.data.digits import as_images, load_digits_split
    from neuroedge.modelref import load_state_dict

    model = FACTORIES["digits_cnn"]()
    model.load_state_dict(load_state_dict(ensure_trained("digits_cnn")))
    x_tr, _, x_te, y_te = load_digits_split(0)
    return "digits_cnn", model.eval(), as_images(x_tr), as_images(x_te), y_te


def load_gesture() -> tuple[str, torch.nn.Module, np.ndarray, np.ndarray, np.ndarray] | str:
    """The gesture CNN and its frames, or the reason they are not there."""
    try:
        from examples.gesture_snn.model import load_trained
        from neuroedge.data.dvs import FrameParams, load_frame_set

        cache = REPO / ".cache" / "gesture_snn"
        meta = json.loads((cache / "gesture_cnn.json").read_text())
        params = FrameParams(**meta["settings"]["frames"])
        model = load_trained(cache / "gesture_cnn.pt")
        train = load_frame_set(cache / "data", True, params, cache_dir=cache / "frames")
        test = load_frame_set(cache / "data", False, params, cache_dir=cache / "frames")
        # train.py's calibration frames: a seeded random sample of the training set (the first
        # 1000 frames are ordered by subject and class, a biased sample). The demo uses the same.
        calib = cache / "calibration.npy"
        x_cal = np.load(calib) if calib.is_file() else train.x
    except Exception as exc:  # the other pipeline is optional here: report why it is missing
        return f"gesture CNN not available ({type(exc).__name__}: {exc}); run examples/gesture_snn/train.py"
    return "gesture_cnn", model, x_cal, test.x, test.y


def accuracy_sweep(conv: Conversion, x: np.ndarray, y: np.ndarray, dnn_pred: np.ndarray) -> dict[str, Any]:
    net = conv.network
    steps = max(TIMESTEPS) + net.depth
    at = tuple(t + net.depth for t in TIMESTEPS)
    t0 = time.perf_counter()
    res = fast.simulate(net, encoding.encode(x, net.input_scale, steps), readout_at=at)
    fast_s = time.perf_counter() - t0
    _, _, float_at = simulate_float(conv.float_layers, x, conv.input_scale, steps, readout_at=at)
    fixed = {t: float((res.readout_at[t + net.depth].argmax(1) == y).mean() * 100) for t in TIMESTEPS}
    flt = {t: float((float_at[t + net.depth].argmax(1) == y).mean() * 100) for t in TIMESTEPS}
    # Fidelity: how often the fixed-point SNN picks the DNN's class (right or wrong); more sensitive than
    # the accuracy gap, where flips in both directions partly cancel.
    agree = {t: float((res.readout_at[t + net.depth].argmax(1) == dnn_pred).mean() * 100) for t in TIMESTEPS}
    rows = layer_report(conv.float_layers, conv.input_scale, x, res.counts, res.readout, max(TIMESTEPS),
                        steps_run=steps)
    return {"fixed": fixed, "float": flt, "agree": agree, "result": res, "layer_report": rows, "fast_s": fast_s}


def lava_vs_fast(conv: Conversion, x: np.ndarray, samples: int, timesteps: int) -> dict[str, Any]:
    net = conv.network
    steps = timesteps + net.depth
    spikes = encoding.encode(x[:samples], net.input_scale, steps)
    ref = fast.simulate(net, spikes, record=True)
    say(f"Lava: {samples} samples x {steps} steps ({net.depth} layers) ...")
    got = run_lava(net, spikes, record=tuple(range(net.depth)), timeout_s=3000,
                   progress=lambda i, n: say(f"  Lava sample {i}/{n}"))
    per_layer = []
    for i, layer in enumerate(net.layers):
        per_layer.append({"layer": layer.name, "kind": layer.kind, "spikes": int(ref.spikes[i].sum()),
                          "mismatches": int((ref.spikes[i] != got.spikes[i]).sum())})
    # snn-fast speed on the same inputs: the same samples tiled into a batch of 64 (its way of running).
    batch = np.concatenate([spikes] * max(1, 64 // samples))
    t0 = time.perf_counter()
    fast.simulate(net, batch)
    fast_sps = len(batch) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    fast.simulate(net, spikes)
    fast_same_sps = samples / (time.perf_counter() - t0)
    lava_steady = got.per_sample_s[1:] or got.per_sample_s
    lava_sps = 1.0 / float(np.mean(lava_steady))
    return {
        "spike_mismatches": sum(r["mismatches"] for r in per_layer),
        "spikes_compared": sum(r["spikes"] for r in per_layer),
        "v_out_mismatches": int((ref.v_out != got.v_out).sum()),
        "per_layer": per_layer, "samples": samples, "timesteps": timesteps, "steps_run": steps,
        "lava_samples_per_s": lava_sps, "lava_ms_per_step": 1000.0 / lava_sps / steps,
        "lava_build_s": got.build_s, "lava_wall_s": got.wall_s,
        "fast_samples_per_s_batch64": fast_sps, "fast_samples_per_s_same_batch": fast_same_sps,
        "fast_vs_lava_speedup": fast_sps / lava_sps, "fast_vs_lava_speedup_same_batch": fast_same_sps / lava_sps,
        "raster": ref.spikes,
    }


def plot_accuracy(curves: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(5.5 * len(curves), 4), squeeze=False)
    for ax, (name, c) in zip(axes[0], curves.items(), strict=True):
        ts = list(TIMESTEPS)
        ax.axhline(c["dnn"], color="k", linestyle="--", label=f"DNN {c['dnn']:.1f}%")
        ax.plot(ts, [c["float"][t] for t in ts], "o-", label="float SNN")
        ax.plot(ts, [c["fixed"][t] for t in ts], "s-", label="fixed-point SNN (Loihi)")
        ax.set_xscale("log", base=2)
        ax.set_xticks(ts, [str(t) for t in ts])
        ax.set_xlabel("timesteps per sample")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_raster(raster: dict[int, np.ndarray], names: list[str], path: Path, max_neurons: int = 300) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(names)
    fig, axes = plt.subplots(n, 1, figsize=(9, 1.4 * n + 1), sharex=True)
    for i, ax in enumerate(np.atleast_1d(axes)):
        sp = raster[i][0]  # sample 0: (steps, N)
        active = np.flatnonzero(sp.any(axis=0))
        keep = active[np.linspace(0, len(active) - 1, min(max_neurons, len(active))).astype(int)] if len(active) else []
        t, k = np.nonzero(sp[:, keep])
        ax.scatter(t, k, s=0.6, c="k", marker="|")
        ax.set_ylabel(f"{names[i]}\n({len(active)} active)", fontsize=7)
        ax.set_yticks([])
    np.atleast_1d(axes)[-1].set_xlabel("time step")
    fig.suptitle("snn-fast spike raster, one sample (identical in Lava)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def snn_sdnn_nir(nets: dict[str, Any]) -> dict[str, Any]:
    from benchmarks import snn_sdnn

    return snn_sdnn.nir_section(nets, say)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lava-samples", type=int, default=3)
    ap.add_argument("--lava-timesteps", type=int, default=64)
    ap.add_argument("--skip-lava", action="store_true")
    ap.add_argument("--sdnn-lava-streams", type=int, default=4)
    ap.add_argument("--sdnn-lava-frames", type=int, default=64)
    ap.add_argument("--only", choices=["small", "sdnn"], help="recompute these keys only, into the existing snn.json "
                    "(recorded under partial_updates with their own commit and time)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.only:
        from benchmarks import snn_sdnn

        gesture = load_gesture()
        if isinstance(gesture, str):
            raise SystemExit(gesture)
        _, model, x_cal, x_te, y_te = gesture
        if args.only == "small":
            new = snn_sdnn.small_section(x_cal, x_te, y_te, say)
        else:
            new = snn_sdnn.sdnn_only(convert_model(model, x_cal[:1000]), x_cal[:1000],
                                     lambda xx: dnn_logits(model, xx),
                                     RESULTS_DIR / "snn_sdnn_tradeoff.png", not args.skip_lava and
                                     lava_status() is True, args.sdnn_lava_streams, args.sdnn_lava_frames, say)
        say(f"wrote {snn_sdnn.update_keys(new)}")
        return

    nets: dict[str, Any] = {}
    gesture = load_gesture()
    sources = [load_digits()] + ([gesture] if not isinstance(gesture, str) else [])
    if isinstance(gesture, str):
        say(gesture)
    for name, model, x_tr, x_te, y_te in sources:
        say(f"{name}: converting (calibration on {min(len(x_tr), 1000)} training inputs)")
        conv = convert_model(model, x_tr[:1000])
        dnn_pred = dnn_predictions(model, x_te)
        dnn = float((dnn_pred == y_te).mean() * 100)
        say(f"{name}: DNN {dnn:.2f}%; simulating {len(x_te)} test samples at up to {max(TIMESTEPS)} steps")
        sweep = accuracy_sweep(conv, x_te, y_te, dnn_pred)
        say(f"{name}: fixed {sweep['fixed']}  float {sweep['float']}  agreement with DNN {sweep['agree']}")
        print(format_report(sweep["layer_report"]))
        nets[name] = {"conv": conv, "dnn": dnn, **sweep, "n_test": len(x_te), "x_test": x_te, "model": model}

    main_name = "gesture_cnn" if "gesture_cnn" in nets else "digits_cnn"
    m = nets[main_name]
    net = m["conv"].network
    cores = core_report(net)
    synops = float(np.mean(m["result"].synops))
    neurons = sum(int(np.prod(layer.out_shape)) for layer in net.layers)
    energy = energy_uj(synops, neurons, max(TIMESTEPS) + net.depth)
    lava: dict[str, Any] = {}
    if args.skip_lava or lava_status() is not True:
        say(f"Lava skipped: {'--skip-lava' if args.skip_lava else lava_status()}")
    else:
        lava = lava_vs_fast(m["conv"], np.asarray(sources[-1][3]) if main_name == "gesture_cnn"
                            else sources[0][3], args.lava_samples, args.lava_timesteps)
        say(f"Lava vs fast: {lava['spike_mismatches']} mismatches of {lava['spikes_compared']} spikes; "
            f"speedup {lava['fast_vs_lava_speedup']:.0f}x")
        plot_raster(lava.pop("raster"), [f"{layer.name}" for layer in net.layers], RESULTS_DIR / "snn_raster.png")

    plot_accuracy({k: {"dnn": v["dnn"], "fixed": v["fixed"], "float": v["float"]} for k, v in nets.items()},
                  RESULTS_DIR / "snn_accuracy_vs_timesteps.png")
    sdnn: dict[str, Any] = {}
    if main_name == "gesture_cnn":
        from benchmarks import snn_sdnn

        say("sigma-delta: threshold on validation, then the test streams")
        sdnn = snn_sdnn.sdnn_section(m["conv"], sources[-1][2][:1000], lambda xx: dnn_logits(m["model"], xx), say)
        sd_net, (xt, yt, rt) = sdnn.pop("_net"), sdnn.pop("_test")
        say(f"sigma-delta: {sdnn['sdnn_accuracy']:.2f}% at threshold {sdnn['sdnn_delta_threshold']} (DNN "
            f"{sdnn['sdnn_dnn_accuracy']:.2f}% on the same test half), {sdnn['sdnn_synops_per_frame']:.0f} "
            f"synops/frame (rate-coded T=256: {synops:.0f}/sample)")
        rate = snn_sdnn.rate_points(net, xt, yt)
        sdnn["rate_coded_synops_accuracy"] = {str(t): list(v) for t, v in rate.items()}
        snn_sdnn.plot_tradeoff(sdnn["sdnn_test_curve"], rate, sdnn["sdnn_dnn_accuracy"],
                               RESULTS_DIR / "snn_sdnn_tradeoff.png")
        if not args.skip_lava and lava_status() is True:
            sdnn.update(snn_sdnn.sdnn_lava(sd_net, xt, rt, args.sdnn_lava_streams, args.sdnn_lava_frames, say))
            say(f"Lava vs fast (sigma-delta): {sdnn['sdnn_message_mismatches']} mismatches of "
                f"{sdnn['sdnn_messages_compared']} non-zero messages")
    nir_keys = snn_sdnn_nir(nets)
    small: dict[str, Any] = {"loihi1_cores_small": None, "snn_fixed_accuracy_small": None}
    if main_name == "gesture_cnn":
        from benchmarks import snn_sdnn

        small = snn_sdnn.small_section(sources[-1][2], sources[-1][3], sources[-1][4], say)
    out = {
        "network": main_name,
        "dnn_accuracy": m["dnn"],
        "snn_float_accuracy": m["float"][256],
        "snn_fixed_accuracy": m["fixed"][256],
        "snn_fixed_accuracy_t64": m["fixed"][64],
        "timesteps": 256,
        "loihi1_cores": cores["loihi1_cores"],
        "loihi2_cores": cores["loihi2_cores"],
        "paper_cores_massa2020": PAPER_CORES,
        "fast_vs_lava_speedup": lava.get("fast_vs_lava_speedup"),
        "spike_mismatches": lava.get("spike_mismatches"),
        "spikes_compared": lava.get("spikes_compared"),
        "synops_per_sample": synops,
        "energy_uj_per_sample": energy["energy_uj_per_sample"],
        "energy_model": {"synop_pj": SYNOP_PJ, "source": ENERGY_SOURCE,
                         "neuron_update_uj_per_sample": energy["neuron_update_uj_per_sample"]},
        "input_encoding": "deterministic rate coding, binary spikes (num_message_bits=0), same in both simulators",
        "steps_run": f"timesteps + {net.depth} (pipeline delay, one step per synaptic layer)",
        "cores": cores,
        "lava": lava or None,
        "networks": {
            k: {"dnn_accuracy": v["dnn"], "fixed_accuracy": v["fixed"], "float_accuracy": v["float"],
                "fixed_dnn_agreement": v["agree"],
                "n_test": v["n_test"], "layer_report": v["layer_report"],
                "fast_sweep_seconds": v["fast_s"], "loihi1_cores": core_report(v["conv"].network)["loihi1_cores"]}
            for k, v in nets.items()
        },
        "gesture_status": "ok" if not isinstance(gesture, str) else gesture,
        **sdnn, **nir_keys,
        **small,
    }
    path = write_results("snn", out)
    say(f"wrote {path}")
    print(json.dumps({k: out[k] for k in list(out)[:16]}, indent=1, default=str))


if __name__ == "__main__":
    main()
