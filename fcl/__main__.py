"""``python -m fcl``: the same as the ``fcl`` command."""

from fcl.main import main

raise SystemExit(main())
