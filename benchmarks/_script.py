"""What every benchmark script does with ``-h``/``--help``: print its docstring (how to run it) and stop."""
from __future__ import annotations

import sys


def answer_help(doc: str | None) -> None:
    """Print ``doc`` and exit 0 when the command line asks for help; return otherwise."""
    if {"-h", "--help"} & set(sys.argv[1:]):
        print(doc)
        sys.exit(0)
