"""The errors rampsim reports to its user, one base and a few kinds, each with its exit code.

Everything rampsim raises on purpose derives from :class:`RampsimError`; the command
line maps each kind to its documented exit code in one place (``rampsim.cli.main``),
and anything else is a bug: exit 70, the traceback behind ``--debug``. Kinds that
describe a value that cannot be used also derive from ``ValueError``, so pydantic
validators report them as field errors.
"""
from __future__ import annotations

import errno
import operator

__all__ = ["RampsimError", "UsageError", "InvalidPlanError", "DataUnavailable", "Interrupted", "WriteRefused",
           "write_error", "whole_number"]


class RampsimError(Exception):
    """Base of every error rampsim reports on purpose."""

    exit_code = 2

    def __reduce__(self) -> tuple:
        """Pickled as its message and attributes, whatever its constructor takes: an error raised in a sweep's worker
        process reaches the caller as raised (pickle calls ``cls(*args)``: a :class:`PlanError` rebuilt from its joined
        message split it into one problem per character)."""
        return _rebuilt, (type(self), self.args, self.__dict__)


def _rebuilt(cls: "type[RampsimError]", args: tuple, state: dict) -> "RampsimError":
    error = Exception.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class UsageError(RampsimError, ValueError):
    """Bad arguments, or a value that cannot be read (a unit, a fault, a grid axis, a time)."""

    exit_code = 2


class InvalidPlanError(RampsimError, ValueError):
    """A plan, mix or naming file that cannot be used."""

    exit_code = 3


class DataUnavailable(RampsimError):
    """Metrics that cannot be had: Prometheus unreachable or failing, a recording that cannot be read."""

    exit_code = 5


class Interrupted(RampsimError):
    """Work stopped by the user; what finished is saved."""

    exit_code = 130


class WriteRefused(RampsimError):
    """A write the system refused (a full disk, a read-only file system, an I/O error): not the arguments' fault."""

    exit_code = 74   # EX_IOERR


_REFUSED_WRITES = (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EFBIG)


def write_error(path: object, exc: OSError) -> RampsimError:
    """The error to report for ``exc``, met writing ``path``: :class:`WriteRefused` when the system refused the write
    (exit 74), else a :class:`UsageError` (exit 2: a path that cannot be written, a directory given for a file)."""
    kind = WriteRefused if exc.errno in _REFUSED_WRITES else UsageError
    return kind(f"cannot write {exc.filename or path}: {exc.strerror or exc}")


def whole_number(name: str, value: object, minimum: int = 0) -> int:
    """``value`` as an argument ``name`` of the Python API that must be a whole number of at least ``minimum``; a
    :class:`UsageError` naming it otherwise (a float such as ``1.9`` is never truncated, a bool is not a number)."""
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        number = None
    if number is None or isinstance(value, bool):
        raise UsageError(f"{name} must be a whole number, got {value!r}")
    if number < minimum:
        raise UsageError(f"{name} must be at least {minimum}, got {number}")
    return number
