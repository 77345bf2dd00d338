"""``faceocc serve``: the command lives with the HTTP service (``faceocc.server.commands``, which imports FastAPI only
when it runs); this module puts it on the command line."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    from ..server import commands

    commands.register(app)
