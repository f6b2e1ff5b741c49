"""``python -m rampsim``: the ``rampsim`` command, for environments without the console script."""
import sys

from rampsim.cli import main

sys.exit(main())
