"""Pipelines: a TOML file names a model, evaluation data, converter steps and a target.

A complete one is ``examples/digits/pipeline.toml``. The tables and their fields:

* ``[model]``: ``ref`` (``package.module:factory`` or a file), ``weights`` (a state_dict, read
  weights-only), ``prepare`` (called first, e.g. trains and caches), ``input_shape`` (with the batch
  dimension); ``weights`` and ``input_shape`` go to a first step whose params take them;
* ``[data]`` (optional, for accuracy): ``ref`` (returns ``(x, y)``) or ``path`` (an .npz with x and y), ``limit``,
  ``output`` (the output whose argmax is scored; default the first, named on stderr when there are several);
* ``[[steps]]``: ``converter`` and its ``params``; each step must read what the one before writes;
* ``[target]``: ``name`` and ``options`` (the target's typed options);
* ``[bench]``: ``iterations``, ``warmup``, ``min_duration_s``, ``isolation`` (sweeps: node | slot).

Overrides (``--set``, and the sweep's grid keys) address ``target=torch``, ``target.options.threads=2``,
``model.weights=...``, ``bench.iterations=200``, or a step by its converter name:
``splitquant.bits=2`` sets ``params.bits`` of the ``splitquant`` step.
"""

from __future__ import annotations

import copy
import dataclasses
import sys
import time
import tomllib
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from neuroedge import progress, registry
from neuroedge.bench import BenchConfig
from neuroedge.bundle import atomic_write_json
from neuroedge.converting import ConvertError, chain_formats

TOP_KEYS = {"name", "model", "data", "steps", "target", "bench"}
# How a sweep isolates a CPU benchmark: "node" waits until nothing compiles on the machine (valid
# figures), "slot" only keeps two benchmarks apart (faster sweeps; compiles may disturb the figures).
BENCH_ISOLATION = ("node", "slot")
SECTION_KEYS = {
    "model": {"ref", "weights", "prepare", "input_shape"},
    "data": {"ref", "path", "limit", "output"},
    "target": {"name", "options"},
    "bench": {"iterations", "warmup", "min_duration_s", "isolation"},
}


class ConfigError(Exception):
    """A pipeline config that cannot run; the message names the file and the field."""


def load_config(path: Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        config = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    config["_path"] = str(path)
    for key, value in (overrides or {}).items():
        apply_override(config, key, value)
    validate(config)
    return config


def apply_override(config: dict[str, Any], key: str, value: Any) -> None:
    """Set a dotted key; a first part that names a step's converter addresses that step's params."""
    where = f"{config.get('_path', 'config')}: override {key!r}"
    if isinstance(value, str):
        value = _parse_scalar(value)
    parts = key.split(".")
    if parts == ["target"]:
        config.setdefault("target", {})["name"] = value
        return
    steps = config.get("steps", [])
    named = [s for s in steps if s.get("converter") == parts[0]]
    if named and len(parts) >= 2:
        node = named[0].setdefault("params", {})
        parts = parts[1:]
    elif parts[0] in TOP_KEYS:
        node = config
    else:
        known = sorted(TOP_KEYS | {s.get("converter", "?") for s in steps})
        raise ConfigError(f"{where}: {parts[0]!r} is neither a config section nor a step's converter; known: {known}")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{where}: {part!r} is not a table")
    node[parts[-1]] = value


def _parse_scalar(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def validate(config: dict[str, Any]) -> None:
    where = config.get("_path", "config")
    unknown = set(config) - TOP_KEYS - {"_path"}
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {sorted(unknown)}; known: {sorted(TOP_KEYS)}")
    for section, keys in SECTION_KEYS.items():
        if section in config:
            if not isinstance(config[section], dict):
                raise ConfigError(f"{where}: field '{section}' must be a table")
            bad = set(config[section]) - keys
            if bad:
                raise ConfigError(f"{where}: unknown field(s) {sorted(bad)} in [{section}]; known: {sorted(keys)}")
    isolation = config.get("bench", {}).get("isolation", "node")
    if isolation not in BENCH_ISOLATION:
        raise ConfigError(f"{where}: field 'bench.isolation' is {isolation!r}; expected one of {', '.join(BENCH_ISOLATION)}")
    if "ref" not in config.get("model", {}):
        raise ConfigError(f"{where}: missing field 'model.ref' (package.module:factory or a model file)")
    onnx_model = is_onnx_model(config)
    steps = config.get("steps", [] if onnx_model else None)
    if not isinstance(steps, list) or not (steps or onnx_model):
        raise ConfigError(f"{where}: missing field 'steps' (at least one [[steps]] with a converter; none are "
                          "needed when model.ref is an .onnx file)")
    for i, step in enumerate(steps):
        if not isinstance(step, dict) or "converter" not in step:
            raise ConfigError(f"{where}: field 'steps[{i}].converter' is missing")
        bad = set(step) - {"converter", "params"}
        if bad:
            raise ConfigError(f"{where}: unknown field(s) {sorted(bad)} in steps[{i}]")
        try:
            conv = registry.get_converter(step["converter"])
        except registry.RegistryError as exc:
            raise ConfigError(f"{where}: field 'steps[{i}].converter': {exc}") from None
        if onnx_model and conv.accepts != "bundle":
            raise ConfigError(f"{where}: steps[{i}] {conv.name!r} takes a torch model, but model.ref is an ONNX "
                              "file: turning ONNX back into torch is not reliable, so give the torch model "
                              "(package.module:factory), or keep the ONNX file with steps that read onnx")
        if i > 0 and conv.accepts != "bundle":
            raise ConfigError(f"{where}: steps[{i}] {conv.name!r} takes a model, so it must be the first step")
        registry.parse_params(conv.params, _step_params(config, i, conv), where=f"{where}: steps[{i}].params")
    convs = [registry.get_converter(step["converter"]) for step in steps]
    try:
        formats = chain_formats(convs, first_source="onnx" if onnx_model else "model") or ["onnx"]
    except ConvertError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    target = config.get("target", {}).get("name")
    if target is not None:
        spec = str(target)
        name = registry.split_target_spec(spec)[0]
        if name not in registry.target_names():
            raise ConfigError(
                f"{where}: field 'target.name': unknown target {name!r}; known: {', '.join(registry.target_names())}"
            )
        tgt = registry.get_target(spec)
        if onnx_model and not convs and name == "torch":  # it rebuilds the converter's recorded torch model
            raise ConfigError(f"{where}: field 'target.name': the torch target runs the torch model a converter "
                              "recorded, and an imported ONNX file has none; use onnxruntime (or a converter "
                              "that reads onnx, such as tensorrt)")
        if not set(formats[-1].split("/")) & set(tgt.formats):
            last = f"the last step {convs[-1].name!r} writes" if convs else "the ONNX model is"
            raise ConfigError(f"{where}: field 'target.name': {name!r} runs {', '.join(tgt.formats)} bundles, but "
                              f"{last} {formats[-1]}")
        try:
            registry.target_options(spec, config["target"].get("options", {}))
        except registry.RegistryError as exc:
            raise ConfigError(f"{where}: field 'target.options': {exc}") from None


def is_onnx_model(config: dict[str, Any]) -> bool:
    """Whether model.ref names an ONNX file (imported as the first bundle; steps then read onnx)."""
    return str(config.get("model", {}).get("ref", "")).lower().endswith(".onnx")


def _step_params(config: dict[str, Any], i: int, conv: registry.Converter) -> dict[str, Any]:
    """The step's params, plus model.input_shape/weights for a first step whose params take them."""
    params = dict(config["steps"][i].get("params", {}))
    if i == 0 and conv.accepts == "model":
        names = {f.name for f in dataclasses.fields(conv.params)}
        for key in ("input_shape", "weights"):
            if key in names and key in config["model"] and key not in params:
                params[key] = config["model"][key]
    return params


def load_eval_data(config: dict[str, Any]) -> tuple[np.ndarray, np.ndarray] | None:
    data = config.get("data")
    if not data:
        return None
    where = f"{config.get('_path', 'config')}: [data]"
    if "ref" in data:
        from neuroedge.modelref import import_object

        x, y = import_object(data["ref"])()
    elif "path" in data:
        p = Path(data["path"])
        if not p.is_file():
            raise ConfigError(f"{where} field 'path': {p} does not exist")
        with np.load(p, allow_pickle=False) as z:
            if "x" not in z or "y" not in z:
                raise ConfigError(f"{where} field 'path': {p} must hold arrays 'x' and 'y'")
            x, y = z["x"], z["y"]
    else:
        raise ConfigError(f"{where}: needs 'ref' or 'path'")
    x, y = np.asarray(x), np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:  # a label column (pandas' habit)
        y = y[:, 0]
    if y.shape != (len(x),):  # one-hot labels would fail deep in the accuracy loop with numpy's message
        raise ConfigError(f"{where}: labels y have shape {list(y.shape)}; expected [{len(x)}] class indices, one per "
                          "input in x (for one-hot labels save y.argmax(1))")
    limit = data.get("limit")
    if limit:
        x, y = x[:limit], y[:limit]
    return x, y


def eval_sample(spec: Any, row: np.ndarray) -> np.ndarray:
    """One data row as a batch-1 input for ``spec`` (a ``TensorSpec``).

    A row keeps its own sizes on the input's dynamic axes (a sequence's length: forcing them to 1 broke
    every such model). It is reshaped only when that cannot reorder it: a flat row, or one that differs
    by size-1 axes alone. Anything else (NCHW rows for an NHWC input) is an error naming both shapes,
    never a silent reshape.
    """
    sample = np.asarray(row)[None]
    dims = spec.shape[1:]
    fits = sample.ndim == len(spec.shape) and all(not isinstance(d, int) or d == n
                                                 for d, n in zip(dims, sample.shape[1:], strict=True))
    if not fits:
        fixed = all(isinstance(d, int) for d in dims)
        squeezed = [d for d in dims if d != 1] == [n for n in np.shape(row) if n != 1]
        if not (fixed and sample.size == int(np.prod(dims, dtype=np.int64)) and (np.ndim(row) == 1 or squeezed)):
            raise ValueError(f"[data] x rows have shape {list(np.shape(row))}, but input {spec.name!r} is "
                             f"{list(spec.shape)} (with the batch dimension); give rows of that shape (flat rows "
                             "are reshaped only when the input's size is fixed)")
        sample = sample.reshape(spec.concrete_shape(1))
    # Float data stays float: a quantised input is quantised by the runner with the bundle's scale and
    # zero point (registry.check_inputs), never cast (casting 0.37 to int8 gives 0).
    if spec.quant is not None or (np.issubdtype(sample.dtype, np.floating)
                                  and not np.issubdtype(np.dtype(spec.dtype), np.floating)):
        return sample.astype("float32", copy=False)
    return sample.astype(spec.dtype, copy=False)


def scored_output(runner: Any, output: str | None = None) -> int:
    """Which output accuracy reads: ``output`` by name, else the first (named on stderr when there are
    several that are not recurrent state, as a model returning (features, logits) would score its features)."""
    names = [s.name for s in runner.outputs]
    if output is not None:
        if output not in names:
            raise ConfigError(f"[data] output {output!r}: the bundle's outputs are {names}")
        return names.index(output)
    bundle = getattr(runner, "bundle", None)
    state = {pair.output for pair in bundle.manifest.state} if bundle is not None else set()
    if len([n for n in names if n not in state]) > 1:
        print(f"note: accuracy reads the first output {names[0]!r} of {names}; set [data] output = NAME for another",
              file=sys.stderr)
    return 0


def evaluate(runner: Any, x: np.ndarray, y: np.ndarray, output: str | None = None) -> float:
    """Top-1 accuracy in percent, one sample per call (batch 1, as the device runs it).

    A runner with ``run_many`` (a remote board) takes every batch-1 sample in one round trip.
    """
    spec = runner.inputs[0]
    k = scored_output(runner, output)
    samples = [eval_sample(spec, x[i]) for i in range(len(x))]
    if hasattr(runner, "run_many"):
        outs = [out[k] for out in runner.run_many([[s] for s in samples])]
    else:
        outs = [runner.run([s])[k] for s in samples]
    correct = sum(int(np.argmax(out.reshape(-1)) == label) for out, label in zip(outs, y, strict=True))
    return 100.0 * correct / max(1, len(x))


def compile_pipeline(config: dict[str, Any], out: Path, force: bool = False,
                     bench_slot: Callable[[dict[str, float]], AbstractContextManager[Any]] | None = None,
                     latency: bool = True, accuracy: bool = True) -> dict[str, Any]:
    """Run every step into ``out/steps/NN-name``, then evaluate and benchmark on the target.

    Everything is written into a staging folder that becomes ``out`` only when the whole
    pipeline succeeded, so a failed compile never leaves a half-written ``out``. ``bench_slot``
    (used by sweeps) is held around the latency benchmark only, so that two benchmarks never
    share a CPU or a board while compiling and evaluating run in parallel. ``latency=False``
    compiles and evaluates only (a sweep benchmarks later, see ``neuroedge.sweep``).
    """
    from neuroedge.bundle import staging

    config = copy.deepcopy(config)
    with staging(out, force=force) as tmp:
        bundle, result = build(config, tmp)
        result.update(measure(config, bundle, bench_slot, accuracy=accuracy, latency=latency))
        result["bundle"] = str(Path(out) / bundle.path.relative_to(tmp))
        atomic_write_json(tmp / "report.json", result)
    return result


def build(config: dict[str, Any], out: Path) -> tuple[Any, dict[str, Any]]:
    """Run the converter steps; returns the last bundle and what the steps measured."""
    model = config["model"]
    if model.get("prepare"):
        from neuroedge.modelref import import_object

        import_object(model["prepare"])()
    source: Any = model["ref"]
    bundle = None
    result: dict[str, Any] = {"name": config.get("name", Path(out).name)}
    if is_onnx_model(config):  # a user's ONNX file: checked and imported as the first bundle
        from neuroedge.onnx_import import import_onnx

        t0 = time.perf_counter()
        source = bundle = import_onnx(model["ref"], Path(out) / "steps" / "import-onnx")
        result["convert_import-onnx_s"] = round(time.perf_counter() - t0, 3)
    for i, step in enumerate(config.get("steps", [])):
        conv = registry.get_converter(step["converter"])
        params = registry.parse_params(conv.params, _step_params(config, i, conv), where=f"steps[{i}].params")
        t0 = time.perf_counter()
        with progress.status(f"step {i + 1}/{len(config.get('steps', []))}: {conv.name}"):
            bundle = conv(source, params, Path(out) / "steps" / f"{i:02d}-{conv.name}")
        result[f"convert_{conv.name}_s"] = round(time.perf_counter() - t0, 3)
        source = bundle
    result["format"] = bundle.format
    result["metrics"] = bundle.manifest.metrics
    result["model_bytes"] = model_bytes(bundle)
    return bundle, result


def model_bytes(bundle: Any) -> int:
    """What the model costs on the device: the packed weights where a converter reports them."""
    packed = bundle.manifest.metrics.get("packed_bytes")
    if isinstance(packed, int) and packed > 0:
        return packed
    return int(bundle.main_file.stat().st_size)


def measure(config: dict[str, Any], bundle: Any,
            bench_slot: Callable[[dict[str, float]], AbstractContextManager[Any]] | None = None,
            accuracy: bool = True, latency: bool = True, keep: dict[str, Any] | None = None,
            bracket: Callable[..., tuple[Any, dict[str, Any]]] | None = None) -> dict[str, Any]:
    """Accuracy on the config's data and latency on its target (the benchmark inside ``bench_slot``).

    ``keep``: a runner already open on this bundle in ``keep["runner"]`` is used; the one used is left
    open there instead of being closed (a sweep evaluates, then benchmarks later, without reopening).
    ``bracket(bench, runner, inputs, config) -> (report, probe)``: runs the benchmark against the
    reference probe, inside the slot (a sweep's ``neuroedge.sweep.probe``: between probes, or paired
    with it call chunk by call chunk); its record is kept as ``result["probe"]``.
    """
    target = config.get("target", {})
    summary: dict[str, Any] = {"model_bytes": model_bytes(bundle)}
    result: dict[str, Any] = {"summary": summary}
    if not target.get("name"):
        return result
    runner = (keep or {}).get("runner") or registry.open_runner(bundle, target["name"], target.get("options", {}))
    try:
        data = load_eval_data(config) if accuracy else None
        if data is not None:
            t0 = time.perf_counter()
            with progress.status(f"{target['name']}: accuracy on {len(data[0])} samples"):
                result["accuracy"] = summary["accuracy_%"] = round(
                    evaluate(runner, *data, output=config["data"].get("output")), 3)
            result["evaluate_s"] = round(time.perf_counter() - t0, 3)
        if not latency:
            return result
        b = config.get("bench", {})
        bench_cfg = BenchConfig(iterations=int(b.get("iterations", 1000)), warmup=int(b.get("warmup", 100)),
                                min_duration_s=float(b.get("min_duration_s", 1.0)), warn=False,
                                ).for_target(registry.get_target(target["name"]).bench_rounds)
        rng = np.random.default_rng(0)
        inputs = [rng.random(s.concrete_shape(1)).astype("float32" if s.quant else s.dtype) for s in runner.inputs]
        if len(inputs) == 1 and any(isinstance(d, str) for d in runner.inputs[0].shape[1:]):
            # a dynamic length is timed at the data's, not 1, in compile and in a sweep's latency-only pass alike
            data = data if data is not None else load_eval_data(config)
            if data is not None:
                inputs = [eval_sample(runner.inputs[0], data[0][0])]
        slot = bench_slot(registry.get_target(target["name"]).bench_resources) if bench_slot else nullcontext()
        with slot:
            t0 = time.time()
            if bracket is None:
                report = runner.benchmark(inputs, bench_cfg)
            else:
                report, result["probe"] = bracket(lambda: runner.benchmark(inputs, bench_cfg), runner, inputs,
                                                  bench_cfg)
            result["bench_window"] = [t0, time.time()]
        result["latency"] = report.to_json(include_samples=False)
        result["p50_ms"] = report.p50_ms
        summary["target"] = target["name"]
        summary["p50_us"] = round(report.p50_ms * 1000, 2)
        summary["p50_spread_pct"] = result["latency"]["p50_spread_pct"]
        result["resources"] = runner.resources()
    finally:
        if keep is not None:
            keep["runner"] = runner
        else:
            runner.close()
    return result
