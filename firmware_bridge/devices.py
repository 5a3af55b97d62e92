"""``neuroedge devices``: the serial ports on this machine, and which of them answer HELLO."""

from __future__ import annotations

from typing import Any

from neuroedge.firmware_bridge.host import Device


def probe(url: str, timeout: float = 0.3, retries: int = 1) -> dict[str, Any] | None:
    """The device's INFO if something at ``url`` speaks the neuroedge protocol, else None."""
    try:
        with Device.open(url, timeout=timeout, retries=retries) as dev:
            return dev.hello().to_json()
    except Exception:
        return None


def list_devices(
    probe_ports: bool = True, timeout: float = 0.3, extra: list[str] | None = None
) -> list[dict[str, Any]]:
    """Every serial port pyserial lists (plus ``extra`` URLs), each with ``answers_hello`` and its INFO.

    Probing writes one HELLO frame (a few bytes) to each port; pass ``probe_ports=False`` to only list.
    """
    from serial.tools import list_ports

    rows: list[dict[str, Any]] = []
    ports = [(p.device, p.description, p.hwid) for p in sorted(list_ports.comports(), key=lambda p: p.device)]
    ports += [(url, "given", "") for url in extra or []]
    for device, description, hwid in ports:
        info = probe(device, timeout=timeout) if probe_ports else None
        rows.append(
            {
                "port": device,
                "description": description,
                "hwid": hwid,
                "answers_hello": info is not None,
                "info": info,
            }
        )
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """Plain-text table for the CLI."""
    if not rows:
        return "no serial ports found"
    lines = [f"{'port':<24} {'neuroedge':<10} {'firmware':<22} description"]
    for r in rows:
        fw = f"{r['info']['platform']} v{r['info']['firmware_version']}" if r["info"] else "-"
        lines.append(
            f"{r['port']:<24} {'yes' if r['answers_hello'] else 'no':<10} {fw:<22} {r['description']}"
        )
    return "\n".join(lines)
