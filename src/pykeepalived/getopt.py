"""glibc's ``getopt_long``, so that keepalived's command lines parse as keepalived parses them.

keepalived and genhash call ``getopt_long`` with a leading ``:`` in the option string (getopt prints
nothing; the caller words every message) and then print their own "Unknown option" / "Missing
parameter" lines.  argparse accepts and rejects other things (abbreviations, ``-tFILE`` against
``-t FILE``, options after arguments), so both commands use this instead.  Long options are
``(name, has_arg, value)`` with ``has_arg`` one of :data:`NO_ARGUMENT`, :data:`REQUIRED_ARGUMENT`,
:data:`OPTIONAL_ARGUMENT`; ``x::`` in the short string is an optional argument, taken only when
attached (``-xVALUE``), as glibc does.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

NO_ARGUMENT = 0
REQUIRED_ARGUMENT = 1
OPTIONAL_ARGUMENT = 2


@dataclass(frozen=True, slots=True)
class Opt:
    """One getopt_long return: the option character (or ``?``/``:``), its argument, and context."""

    c: str
    optarg: str | None
    optopt: str  # "" = 0
    longindex: int  # -1 when not set
    curind: int  # index of the argv element the option came from, as genhash tracks it


class GetoptLong:
    """glibc getopt_long, permuting argv in place, with a leading ':' (no messages from getopt itself)."""

    def __init__(self, argv: list[str], shortopts: str, longopts: Sequence[tuple[str, int, str]]) -> None:
        self.argv = argv
        self.short = shortopts
        self.long = longopts
        self.optind = 1
        self.nextchar = ""
        self.first_nonopt = 1
        self.last_nonopt = 1
        self.permute = not self.short.startswith("+") and "POSIXLY_CORRECT" not in os.environ

    def _exchange(self) -> None:
        a, f, o = self.first_nonopt, self.last_nonopt, self.optind
        self.argv[a:o] = self.argv[f:o] + self.argv[a:f]
        self.first_nonopt += o - f
        self.last_nonopt = o

    @staticmethod
    def _nonoption(s: str) -> bool:
        return not s.startswith("-") or s == "-"

    def next(self) -> Opt | None:
        argv, argc = self.argv, len(self.argv)
        curind = self.optind
        if not self.nextchar:
            self.last_nonopt = min(self.last_nonopt, self.optind)
            self.first_nonopt = min(self.first_nonopt, self.optind)
            if self.permute:
                if self.first_nonopt != self.last_nonopt and self.last_nonopt != self.optind:
                    self._exchange()
                elif self.last_nonopt != self.optind:
                    self.first_nonopt = self.optind
                while self.optind < argc and self._nonoption(argv[self.optind]):
                    self.optind += 1
                self.last_nonopt = self.optind
            if self.optind != argc and argv[self.optind] == "--":
                self.optind += 1
                if self.first_nonopt != self.last_nonopt and self.last_nonopt != self.optind:
                    self._exchange()
                elif self.first_nonopt == self.last_nonopt:
                    self.first_nonopt = self.optind
                self.last_nonopt = argc
                self.optind = argc
            if self.optind == argc:
                if self.first_nonopt != self.last_nonopt:
                    self.optind = self.first_nonopt
                return None
            if self._nonoption(argv[self.optind]):
                return None  # only reached without permutation
            if argv[self.optind].startswith("--"):
                self.nextchar = argv[self.optind][2:]
                return self._long(curind)
            self.nextchar = argv[self.optind][1:]

        optarg: str | None
        c = self.nextchar[0]
        self.nextchar = self.nextchar[1:]
        pos = self.short.find(c)
        if not self.nextchar:
            self.optind += 1
        if pos < 0 or c in ":;":
            return Opt("?", None, c, -1, curind)
        if self.short[pos + 1 : pos + 3] == "::":  # optional: only when attached (-tFILE)
            optarg = self.nextchar or None
            if self.nextchar:
                self.optind += 1
            self.nextchar = ""
            return Opt(c, optarg, "", -1, curind)
        if self.short[pos + 1 : pos + 2] == ":":
            if self.nextchar:
                optarg = self.nextchar
                self.optind += 1
            elif self.optind == argc:
                self.nextchar = ""
                return Opt(":", None, c, -1, curind)
            else:
                optarg = argv[self.optind]
                self.optind += 1
            self.nextchar = ""
            return Opt(c, optarg, "", -1, curind)
        return Opt(c, None, "", -1, curind)

    def _long(self, curind: int) -> Opt:
        argv = self.argv
        name, eq, value = self.nextchar.partition("=")
        found = -1
        for i, (lname, _, _) in enumerate(self.long):
            if lname == name:
                found = i
                break
        if found < 0:
            ambiguous = False
            for i, (lname, has_arg, val) in enumerate(self.long):
                if lname.startswith(name):
                    if found < 0:
                        found = i
                    elif (has_arg, val) != self.long[found][1:]:
                        ambiguous = True
            if ambiguous or found < 0:
                self.nextchar = ""
                self.optind += 1
                return Opt("?", None, "", -1, curind)
        self.optind += 1
        self.nextchar = ""
        lname, has_arg, val = self.long[found]
        optarg: str | None = None
        if eq:
            if has_arg == NO_ARGUMENT:
                return Opt("?", None, val, -1, curind)
            optarg = value
        elif has_arg == REQUIRED_ARGUMENT:
            if self.optind < len(argv):
                optarg = argv[self.optind]
                self.optind += 1
            else:
                return Opt(":", None, val, -1, curind)
        return Opt(val, optarg, "", found, curind)
