"""The jetson target's options: the CLI, TOML configs and sweep grids fill them (unknown keys refused)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from neuroedge.registry import opt


@dataclass(frozen=True)
class JetsonOptions:
    url: str | None = opt(None, "the board: jetson://user@host[:port] (or give it as the target name)")
    remote_python: str = opt("python3", "Python on the board (3.8+)")
    backend: Literal["auto", "tensorrt", "onnxruntime"] = opt("auto", "what runs the model on the board")
    precision: Literal["fp32", "fp16", "int8"] = opt("fp16", "TensorRT precision")
    identity: str | None = opt(None, "an SSH key file")
    known_hosts: str | None = opt(None, "a known_hosts file (default: accept the key on first use)")
    ssh_options: str | None = opt(None, "extra ssh -o options, comma-separated")
    connect_timeout: float = opt(10.0, "SSH connect timeout in seconds")
    control_persist: int = opt(60, "seconds the shared SSH connection outlives its last use (0: no sharing)")
    ort_providers: str = opt("cuda,cpu", "onnxruntime on the board: comma list of tensorrt, cuda, cpu")
    persistent: bool = opt(True, "run() through one long-lived remote session (false: one invocation per call)")
