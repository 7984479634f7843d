"""Script security checks (keepalived's lib/notify.c: ``check_script_secure()`` and ``set_uid_gid()``).

The checks themselves, shared by ``keepalived -t`` (:mod:`.validate.scripts`) and the daemon,
which asks :func:`check_script` once per configured script before it runs one
(:mod:`pykeepalived.notify.security` adds the run-time policy).  :func:`check_script`:

1. decides the user/group: the script's own ``user [group]``, else ``script_user``, else
   ``keepalived_script`` if that user exists, else the daemon's own uid/gid (root).  Under
   ``enable_script_security`` a missing ``keepalived_script`` user (with no ``script_user``)
   disables every script that has no user of its own;
2. resolves argv[0]: a PATH search when it has no ``/``; ``realpath()`` gives the file that is
   executed (the configured path itself with ``use_symlink_paths``), argv[0] keeps the name as
   written (tidied), since some programs act on the name they are called by;
3. checks the file is executable by that uid:gid (keepalived's rule, not ``access()``);
4. when the script will run as root (uid or gid 0, or a setuid/setgid-root file), checks every
   component of the configured path and of the real path: owned by root, and (directories
   without the sticky bit, and files) not writable by a non-root group or by everyone.
   An unsafe path disables the script under ``enable_script_security``; without it the script
   runs and the verdict carries the warning.

Messages are keepalived's log lines, verbatim.  One deliberate difference: keepalived 2.4 refuses
a configured path whose *directories* are symbolic links (``Wrong file type found in script
path``), which disables ``/bin/…`` scripts on merged-/usr systems; here a root-owned symlink in
the path is accepted (its target is checked through the real path).
"""

from __future__ import annotations

import enum
import grp
import os
import pwd
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .model import Script

if TYPE_CHECKING:
    from .model_global import GlobalDefs

DEFAULT_SCRIPT_USER = "keepalived_script"


class Status(enum.Enum):
    """How a script was classified (keepalived's SC_* flags, flattened)."""
    OK = "ok"
    INSECURE = "insecure"  # SC_INSECURE: unsafe path (runs only without enable_script_security)
    SYSTEM = "system"  # "</path" form: a file-readability test run by the shell, not a script
    MISSING = "missing"  # SC_NOTFOUND
    NOT_EXECUTABLE = "not-executable"
    WRONG_TYPE = "wrong-type"  # SC_INHIBIT: a path component of the wrong kind
    NO_USER = "no-user"  # the user/group could not be set


@dataclass(frozen=True, slots=True)
class ScriptUser:
    """Who a script runs as.  ``groups`` is set when supplementary groups must be set too."""
    uid: int
    gid: int
    user: str | None = None
    group: str | None = None
    groups: tuple[int, ...] | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome for one script: whether to run it, and how.

    ``argv`` is what the program receives (argv[0] possibly resolved by the PATH search);
    ``path`` is the file to execute (the real path unless ``use_symlink_paths``), None when the
    script cannot run.  ``messages`` are keepalived's log lines, in order.
    """

    run: bool
    status: Status
    argv: tuple[str, ...]
    path: str | None = None
    user: ScriptUser | None = None
    messages: tuple[str, ...] = ()
    insecure: bool = False
    #: True when the security walk applied (the script runs as root)
    needs_protection: bool = field(default=False)


# -------------------------------------------------------------------------------------------- users


def _lookup_user(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        if name.isdigit():
            try:
                return pwd.getpwuid(int(name))
            except KeyError:
                return None
        return None


def _lookup_group(name: str) -> grp.struct_group | None:
    try:
        return grp.getgrnam(name)
    except KeyError:
        if name.isdigit():
            try:
                return grp.getgrgid(int(name))
            except KeyError:
                return None
        return None


def user_ids(username: str, groupname: str | None = None,
             supplementary: bool = False) -> tuple[ScriptUser | None, list[str]]:
    """keepalived's ``set_uid_gid``: the ids of ``username [[:]groupname]``, or None and why.

    A leading ``:`` on the group (or ``supplementary``) also asks for the user's supplementary
    groups.
    """
    pw = _lookup_user(username)
    if pw is None:
        return None, [f"Script user '{username}' does not exist"]
    gid = pw.pw_gid
    if groupname is not None and groupname.startswith(":"):
        supplementary = True
        groupname = groupname[1:] or None
    if groupname is not None:
        gr = _lookup_group(groupname)
        if gr is None:
            return None, [f"Script group '{groupname}' does not exist"]
        gid = gr.gr_gid
    groups: tuple[int, ...] | None = None
    if supplementary:
        try:
            groups = tuple(os.getgrouplist(pw.pw_name, pw.pw_gid))
        except OSError:
            groups = None
    return ScriptUser(pw.pw_uid, gid, pw.pw_name, groupname, groups), []


def resolve_user(
    user: str | None,
    group: str | None,
    gd: GlobalDefs,
    *,
    kind: str = "notify",
    command: str = "",
    our_uid: int | None = None,
    our_gid: int | None = None,
) -> tuple[ScriptUser | None, list[str]]:
    """Who a script runs as: its own user, else ``script_user``, else ``keepalived_script``, else us.

    Returns None (and keepalived's messages) when the script must be ignored.
    """
    uid = os.geteuid() if our_uid is None else our_uid
    gid = os.getegid() if our_gid is None else our_gid
    supplementary = bool(getattr(gd, "set_supplementary_groups", False))
    if user is not None:
        who, msgs = user_ids(user, group, supplementary)
        if who is None:
            msgs.append(f"Invalid user/group for {kind} script {command} - ignoring")
        return who, msgs
    if gd.script_user is not None:
        who, msgs = user_ids(gd.script_user, gd.script_group, supplementary)
        if who is None:
            msgs.append(f"Failed to set default user for {kind} script {command} - ignoring")
        return who, msgs
    who, msgs = user_ids(DEFAULT_SCRIPT_USER, None, supplementary)
    if who is not None:
        return who, []
    if gd.enable_script_security:
        return None, [*msgs, f"Unable to set default user {DEFAULT_SCRIPT_USER} for script",
                      f"Failed to set default user for {kind} script {command} - ignoring"]
    return ScriptUser(uid, gid, _user_name(uid), _group_name(gid)), []


def _user_name(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def _group_name(gid: int) -> str | None:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return None


# -------------------------------------------------------------------------------------------- paths


def is_executable(st: os.stat_result, uid: int, gid: int) -> bool:
    """keepalived's ``is_executable``: root needs any x bit; others the bit of their class."""
    mode = st.st_mode
    if uid == 0:
        return bool(mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH))
    if uid == st.st_uid:
        return bool(mode & stat.S_IXUSR)
    if gid == st.st_gid:
        return bool(mode & stat.S_IXGRP)
    return bool(mode & stat.S_IXOTH)


def search_path(name: str, uid: int, gid: int, env_path: str | None = None) -> tuple[str | None, bool]:
    """execvp's PATH search (keepalived's ``find_path``): the first executable regular file.

    Returns (path, permission_problem): permission_problem is True when a file was found but
    none was executable for uid:gid (keepalived then says "Permissions failure").
    """
    search = env_path if env_path is not None else os.environ.get("PATH")
    if search is None:
        try:
            search = os.confstr("CS_PATH") or "/bin:/usr/bin"
        except (ValueError, OSError):
            search = "/bin:/usr/bin"
    denied = False
    for d in search.split(":"):
        candidate = f"{d}/{name}" if d else name
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and is_executable(st, uid, gid):
            return candidate, False
        denied = True
    return None, denied


def clean_path(path: str) -> str:
    """argv[0] tidied as keepalived's ``clean_path`` does: absolute, no ``//``, ``/./``, ``/../``."""
    return os.path.normpath(os.path.abspath(path)).replace("//", "/")


def _components(path: str) -> list[str]:
    """``/a/b/c`` -> ``["/", "/a", "/a/b", "/a/b/c"]``."""
    parts = [p for p in path.split("/") if p]
    return ["/"] + ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def check_path_security(path: str, script_security: bool) -> tuple[Status, str | None]:
    """keepalived's ``check_security`` for one path: every component root-owned and not writable
    by a non-root group or by everyone (directories with the sticky bit exempt; symlinks need only
    be root-owned).  Returns (OK | INSECURE | MISSING | WRONG_TYPE, message)."""
    comps = _components(path)
    for i, comp in enumerate(comps):
        last = i == len(comps) - 1
        try:
            st = os.lstat(comp)
        except OSError as e:
            if isinstance(e, PermissionError | FileNotFoundError | NotADirectoryError) or e.errno == 40:
                return Status.MISSING, f"check_script_secure could not find script '{path}' - disabling"
            return Status.MISSING, (f"check_script_secure('{path}') returned errno {e.errno} - "
                                    f"{e.strerror} - disabling")
        mode = st.st_mode
        is_dir, is_reg, is_lnk = stat.S_ISDIR(mode), stat.S_ISREG(mode), stat.S_ISLNK(mode)
        if (not last and not (is_dir or is_lnk)) or (last and not (is_reg or is_lnk)):
            return Status.WRONG_TYPE, f"Wrong file type found in script path '{path}'."
        writable_checked = (is_dir and not mode & stat.S_ISVTX) or is_reg
        group_w = st.st_gid != 0 and mode & stat.S_IWGRP
        if st.st_uid != 0 or (writable_checked and (group_w or mode & stat.S_IWOTH)):
            tail = " - disabling" if script_security else ""
            return Status.INSECURE, f"Unsafe permissions found for script '{path}'{tail}."
    return Status.OK, None


# -------------------------------------------------------------------------------------------- verdict


def check_script(
    script: Script | Sequence[str],
    gd: GlobalDefs,
    *,
    kind: str = "notify",
    use_symlink_paths: bool | None = None,
    env_path: str | None = None,
    our_uid: int | None = None,
    our_gid: int | None = None,
) -> Verdict:
    """Decide whether and how a configured script runs (see the module docstring).

    ``script`` is a config :class:`~pykeepalived.config.model.Script` or a bare argv (then the
    global user rules apply).  ``kind`` names the script in keepalived's messages (``notify``,
    ``vrrp_script``, ``misc_path`` …).  ``env_path`` replaces $PATH for the search (tests).
    """
    if isinstance(script, Script):
        argv, s_user, s_group = script.argv, script.user, script.group
    else:
        argv, s_user, s_group = tuple(script), None, None
    if use_symlink_paths is None:
        use_symlink_paths = bool(getattr(gd, "use_symlink_paths", False))
    security = gd.enable_script_security
    cmd = argv[0] if argv else ""
    msgs: list[str] = []

    def verdict(status: Status, run: bool, who: ScriptUser | None = None, path: str | None = None,
                insecure: bool = False, protect: bool = False) -> Verdict:
        return Verdict(run, status, argv, path, who, tuple(msgs), insecure, protect)

    if not cmd:
        msgs.append("Unable to parse script '' - ignoring")
        return verdict(Status.MISSING, False)
    if cmd.startswith("<") and cmd[1:].lstrip(" \t").startswith("/"):
        return verdict(Status.SYSTEM, True)

    who, user_msgs = resolve_user(s_user, s_group, gd, kind=kind, command=cmd,
                                  our_uid=our_uid, our_gid=our_gid)
    msgs.extend(user_msgs)
    if who is None:
        return verdict(Status.NO_USER, False)

    if "/" not in cmd:
        found, denied = search_path(cmd, who.uid, who.gid, env_path)
        if found is None:
            msgs.append(f"Permissions failure for script {cmd} in path - disabling" if denied
                        else f"Cannot find script {cmd} in path - disabling")
            return verdict(Status.MISSING, False, who)
        msgs.append(f"WARNING - script `{cmd}` resolved by path search to `{found}`. Please specify full path.")
        cmd = found

    try:
        real = os.path.realpath(cmd, strict=True)
    except OSError as e:
        msgs.append(f"Script {cmd} cannot be accessed - {e.strerror}")
        return verdict(Status.MISSING, False, who)
    try:
        st = os.stat(real)
    except OSError:
        msgs.append(f"Unable to access script `{cmd}` - disabling")
        return verdict(Status.MISSING, False, who)

    shown = clean_path(cmd)
    argv = (shown, *argv[1:])
    exec_path = shown if use_symlink_paths else real

    if not stat.S_ISREG(st.st_mode) or not is_executable(st, who.uid, who.gid):
        msgs.append(f"WARNING - script '{shown}' is not executable for uid:gid {who.uid}:{who.gid} - disabling.")
        return verdict(Status.NOT_EXECUTABLE, False, who)

    setuid_root = st.st_uid == 0 and st.st_mode & stat.S_IXUSR and st.st_mode & stat.S_ISUID
    setgid_root = st.st_gid == 0 and st.st_mode & stat.S_IXGRP and st.st_mode & stat.S_ISGID
    protect = who.uid == 0 or who.gid == 0 or bool(setuid_root) or bool(setgid_root)
    if not protect:
        return verdict(Status.OK, True, who, exec_path)

    # keepalived walks the configured path, then the real one if it differs, whatever the first said
    insecure = False
    refused: Status | None = None
    for p in dict.fromkeys((shown, real)):
        status, message = check_path_security(p, security)
        if message:
            msgs.append(message)
        if status is Status.INSECURE:
            insecure = True
            if security:
                refused = refused or Status.INSECURE
        elif status is not Status.OK:
            refused = refused or status
    if refused is not None:
        return verdict(refused, False, who, None, insecure, True)
    return verdict(Status.INSECURE if insecure else Status.OK, True, who, exec_path, insecure, True)


# ------------------------------------------------------------------------------------- config test
# keepalived 2.2.7's ``set_uid_gid`` (lib/notify.c), which ``-t`` reproduces, looks users and groups up by
# name only (getpwnam_r / getgrnam_r); :func:`user_ids` also takes numeric ids and a ``:group`` prefix.


def user_exists(name: str) -> bool:
    """A user of that name exists."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def user_resolves(user: str, group: str | None) -> bool:
    """keepalived's ``set_uid_gid``: the user, and the group when given, exist."""
    if not user_exists(user):
        return False
    if group is None:
        return True
    try:
        grp.getgrnam(group)
    except KeyError:
        return False
    return True
