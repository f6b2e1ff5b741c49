"""Whether a process pool can start from here: a spawned worker imports the caller's script again.

A script that calls :func:`~rampsim.experiment.sweep.sweep` at its top level, without
``if __name__ == "__main__":``, would run again in every spawned worker, which fails
(``BrokenProcessPool``). Notebooks and guarded scripts are safe; for an unguarded
script the sweep runs in the calling process instead, with a notice.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path
from types import FrameType
from typing import Optional

__all__ = ["unguarded_script_line"]


def unguarded_script_line() -> Optional[int]:
    """The line of the ``__main__`` script's top-level code that led here, when it is not under
    ``if __name__ == "__main__":``; ``None`` otherwise (a notebook, an interactive session, a guarded
    script, a call from inside a function)."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)   # `python -m module`: spawned workers run the module again too,
    if spec is not None and spec.name.endswith(".__main__"):   # but never a package's __main__ (multiprocessing's
        return None                                              # spawn._fixup_main_from_name)
    path = getattr(spec, "origin", None) if spec is not None else getattr(main, "__file__", None)
    if main is None or path is None:
        return None
    frame: Optional[FrameType] = sys._getframe(1)
    while frame is not None and not (frame.f_globals is vars(main) and frame.f_code.co_name == "<module>"):
        frame = frame.f_back
    if frame is None:
        return None
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return None
    line = frame.f_lineno
    guarded = any(_is_main_guard(node) and node.lineno <= line <= (node.end_lineno or node.lineno)
                  for node in tree.body if isinstance(node, ast.If))
    return None if guarded else line


def _is_main_guard(node: ast.If) -> bool:
    test = node.test
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, test.comparators[0]]
    return (any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides)
            and any(isinstance(s, ast.Constant) and s.value == "__main__" for s in sides))
