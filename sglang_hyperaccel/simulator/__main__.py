"""`python -m sglang_hyperaccel.simulator ...`: see `cli.py`."""

from .cli import main

raise SystemExit(main())
