"""The four code folders install as one namespace, and pyproject lists every subpackage."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MAPPING = {"toolkit": "neuroedge", "converters": "neuroedge.converters", "targets": "neuroedge.targets",
           "firmware_bridge": "neuroedge.firmware_bridge"}


def test_every_package_folder_is_listed() -> None:
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())
    listed = set(cfg["tool"]["setuptools"]["packages"])
    found = set()
    for folder, name in MAPPING.items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder)
            found.add(".".join([name, *rel.parts]) if rel.parts else name)
    assert listed == found, f"pyproject packages differ from the folders: missing {found - listed}, extra {listed - found}"


def test_help_does_not_import_torch() -> None:
    code = ("import sys; from neuroedge.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n"
            "assert 'onnxruntime' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_targets_command_lists_core_targets_available() -> None:
    out = subprocess.run([sys.executable, "-m", "neuroedge.cli", "targets"], capture_output=True, text=True,
                         check=True, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"}).stdout
    for name in ("onnxruntime", "torch"):
        line = next(ln for ln in out.splitlines() if f" {name} " in ln)
        assert "yes" in line, line
