"""Design-space sweeps: a grid over a pipeline's parameters, run locally or on Ray, never lost.

    neuroedge sweep CONFIG.toml --grid splitquant.bits=2,4,8 --grid target=onnxruntime,torch -o OUT

* A grid key is any override the pipeline takes (see ``neuroedge.pipeline``); every point is
  validated before anything runs, so a bad key or value fails at once, naming it (``grid``).
* Each finished point is appended to ``OUT/results.jsonl`` under the content hash of its config
  and its input model. A rerun skips the points already done; failed points are run again (``store``).
* Benchmarks stay valid: a benchmark holds its target's ``bench_resources`` exclusively (the CPU
  ``bench`` slot, an ``mcu`` board, a ``GPU``): locally a per-node file lock per resource, on Ray
  a custom resource of capacity 1; a CPU benchmark also waits for a quiet node (``isolation``).
* Latencies survive a machine that changes speed: each benchmark is bracketed by a fixed reference
  probe, and the point's p50 is also reported relative to it (``probe``).
* A worker that dies mid-point (killed, out of memory) is replaced; its point is retried once,
  then recorded as failed with the reason, and the sweep goes on (``local``; ``ray_backend``).
"""

from neuroedge.sweep.grid import Point, SweepError, expand, model_identity, parse_grid, point_key
from neuroedge.sweep.isolation import LOCK_DIR, NodeGate, bench_isolation, bench_slot, file_lock_slot, quiet
from neuroedge.sweep.probe import Bracket, probe_plan
from neuroedge.sweep.ray_backend import check_address, run_ray
from neuroedge.sweep.run import main, sweep
from neuroedge.sweep.store import RESULTS, append_result, read_results
from neuroedge.sweep.worker import run_point

__all__ = [
    "LOCK_DIR", "RESULTS", "Bracket", "NodeGate", "Point", "SweepError", "append_result", "bench_isolation",
    "bench_slot", "check_address", "expand", "file_lock_slot", "main", "model_identity", "parse_grid",
    "point_key", "probe_plan", "quiet", "read_results", "run_point", "run_ray", "sweep",
]
