"""``python -m faceocc.synthesis grid ...``: the contact sheet command."""

from .grid import main

raise SystemExit(main())
