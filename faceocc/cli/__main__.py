"""``python -m faceocc.cli``: the ``faceocc`` command."""

from . import main

main()
