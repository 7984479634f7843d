"""Script security at run time (keepalived's lib/notify.c: ``check_script_secure()``).

Every script user (VRRP notify, vrrp_script, MISC_CHECK, notify_up/down, quorum_up/down,
startup/shutdown, FIFO scripts) asks for a verdict once per configured script, when the config is
loaded, and runs the script only if the verdict says so, with the verdict's argv, executable path
and user.  The checks themselves (:func:`check_script`: user, PATH search, executable bit, path
ownership and permissions) live in :mod:`pykeepalived.config.script_security`, which the config
test (``-t``) uses too; this module adds the policy: one verdict per script, logged once, and the
job it allows.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pykeepalived.config.model import Script
from pykeepalived.config.script_security import (
    DEFAULT_SCRIPT_USER,
    ScriptUser,
    Status,
    Verdict,
    check_path_security,
    check_script,
    clean_path,
    is_executable,
    resolve_user,
    search_path,
    user_ids,
)

from .scripts import ScriptJob

if TYPE_CHECKING:
    from pykeepalived.config.model_global import GlobalDefs

__all__ = [
    "DEFAULT_SCRIPT_USER", "ScriptPolicy", "ScriptUser", "Status", "Verdict", "check_path_security", "check_script",
    "clean_path", "is_executable", "resolve_user", "search_path", "user_ids", "verdict_job",
]

log = logging.getLogger("pykeepalived.notify")


# ------------------------------------------------------------------------------------------ policy


def verdict_job(verdict: Verdict, *extra: str) -> ScriptJob | None:
    """The job a security verdict allows (None when the script is disabled).

    The ``</path`` form goes through /bin/sh, as keepalived's ``system()``; otherwise the
    verdict's resolved path is executed as the verdict's uid, gid and groups.
    """
    if not verdict.run:
        return None
    if verdict.status is Status.SYSTEM:
        return ScriptJob(("/bin/sh", "-c", " ".join((*verdict.argv, *extra))))
    argv = (verdict.path or verdict.argv[0], *verdict.argv[1:], *extra)
    who = verdict.user
    if who is None:
        return ScriptJob(argv)
    return ScriptJob(argv, who.uid, who.gid, who.groups)


class ScriptPolicy:
    """Script security for every script a process runs (VRRP notify, vrrp_script, MISC_CHECK,
    notify_up/down, quorum_up/down, FIFO scripts): one verdict per script and configuration, its
    messages logged that once, and the job it allows.  Nothing runs a configured script otherwise."""

    def __init__(self, global_defs: GlobalDefs) -> None:
        self.g = global_defs
        self._verdicts: dict[tuple[str, Script], Verdict] = {}

    def reload(self, global_defs: GlobalDefs) -> None:
        self.g = global_defs
        self._verdicts.clear()

    def verdict(self, script: Script, kind: str = "notify") -> Verdict:
        key = (kind, script)
        v = self._verdicts.get(key)
        if v is None:
            v = self._verdicts[key] = check_script(script, self.g, kind=kind)
            for message in v.messages:
                log.warning("%s", message)
        return v

    def job(self, script: Script | None, *extra: str, kind: str = "notify") -> ScriptJob | None:
        """The job for a configured script plus appended arguments; None when not configured or refused."""
        if script is None or not script.argv:
            return None
        return verdict_job(self.verdict(script, kind), *extra)
