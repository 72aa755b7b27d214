"""Forgetting the function modules a test loaded (``query_api`` and the like).

A function module builds its app from the environment when it is imported, as a Lambda
container does, and Python keeps it: a later test that loads the same function would get
the app of this test's settings, whose database is dropped by then. A test that loads
function modules forgets them when it ends, closing what their apps hold.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from logpipe.http import deps

from conftest import ROOT


def _function_module_names() -> set[str]:
    return {p.stem for p in (ROOT / "functions").glob("*/*.py")}


@contextmanager
def forgotten_after() -> Iterator[None]:
    """Within the block, load function modules freely; after it, none stays loaded."""
    names = _function_module_names()
    for name in names:  # and none left by an earlier test is reused
        _forget(name)
    try:
        yield
    finally:
        for name in names:
            _forget(name)


def _forget(name: str) -> None:
    module = sys.modules.pop(name, None)
    app = getattr(module, "app", None)
    if app is not None and hasattr(app, "config") and "logpipe.connections" in app.config:
        deps.close(app)
