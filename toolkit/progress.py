"""Progress on a terminal: a spinner with the elapsed time around long steps, silent when piped.

Converter steps take 20-60 s and sweeps minutes; a person at a terminal should see that work is
going on and what it is. Logs and tests (no TTY) get nothing extra. Only one spinner shows at a time:
an inner ``status`` while an outer one runs updates the outer one's text instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_live: list[Any] = []


def enabled() -> bool:
    return sys.stderr.isatty() and not os.environ.get("NEUROEDGE_NO_PROGRESS")


def _console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


@contextmanager
def status(text: str) -> Iterator[None]:
    """Show ``text`` with a spinner while the block runs (on a terminal)."""
    if not enabled():
        yield
        return
    if _live:
        outer = _live[-1]
        old = outer.status
        outer.update(text)
        try:
            yield
        finally:
            outer.update(old)
        return
    with _console().status(text) as st:
        st.status = text
        _live.append(st)
        try:
            yield
        finally:
            _live.pop()


def done(text: str) -> None:
    """A one-line note that a step finished (on a terminal)."""
    if enabled():
        _console().print(f"[green]✓[/] {text}", highlight=False)
