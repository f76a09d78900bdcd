"""Binds command names to the functions that implement them.

Handlers are plain functions `handler(ctx, args)`; `args` is the command's
argument model, or None for commands without arguments.  They may be
coroutines.  The schema, not this table, decides what exists: a test checks the
two agree.  `vmd.handlers.table` imports every handler module, which fills it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from vmd.handlers.context import CommandContext

Handler = Callable[[CommandContext, Any], Any | Awaitable[Any]]
F = TypeVar("F", bound=Handler)

HANDLERS: dict[str, Handler] = {}


def handles(name: str) -> Callable[[F], F]:
    def register(fn: F) -> F:
        if name in HANDLERS:
            raise ValueError(f"two handlers for {name}")
        HANDLERS[name] = fn
        return fn

    return register
