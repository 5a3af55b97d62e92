"""Loihi targets for ``snn-loihi`` bundles.

* ``snn-fast``: neuroedge's vectorised numpy simulator of Lava's fixed-point models (``fast.py``),
  bit-exact with Lava, batched over samples.
* ``loihi-sim``: Lava itself (lava-nc 0.10, ``Loihi2SimCfg(select_tag="fixed_pt")``), run in
  ``.venv-lava`` by a subprocess worker (``lava.py`` host, ``lava_worker.py`` worker).

Both report Loihi 1 / Loihi 2 core counts (``resources.py``).
"""

from __future__ import annotations

from typing import Any

from neuroedge.registry import Target


def _open_fast(bundle: Any, options: dict[str, Any]) -> Any:
    from neuroedge.targets.loihi.runner import SNNRunner

    return SNNRunner(bundle, options, "fast")


def _open_lava(bundle: Any, options: dict[str, Any]) -> Any:
    from neuroedge.targets.loihi.runner import SNNRunner

    return SNNRunner(bundle, options, "lava")


def _lava_available() -> bool | str:
    from neuroedge.targets.loihi.lava import lava_status

    return lava_status()


FAST_TARGET = Target(
    name="snn-fast",
    summary="bit-exact numpy simulator of Lava's Loihi fixed-point LIF, batched",
    formats=("snn-loihi",),
    available=lambda: True,
    open=_open_fast,
)

LAVA_TARGET = Target(
    name="loihi-sim",
    summary="Lava (lava-nc 0.10) Loihi2SimCfg fixed_pt, in .venv-lava via a subprocess worker",
    formats=("snn-loihi",),
    available=_lava_available,
    open=_open_lava,
)
