"""``python -m rampsim``: the ``rampsim`` command, for environments without the console script."""
import sys

from rampsim.cli import main

if __name__ == "__main__":
    sys.exit(main())
