"""The engine's own exceptions, subclasses of `ValueError` as scipy's are.

    NumericsError               an argument the engine cannot use (`field` names it)
    ├── OptionError             an option out of its range (`step` 0, odd central `accuracy`)
    │   └── MethodUnavailable   a method that cannot compute this (complex step, order 2)
    └── ShapeError              points or axes of a shape the engine does not take

Callers outside HTTP catch `ValueError`; the service maps these to its client errors.
"""

from __future__ import annotations


class NumericsError(ValueError):
    """One sentence saying what to change; `field` is the argument it is about."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class OptionError(NumericsError):
    pass


class MethodUnavailable(OptionError):
    pass


class ShapeError(NumericsError):
    pass
