"""``python -m pykeepalived.bfd -f FILE [--events PATH]``: run a configuration's bfd_instances in the
foreground, one JSON line per state change on stdout (the session's status plus ``at``, the monotonic time
of the change, and ``last_rx``, the monotonic time of the last valid packet): what the daemon's BFD child
runs, for tests, benchmarks and debugging.  SIGTERM/SIGINT stop it; SIGHUP reloads the file."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys

from pykeepalived.config import load_config
from pykeepalived.signals import on_signal, run_process

from .packet import State
from .process import BfdOptions, BfdProcess
from .session import Session, StateChanged


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pykeepalived.bfd", allow_abbrev=False)
    ap.add_argument("-f", "--use-file", dest="config_file", required=True)
    ap.add_argument("--events", default=None, help="event socket path (default: FILE.bfd.events)")
    ap.add_argument("-D", "--log-detail", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.log_detail else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(message)s")

    def load() -> list:
        result = load_config(args.config_file)
        for d in result.diagnostics:
            if not d.info:
                print(d, file=sys.stderr)
        return list(result.config.vrrp.bfd_instances) if result.config is not None else []

    def changed(session: Session, change: StateChanged, now: float) -> None:
        line = {**session.status(), "event": "state", "old": change.old.label, "new": change.new.label,
                "diag": change.diag.label, "at": now, "bound_us": change.detection_time, "last_rx": session.last_rx,
                "up": change.new is State.UP}
        print(json.dumps(line), flush=True)

    async def run() -> int:
        proc = BfdProcess(load(), BfdOptions(args.events or args.config_file + ".bfd.events", on_change=changed))
        loop = asyncio.get_running_loop()
        on_signal(loop, signal.SIGTERM, proc.stop)
        on_signal(loop, signal.SIGINT, proc.stop)
        on_signal(loop, signal.SIGHUP, lambda: proc.reload(load()))
        await proc.start()
        print(json.dumps({"event": "started", "sessions": proc.status()}), flush=True)
        try:
            await proc.wait()
        finally:
            print(json.dumps({"event": "stopped", "sessions": proc.status()}), flush=True)
            await proc.close()
        return 0

    return run_process(run())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
