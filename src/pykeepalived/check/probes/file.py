"""FILE_CHECK (keepalived's ``check_file.c``): a tracked file's value gives the real server's weight.

value x weight is the weight contribution (reversed with ``reverse``); with weight 0 any non-zero value
means down, and a contribution at or below IPVS_WEIGHT_FAULT marks the checker down.  Not a network
dialogue: the runner polls the file every second (:data:`~pykeepalived.check.state.FILE_CHECK_TIMING`).
"""

from __future__ import annotations

import asyncio

from pykeepalived.check.probes.common import Done, Kind, Setup
from pykeepalived.check.state import IPVS_WEIGHT_FAULT, Result
from pykeepalived.config.model_lvs import FileCheck, RealServer, VirtualServer
from pykeepalived.config.model_vrrp import TrackFile


def read_track_file(path: str) -> int:
    """The value in a tracked file as keepalived reads it (leading integer; unreadable/garbage = 0)."""
    try:
        with open(path, "rb") as f:
            text = f.read(64).split()
    except OSError:
        return 0
    if not text:
        return 0
    try:
        return int(text[0])
    except ValueError:
        return 0


class FileProbe:
    """FILE_CHECK: value × weight is the weight contribution; weight 0 means non-zero = down."""

    def __init__(self, check: FileCheck, track: TrackFile | None, loop: asyncio.AbstractEventLoop) -> None:
        self.path = track.file if track is not None else check.track_file
        weight = check.weight if check.weight is not None else (track.weight if track is not None else 1)
        reverse = check.reverse if check.weight is not None else (track.weight_reverse if track else False)
        self.weight = -weight if reverse else weight
        self._loop = loop

    def evaluate(self, value: int) -> Result:
        if self.weight == 0:
            return Result(value == 0, reason=f"value {value}")
        contribution = value * self.weight
        if contribution <= IPVS_WEIGHT_FAULT:
            return Result(False, reason=f"value {value}")
        return Result(True, weight_delta=contribution)

    def start(self, done: Done) -> None:
        self._loop.call_soon(done, self.evaluate(read_track_file(self.path)))

    def cancel(self) -> None:
        pass


def build(setup: Setup, vs: VirtualServer, rs: RealServer, checker: FileCheck) -> FileProbe:
    return FileProbe(checker, setup.track_files.get(checker.track_file), setup.loop)


KIND = Kind(FileCheck, ("FILE_CHECK",), steps=None, build=build)
