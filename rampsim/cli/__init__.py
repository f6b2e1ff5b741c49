"""The ``rampsim`` command line: one module per group of subcommands.

Every module in this package that defines ``register(subparsers)`` adds its
subcommands with ``set_defaults(run=function)``; ``function(args)`` returns the
exit code.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import traceback
from typing import Optional, Sequence

from rampsim import __version__



EXIT_INTERNAL_ERROR = 70  # EX_SOFTWARE
EXIT_INTERRUPTED = 130


def _command_modules() -> list:
    package = importlib.import_module(__name__)
    names = sorted(m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_"))
    modules = [importlib.import_module(f"{__name__}.{name}") for name in names]
    return [m for m in modules if hasattr(m, "register")]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rampsim",
        description="A flight simulator for progressive-delivery gates.",
    )
    parser.add_argument("--version", action="version", version=f"rampsim {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _command_modules():
        module.register(subparsers)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception:  # a bug, not a verdict: never let it look like one (rampsim gate's 1 is "rollback")
        traceback.print_exc()
        print(f"rampsim {args.command}: internal error (exit {EXIT_INTERNAL_ERROR}); please report it",
              file=sys.stderr)
        return EXIT_INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
