"""The firmware's configured capacities, read from its own build files: one source of truth.

The Makefile's ``?=`` defaults size each platform's static buffers (``QEMU_BLOB_CAP``, ``QEMU_ARENA``,
``HOST_BLOB_CAP``, ``HOST_ARENA``, ``MAX_PAYLOAD``), and ``src/ne_config.h`` holds ``NE_MAX_LAYERS``. The
mcu converter checks a model against them before it writes a blob; the host driver checks against what
a connected device reports in HELLO (the same four figures, as the firmware was actually built).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIRMWARE_DIR = Path(__file__).resolve().parent / "firmware"
MAKEFILE = FIRMWARE_DIR / "Makefile"
CONFIG_H = FIRMWARE_DIR / "src" / "ne_config.h"
PLATFORMS = {"lm3s6965": "QEMU", "host": "HOST"}  # platform -> its Makefile variables' prefix
INFER_REPLY_HEAD = 20  # bytes of an INFER reply before the outputs (PROTOCOL.md)


@dataclass(frozen=True)
class FirmwareLimits:
    """What one firmware build holds; ``where`` says, per limit, the setting that changes it."""

    platform: str
    blob_capacity: int  # NE_BLOB_CAP: the model blob buffer
    arena_bytes: int  # NE_ARENA_BYTES: the activation ping-pong buffers
    max_payload: int  # NE_MAX_PAYLOAD: the largest frame payload, both directions
    max_layers: int  # NE_MAX_LAYERS
    where: dict[str, str]


def _make_defaults(text: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r"^(\w+)\s*\?=\s*(\d+)\s*$", text, re.M)}


def _define(text: str, name: str) -> int:
    m = re.search(rf"#define\s+{name}\s+\(?(\d+)u?\s*(?:\*\s*(\d+)u?)?\)?", text)
    if not m:
        raise ValueError(f"{CONFIG_H}: no #define {name}")
    return int(m.group(1)) * int(m.group(2) or 1)


def firmware_limits(platform: str = "lm3s6965") -> FirmwareLimits:
    """The limits of the reference firmware as ``make`` builds it for ``platform`` (lm3s6965 or host)."""
    if platform not in PLATFORMS:
        raise ValueError(f"firmware platform {platform!r} is not one of {', '.join(PLATFORMS)}")
    make = _make_defaults(MAKEFILE.read_text())
    prefix, mk = PLATFORMS[platform], "firmware_bridge/firmware/Makefile"
    return FirmwareLimits(
        platform,
        blob_capacity=make[f"{prefix}_BLOB_CAP"],
        arena_bytes=make[f"{prefix}_ARENA"],
        max_payload=make["MAX_PAYLOAD"],
        max_layers=_define(CONFIG_H.read_text(), "NE_MAX_LAYERS"),
        where={"blob": f"{prefix}_BLOB_CAP in {mk}", "arena": f"{prefix}_ARENA in {mk}",
               "payload": f"MAX_PAYLOAD in {mk}", "layers": "NE_MAX_LAYERS in firmware_bridge/firmware/src/ne_config.h"},
    )


DEVICE_SETTINGS = {"blob": "NE_BLOB_CAP", "arena": "NE_ARENA_BYTES", "payload": "NE_MAX_PAYLOAD",
                   "layers": "NE_MAX_LAYERS"}


def blob_needs(blob: bytes) -> tuple[int, int, int, int, int]:
    """(blob, arena, input, output bytes, layers) from a blob's header, for ``fit_problems``."""
    import struct

    n_layers, _, arena, ih, iw, ic, out = struct.unpack_from("<HII4H", blob, 6)
    return len(blob), arena, ih * iw * ic, out, n_layers


def fit_problems(limits: Any, blob_bytes: int, arena_bytes: int, in_bytes: int, out_bytes: int,
                 n_layers: int, name: str = "the device") -> list[str]:
    """Each way a model does not fit ``limits`` (a ``FirmwareLimits`` or a HELLO ``DeviceInfo``), with the
    numbers and the setting to change; empty when it fits."""
    where = getattr(limits, "where", None) or {k: f"the firmware's {v} (rebuild it)" for k, v in DEVICE_SETTINGS.items()}
    out = []
    if blob_bytes > limits.blob_capacity:
        out.append(f"the model blob is {blob_bytes} B but {name} holds {limits.blob_capacity} B: "
                   f"raise {where['blob']}, or make the model smaller")
    if arena_bytes > limits.arena_bytes:
        out.append(f"the activations need an arena of {arena_bytes} B (2 x the largest activation) but {name} "
                   f"has {limits.arena_bytes} B: raise {where['arena']}, or shrink the largest activation")
    if in_bytes > limits.max_payload:
        out.append(f"the input is {in_bytes} B but the largest frame payload of {name} is {limits.max_payload} B: "
                   f"raise {where['payload']}, or make the input smaller")
    if out_bytes + INFER_REPLY_HEAD > limits.max_payload:
        out.append(f"the output is {out_bytes} B and its reply {out_bytes + INFER_REPLY_HEAD} B, but the largest "
                   f"frame payload of {name} is {limits.max_payload} B: raise {where['payload']}")
    if n_layers > limits.max_layers:
        out.append(f"the model has {n_layers} layers but {name} takes at most {limits.max_layers}: "
                   f"raise {where['layers']}")
    return out
