"""``python -m faceocc``: the ``faceocc`` command."""

from .cli import main

main()
