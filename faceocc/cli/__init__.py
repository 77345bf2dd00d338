"""The ``faceocc`` command line, one module per group of commands:

- ``analyze``: ``analyze`` and ``sort``; ``batch``: ``batch`` (the same records on Ray Data);
- ``training``: ``prepare``, ``train``, ``export`` and ``synth-grid``;
- ``evaluate``: ``evaluate``; ``bench_audit``: ``bench`` and ``audit`` (``gather`` loads their faces);
- ``serve``: ``serve`` (defined by ``faceocc.server.commands``).

``options`` defines the options several commands share, ``common`` the helpers (``fail`` exits with code 2),
``conventions`` what every command does alike (``-h``, ``--version``, flags without values).
Nothing below the command line imports this package.
"""

from __future__ import annotations

import typer

from . import analyze, batch, evaluate, serve, sort, training
from .conventions import CONTEXT_SETTINGS, FaceoccGroup, version_option

app = typer.Typer(
    cls=FaceoccGroup,
    context_settings=CONTEXT_SETTINGS,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="faceocc: is each face occluded, by what, where and how much, and usable for face recognition?",
)


@app.callback()
def _app_options(version: bool = version_option()) -> None:
    """faceocc: is each face occluded, by what, where and how much, and usable for face recognition?"""


for _group in (analyze, sort, batch, training, evaluate, serve):  # the order of `faceocc --help`
    _group.register(app)


def main() -> None:
    """The ``faceocc`` console script."""
    app()


__all__ = ["app", "main"]
