"""Files a root daemon writes in shared places (/tmp, /run): never through a name someone else planted.

A new file is created beside the target with O_CREAT|O_EXCL|O_NOFOLLOW (so a symbolic link or file
planted under the temporary name is never opened), written and synced, then renamed over the target
(so a link planted at the target is replaced, not followed, and readers see the old or the new file,
never a half-written one).  Used for the signal dumps and the pid files.
"""

from __future__ import annotations

import os
import secrets


def write_private(path: str | os.PathLike[str], text: str, mode: int = 0o600) -> None:
    """Write ``text`` to ``path`` as root may in a shared directory: a fresh file (O_CREAT|O_EXCL|
    O_NOFOLLOW, ``mode``) beside it, synced, then renamed over ``path``.  A symlink or file planted at
    ``path`` is replaced, never written through.  Raises OSError (the temporary file is removed)."""
    final = os.fspath(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(16):
        tmp = f"{final}.{secrets.token_hex(4)}"
        try:
            fd = os.open(tmp, flags, mode)
        except FileExistsError:
            continue
        break
    else:
        raise FileExistsError(f"no free temporary name beside {final}")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
