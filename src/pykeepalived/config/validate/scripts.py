"""Script checks on the finished configuration, as ``keepalived -t`` reports them: the user each
script runs as, and keepalived's ``check_script_secure`` (lib/notify.c) on this machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..errors import ErrClass
from ..model import Config, Script
from ..model_global import GlobalDefs
from ..model_lvs import (
    LvsConfig,
    MiscCheck,
    VirtualServer,
)
from ..model_vrrp import (
    NotifyScripts,
    VrrpConfig,
)
from ..parser import Context
from ..script_security import Status, check_script, user_exists, user_resolves


def script_status(script: Script) -> tuple[str, str | None]:
    """How keepalived's ``check_script_secure`` classifies a script on this machine.

    Returns (status, log message): ``system`` (``</path`` form, not a script), ``missing``,
    ``not-executable``, ``insecure`` or ``ok``.  The checks are :mod:`..script_security`'s
    (the same ones the daemon applies before running a script); tests replace this function to
    describe a machine other than the one they run on.
    """
    cmd = script.argv[0] if script.argv else ""
    if cmd.startswith("<") and cmd[1:].lstrip(" \t").startswith("/"):
        return "system", None
    v = check_script(script, GlobalDefs(script_user="root"), our_uid=0, our_gid=0)
    status = {Status.SYSTEM: "system", Status.OK: "ok", Status.INSECURE: "insecure",
              Status.NOT_EXECUTABLE: "not-executable", Status.WRONG_TYPE: "wrong-type"}.get(v.status, "missing")
    message = v.messages[-1] if v.messages else None
    if status == "insecure" and message:
        message = message.removesuffix(".")  # check_scripts adds " - disabling" and "."
    return status, message


@dataclass(frozen=True)
class _ScriptUse:
    """One configured script as keepalived's script checks see it."""
    script: Script
    #: "track" (a vrrp_script), "misc" (a MISC_CHECK) or the notify type ("notify", "quorum_up" …)
    kind: str
    #: the vrrp_script's name for track scripts
    name: str | None = None
    user: str | None = None
    group: str | None = None


def _cmd_str(script: Script) -> str:
    """keepalived's ``cmd_str``: each word in single quotes (a leading ``<``/``>`` word bare)."""
    return " ".join(w if i == 0 and w[:1] in ("<", ">") else f"'{w}'" for i, w in enumerate(script.argv))


def _script_uses(ctx: Context, config: Config) -> list[tuple[str, list[_ScriptUse]]]:
    """The scripts each of keepalived's script checks visits, grouped as its messages name them."""
    gd = config.global_defs
    vrrp_scripts = [*config.vrrp.vrrp_scripts, *ctx.shared.get("unused_vrrp_scripts", ())]
    track_ids = {id(vs.script) for vs in vrrp_scripts}

    def plain(*scripts: Script | None, kind: str = "notify") -> list[_ScriptUse]:
        return [_ScriptUse(s, kind, user=s.user, group=s.group) for s in scripts if s is not None]

    vrrp = [_ScriptUse(s, "notify", user=s.user, group=s.group)
            for s in iter_vrrp_scripts(config.vrrp) if id(s) not in track_ids]
    vrrp += [_ScriptUse(vs.script, "track", vs.name, vs.user, vs.group) for vs in vrrp_scripts]
    vrrp += plain(gd.notify_fifo_script, gd.vrrp_notify_fifo_script)
    check = [_ScriptUse(s, "misc" if misc else "notify", user=s.user, group=s.group)
             for s, misc in _lvs_scripts(config.lvs)]
    check += plain(gd.lvs_notify_fifo_script)
    groups = [
        ("start/shutdown scripts", [*plain(gd.startup_script, kind="startup"),
                                    *plain(gd.shutdown_script, kind="shutdown")]),
        ("check scripts", check),
    ]
    if ctx.shared.get("vrrp_instances_configured") and not ctx.shared.get("vrrp_aborted"):
        groups.insert(0, ("scripts", vrrp))
    return groups


def check_scripts(ctx: Context, config: Config) -> None:
    """keepalived's script checks, as ``keepalived -t`` reports them.

    A script runs as its own ``user`` (which must exist), else as ``script_user`` (which must
    exist: ``Error setting global script uid/gid`` at that line), else as ``keepalived_script``
    if that user exists, else as root -- except that under ``enable_script_security`` a missing
    ``keepalived_script`` fails the default.  A script whose user cannot be set is removed (an
    error for vrrp_scripts and MISC_CHECKs, a log line for notify scripts).  Of the rest, a
    vrrp_script that cannot be found, or is insecure under script security, is disabled with an
    error; other scripts' problems are log lines.  Scripts that would run without
    ``enable_script_security`` give a SECURITY VIOLATION (exit 6).

    The VRRP part is skipped when there is no vrrp_instance, or when the VRRP configuration was
    abandoned (keepalived's VRRP process stops before it checks scripts when an interface does
    not exist).
    """
    gd = config.global_defs
    default_failed = bool(ctx.shared.get("script_user_failed"))
    default_checked = gd.script_user is not None
    for what, uses in _script_uses(ctx, config):
        is_script = insecure = False
        for use in uses:
            script = use.script
            if use.user is not None:
                if not user_resolves(use.user, use.group):
                    if use.kind == "track":
                        ctx.error(script.loc, f"Unable to set uid/gid for script {_cmd_str(script)}")
                    elif use.kind == "misc":
                        ctx.error(script.loc,
                                  f"Failed to set uid/gid for misc checker script {_cmd_str(script)} - removing")
                    elif use.kind in ("startup", "shutdown"):
                        ctx.error(script.loc, f"Invalid {use.kind} script")
                    else:
                        ctx.note(script.loc, f"Invalid user/group for {use.kind} script {script.argv[0]} - ignoring")
                    continue
            else:
                if not default_checked:
                    default_checked = True
                    if gd.enable_script_security and not user_exists("keepalived_script"):
                        ctx.error(script.loc, "Unable to set default user keepalived_script for script")
                        default_failed = True
                if default_failed:
                    if use.kind == "track":
                        ctx.error(script.loc, f"Unable to set default user for vrrp script {use.name} - removing")
                    elif use.kind == "misc":
                        ctx.error(script.loc,
                                  f"Unable to set default user for misc script {_cmd_str(script)} - removing")
                    else:
                        ctx.note(script.loc,
                                 f"Failed to set default user for {use.kind} script {script.argv[0]} - ignoring")
                    continue
            status, message = script_status(script)
            if status == "insecure":
                insecure = True
                if gd.enable_script_security:
                    message = f"{message} - disabling"
            if message:
                ctx.note(script.loc, message + ".") if status == "insecure" else ctx.note(script.loc, message)
            if use.kind == "track":
                if status == "missing":
                    ctx.error(script.loc, f"Disabling track script {use.name} since not found/accessible")
                elif status == "wrong-type" or (status == "insecure" and gd.enable_script_security):
                    ctx.error(script.loc, f"Disabling track script {use.name} due to insecure")
            if status in ("ok", "insecure", "not-executable"):
                is_script = True
        if is_script and not gd.enable_script_security:
            extra = " There are insecure scripts." if insecure else ""
            ctx.error(
                None,
                f"SECURITY VIOLATION - {what} are being executed but script_security not enabled.{extra}",
                cls=ErrClass.SECURITY_ERROR,
            )






def _notify_scripts(notify: NotifyScripts) -> Iterator[Script]:
    for s in (notify.master, notify.backup, notify.fault, notify.stop, notify.deleted,
              notify.master_rx_lower_pri, notify.generic):
        if s is not None:
            yield s


def iter_vrrp_scripts(vrrp: VrrpConfig) -> Iterator[Script]:
    """Every script the VRRP side may run, in model field order (instances' notify scripts,
    sync groups' notify scripts, vrrp_script commands).

    Lets script-security checks visit just these instead of walking the whole model.
    """
    for inst in vrrp.instances:
        yield from _notify_scripts(inst.notify)
    for sg in vrrp.sync_groups:
        yield from _notify_scripts(sg.notify)
    for vs in vrrp.vrrp_scripts:
        yield vs.script


def iter_lvs_scripts(lvs: LvsConfig) -> Iterator[Script]:
    """Every script the LVS side may run (quorum_up/down, notify_up/down, misc_path).

    Lets script-security checks visit just these instead of walking the whole model.
    """
    for script, _ in _lvs_scripts(lvs):
        yield script


def _lvs_scripts(lvs: LvsConfig) -> list[tuple[Script, bool]]:
    """The LVS side's scripts, each with whether it is a MISC_CHECK's."""
    found: list[tuple[Script, bool]] = []
    for vs in lvs.virtual_servers:
        found += service_scripts(vs)
    return found


def service_scripts(vs: VirtualServer) -> list[tuple[Script, bool]]:
    """One virtual server's scripts, each with whether it is a MISC_CHECK's: one plain walk of its real servers
    (a large configuration has tens of thousands and no script)."""
    found: list[tuple[Script, bool]] = []
    for s in (vs.quorum_up, vs.quorum_down):
        if s is not None:
            found.append((s, False))
    for rs in vs.real_servers:
        if rs.notify_up is not None:
            found.append((rs.notify_up, False))
        if rs.notify_down is not None:
            found.append((rs.notify_down, False))
        for c in rs.checkers:
            if type(c) is MiscCheck:
                found.append((c.misc_path, True))
    return found
