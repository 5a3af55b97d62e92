"""Loihi targets for ``snn-loihi`` bundles.

* ``snn-fast``: neuroedge's vectorised numpy simulator of Lava's fixed-point models (``fast.py``),
  bit-exact with Lava, batched over samples.
* ``loihi-sim``: Lava itself (lava-nc 0.10, ``Loihi2SimCfg(select_tag="fixed_pt")``), run in
  ``.venv-lava`` by a subprocess worker (``lava.py`` host, ``lava_worker.py`` worker).

Both report Loihi 1 / Loihi 2 core counts (``resources.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from neuroedge.registry import Target, opt


@dataclass(frozen=True)
class SNNOptions:
    timesteps: int | None = opt(None, "timesteps per sample (default: the bundle's, from to-snn)")
    timeout_s: float = opt(600.0, "loihi-sim only: give up on the Lava worker after this many seconds")

    def __post_init__(self) -> None:
        if self.timesteps is not None and self.timesteps < 1:
            raise ValueError(f"timesteps must be >= 1, got {self.timesteps}")
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {self.timeout_s}")


def _open_fast(bundle: Any, options: SNNOptions) -> Any:
    """bit-exact numpy simulator of Lava's Loihi fixed-point LIF, batched"""
    from neuroedge.targets.loihi.runner import SNNRunner

    return SNNRunner(bundle, options, "fast")


def _open_lava(bundle: Any, options: SNNOptions) -> Any:
    """Lava (lava-nc 0.10) Loihi2SimCfg fixed_pt, in .venv-lava via a subprocess worker"""
    from neuroedge.targets.loihi.runner import SNNRunner

    return SNNRunner(bundle, options, "lava")


def _lava_available() -> bool | str:
    from neuroedge.targets.loihi.lava import lava_status

    return lava_status()


FAST_TARGET = Target("snn-fast", ("snn-loihi",), _open_fast, SNNOptions, bench_rounds=2)
LAVA_TARGET = Target("loihi-sim", ("snn-loihi",), _open_lava, SNNOptions, _lava_available, bench_rounds=1)
