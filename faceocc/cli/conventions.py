"""The command-line conventions every ``faceocc`` command follows, in one place: the Typer group class of the app.

- ``-h`` is ``--help`` (``CONTEXT_SETTINGS``; sub-commands inherit it);
- a flag shows no value type in ``--help`` (Typer writes ``<bool>`` for them, as if they took a value);
- a flag followed by a truth word (``--eyeglasses-occlude true``) is a usage error naming the flag and its two
  spellings, instead of ``true`` being taken as an input file;
- ``--version`` prints the version (:func:`version_option`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from .common import fail

#: ``-h`` and ``--help`` on every command
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}
#: what people write after a flag that takes no value
TRUTH_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "1", "0"})


def _is_flag(param: Any) -> bool:
    return bool(getattr(param, "is_flag", False)) and not getattr(param, "count", False)


def hide_flag_types(command: Any) -> None:
    """No ``<bool>`` after flags in ``--help`` (an empty metavar), ``-h/--help`` included, for ``command`` and its
    sub-commands."""
    for param in command.params:
        if _is_flag(param) and param.metavar is None:
            param.metavar = ""
    make_help_option = command.get_help_option

    def get_help_option(ctx: Any) -> Any:
        option = make_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option

    command.get_help_option = get_help_option
    for sub in getattr(command, "commands", {}).values():
        hide_flag_types(sub)


def check_flag_values(command: Any, args: list[str]) -> None:
    """Fail (exit 2) where a flag of ``command`` is followed by a truth word that is not an existing file."""
    flags = {}
    for param in command.params:
        if _is_flag(param):
            for opt in [*param.opts, *param.secondary_opts]:
                flags[opt] = param
    for flag, value in zip(args, args[1:]):
        if flag == "--":
            return
        param = flags.get(flag)
        if param is None or value.lower() not in TRUTH_WORDS or Path(value).exists():
            continue
        if param.secondary_opts:
            spell = f"write {param.opts[0]} or {param.secondary_opts[0]}"
        else:
            spell = f"write {flag} to turn it on, leave it out to keep it off"
        fail(f"{flag} is a flag and takes no value (got {value!r}): {spell}")


class FaceoccGroup(TyperGroup):
    """The ``faceocc`` app: Typer's group with the conventions above applied to every command."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        hide_flag_types(self)

    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Any, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None and not ctx.resilient_parsing:
            check_flag_values(command, rest)
        return name, command, rest


def _print_version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"faceocc {__version__}")
        raise typer.Exit()


def version_option() -> Any:
    """``--version``: print ``faceocc X.Y.Z`` and exit 0 (before anything else is parsed)."""
    return typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the faceocc version and exit."
    )
