"""numba's disk cache with a callee in another file: ``neuroedge.imu.numba_stamp`` makes an edit to the callee reach
the cached caller (numba alone keys the cache on the caller's file only)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from neuroedge.imu import numba_stamp

CALLER = textwrap.dedent("""
    from numba import njit
    from callee import value
    from neuroedge.imu import numba_stamp

    @njit(cache=True)
    def run():
        return value() + 1

    numba_stamp.refresh(globals(), ("callee.py",))
""")
CALLEE = "from numba import njit\n\n\n@njit(cache=True)\ndef value():\n    return {}\n"


def _run(folder: Path) -> int:
    out = subprocess.run([sys.executable, "-c", "import caller; print(caller.run())"], cwd=folder, check=True,
                         capture_output=True, text=True, timeout=300)
    return int(out.stdout.strip())


def test_an_edited_callee_reaches_the_cached_caller(tmp_path: Path) -> None:
    (tmp_path / "caller.py").write_text(CALLER)
    (tmp_path / "callee.py").write_text(CALLEE.format(1))
    assert _run(tmp_path) == 2
    assert _run(tmp_path) == 2  # from the cache, nothing changed
    (tmp_path / "callee.py").write_text(CALLEE.format(5))
    assert _run(tmp_path) == 6


def test_refresh_empties_the_cache_only_on_a_change(tmp_path: Path) -> None:
    (tmp_path / "callee.py").write_text("y = 1\n")
    (tmp_path / "stamp_probe.py").write_text("from numba import njit\n\n\n@njit(cache=True)\ndef f():\n    return 1\n")
    module = {"__file__": str(tmp_path / "stamp_probe.py"), "__name__": "stamp_probe"}
    assert numba_stamp.refresh(module, ("callee.py",)) is False  # no cached function in it: nothing to do
    sys.path.insert(0, str(tmp_path))
    try:
        import stamp_probe  # noqa: PLC0415 - from the folder just written
    finally:
        sys.path.remove(str(tmp_path))
    module = vars(stamp_probe)
    assert numba_stamp.refresh(module, ("callee.py",)) is True  # first time: nothing recorded
    assert numba_stamp.refresh(module, ("callee.py",)) is False
    (tmp_path / "callee.py").write_text("y = 2\n")
    assert numba_stamp.refresh(module, ("callee.py",)) is True
