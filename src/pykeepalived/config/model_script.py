"""A command keepalived would run, as every section of the model holds it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .lines import Location


@dataclass(frozen=True, slots=True)
class Script:
    """A command keepalived would run (notify_*, vrrp_script, misc_path, quorum_up …).

    ``argv`` is already split with keepalived's quoting and escape rules; ``user``/``group``
    are as written (None: the global ``script_user`` default applies).  ``loc`` says where
    it was configured, so security and existence problems can be reported at that line.
    """

    argv: tuple[str, ...]
    user: str | None = None
    group: str | None = None
    loc: Location | None = dataclasses.field(default=None, compare=False)

    @property
    def command(self) -> str:
        return " ".join(self.argv)
