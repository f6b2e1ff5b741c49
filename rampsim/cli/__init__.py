"""The ``rampsim`` command line: one module per group of subcommands.

Every module in this package that defines ``register(subparsers)`` adds its
subcommands with ``set_defaults(run=function)``; ``function(args)`` returns the
exit code.
"""
from __future__ import annotations

import argparse
import importlib
import io
import os
import pkgutil
import sys
import traceback
from typing import Optional, Sequence

from rampsim import __version__
from rampsim.errors import (
    DataUnavailable, Interrupted, InvalidPlanError, RampsimError, UsageError, WriteRefused, write_error,
)
from rampsim.plan.loader import PlanError
from rampsim.cli import arguments

# The exit codes every command shares, defined here only; rampsim.errors states those of its kinds.
EXIT_USAGE = UsageError.exit_code
EXIT_INVALID_PLAN = InvalidPlanError.exit_code
EXIT_UNAVAILABLE = DataUnavailable.exit_code
EXIT_INTERRUPTED = Interrupted.exit_code
EXIT_INTERNAL_ERROR = 70  # EX_SOFTWARE
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a command whose reader closed the pipe

_EXTRAS = {"simpy": "sim", "scipy": "sim", "pandas": "sim", "matplotlib": "sim", "hypothesis": "testing",
           "dask": "dask", "distributed": "dask"}   # optional dependencies: the extra that installs each


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
    parser.add_argument("--debug", action="store_true", help="show the traceback of an internal error (exit 70)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=arguments.Parser)
    for module in _command_modules():
        module.register(subparsers)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    for stream in (sys.stdout, sys.stderr):   # text a plan holds that no encoding can write (a lone surrogate)
        if isinstance(stream, io.TextIOWrapper):   # is escaped, never an UnicodeEncodeError
            stream.reconfigure(errors="backslashreplace")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away (`rampsim explain ... | head`): stop quietly, as Unix tools do
        try:
            sys.stdout = open(os.devnull, "w")   # nothing more to flush at exit
        except OSError:
            pass
        return EXIT_BROKEN_PIPE
    except PlanError as exc:
        print(f"rampsim {args.command}: {len(exc.problems)} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return exc.exit_code
    except RampsimError as exc:  # the one place that maps an error's kind to its exit code
        print(f"rampsim {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:  # a bug, not a verdict: never let it look like one (rampsim gate's 1 is "rollback")
        if isinstance(exc, OSError):
            refused = write_error("its output (standard output or a file)", exc)
            if isinstance(refused, WriteRefused):
                print(f"rampsim {args.command}: {refused}", file=sys.stderr)
                return refused.exit_code
        missing = (exc.name or "") if isinstance(exc, ModuleNotFoundError) else ""
        extra = _EXTRAS.get(missing.partition(".")[0])
        if extra is not None:
            print(f"rampsim {args.command}: needs {missing!r}, which is not installed: "
                  f"pip install 'rampsim[{extra}]'", file=sys.stderr)
            return EXIT_USAGE
        if args.debug:
            traceback.print_exc()
        print(f"rampsim {args.command}: internal error (exit {EXIT_INTERNAL_ERROR}); please report it"
              f"{'' if args.debug else ' with the traceback of: rampsim --debug ' + args.command + ' ...'}",
              file=sys.stderr)
        return EXIT_INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
