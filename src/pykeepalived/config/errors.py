"""Diagnostics: located, classified config problems.

keepalived classifies every config problem (``config_err_t`` in lib/parser.h) and ``-t``
derives its exit status from the numerically largest class seen.  We keep the same classes
so ``pykeepalived -t`` returns what keepalived 2.2.7 returns for the same file, and print
each problem as ``FILE:LINE:COL: error|warning: message`` with an optional hint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from .lines import Location


class ErrClass(IntEnum):
    """keepalived's config_err_t, in enum order (the largest value seen wins)."""

    OK = 0
    FILE_NOT_FOUND = 1
    BAD_IF = 2
    FATAL = 3
    MULTIPLE_FILES = 4
    UNKNOWN_KEYWORD = 5
    UNEXPECTED_BOB = 6
    MISSING_BOB = 7
    UNEXPECTED_EOB = 8
    MISSING_EOB = 9
    UNMATCHED_QUOTE = 10
    MISSING_PARAMETER = 11
    INVALID_NUMBER = 12
    GENERAL_ERROR = 13
    WARNING = 14
    DEPRECATED = 15
    SECURITY_ERROR = 16


#: classes printed as "warning" rather than "error"
_WARNING_CLASSES = frozenset({ErrClass.WARNING, ErrClass.DEPRECATED})


@dataclass(frozen=True, slots=True)
class Diagnostic:
    loc: Location | None
    cls: ErrClass
    message: str
    hint: str | None = None
    #: purely informational lines (keepalived logs them but they do not change the exit code)
    info: bool = False

    @property
    def severity(self) -> str:
        if self.info:
            return "note"
        return "warning" if self.cls in _WARNING_CLASSES else "error"

    def __str__(self) -> str:
        where = f"{self.loc}: " if self.loc is not None else ""
        text = f"{where}{self.severity}: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


@dataclass
class Diagnostics:
    """Collects diagnostics in the order they were found."""

    items: list[Diagnostic] = field(default_factory=list)
    #: keepalived stopped before validating (it could not enter the configured network namespace)
    stopped: bool = False
    #: a keyword missing its parameter where keepalived's parent reads it too (global keywords)
    parent_missing_parameter: bool = False

    def add(
        self,
        loc: Location | None,
        cls: ErrClass,
        message: str,
        hint: str | None = None,
        *,
        info: bool = False,
    ) -> None:
        self.items.append(Diagnostic(loc, cls, message, hint, info))

    def error(self, loc: Location | None, message: str, hint: str | None = None,
              cls: ErrClass = ErrClass.GENERAL_ERROR) -> None:
        self.add(loc, cls, message, hint)

    def warning(self, loc: Location | None, message: str, hint: str | None = None,
                cls: ErrClass = ErrClass.WARNING) -> None:
        self.add(loc, cls, message, hint)

    def extend(self, other: Diagnostics) -> None:
        """``other``'s diagnostics after these, and its flags with these."""
        self.items.extend(other.items)
        self.stopped |= other.stopped
        self.parent_missing_parameter |= other.parent_missing_parameter

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def worst(self) -> ErrClass:
        """The numerically largest class seen (keepalived's rule), ignoring info lines."""
        classes = [d.cls for d in self.items if not d.info]
        return max(classes, default=ErrClass.OK)

    @property
    def missing_parameter(self) -> bool:
        return any(d.cls is ErrClass.MISSING_PARAMETER for d in self.items)

    def config_test_exit_code(self) -> int:
        """Exit status of ``keepalived -t`` (2.2.7) for these diagnostics.

        0 OK; 2 a keyword missing its parameter (keepalived aborts there); 0 when keepalived
        stopped before validating (``stopped``); 4 file-not-found / bad interface / fatal alone;
        6 script security; 5 anything else.
        """
        if self.stopped:  # only the parent's read happened
            return 2 if self.parent_missing_parameter else 0
        if self.missing_parameter:
            return 2
        worst = self.worst
        if worst is ErrClass.OK:
            return 0
        if worst is ErrClass.SECURITY_ERROR:
            return 6
        if worst in (ErrClass.FILE_NOT_FOUND, ErrClass.BAD_IF, ErrClass.FATAL):
            return 4
        return 5
