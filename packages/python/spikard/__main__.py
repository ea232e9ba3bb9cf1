"""``python -m spikard run FILE.py:app``: the same as the ``spikard`` command."""

from spikard.cli import main

raise SystemExit(main())
