"""Script keywords -> :class:`~pykeepalived.config.model.Script`.

keepalived re-reads the raw line of every keyword that takes a command (``notify_master``,
``script``, ``misc_path``, ``quorum_up`` …) with its quoting rules, then splits the command
string into argv (see :mod:`pykeepalived.config.argv`).  One function does that for every
section, so notify scripts, vrrp_scripts and MISC_CHECKs are split identically.
"""

from __future__ import annotations

from .lines import LogicalLine
from .model import Script
from .parser import Context, SkipLine


def script_from_line(ctx: Context, line: LogicalLine, pos: int = 1) -> Script:
    """The Script configured on ``line`` (keyword at word 0, command string from word ``pos``).

    A missing command is a MISSING_PARAMETER error (the line is skipped).
    """
    from .argv import ArgvError, split_command, split_script_line

    ctx.arg(line, pos)  # reports MISSING_PARAMETER and skips the line when absent
    raw = line.raw.lstrip()
    # drop the words before the command string, as keepalived does (the keyword, and for
    # keywords such as `notify_deleted`, anything before pos)
    rest = raw
    for _ in range(pos):
        rest = rest.lstrip()
        cut = len(rest.split(None, 1)[0]) if rest.split(None, 1) else len(rest)
        rest = rest[cut:]
    try:
        command, user, group = split_script_line(rest.strip())
        argv = tuple(split_command(command))
    except ArgvError as e:
        # keepalived logs the problem and leaves the script unset
        ctx.error(line, e.message, cls=e.cls)
        raise SkipLine from None
    return Script(argv=argv, user=user, group=group, loc=line.loc)
