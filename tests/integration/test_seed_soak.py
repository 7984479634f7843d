"""The seed under chaos for 60 s (the CI variant of ``bench/soak.py``, which runs as long as you like).

wrk sends requests through http://10.0.0.5/ from the client while lb1/lb2 crash (kill -9 + cables pulled),
stop (SIGTERM) or lose one process (kill -9 of the VRRP child, the checker child or the supervisor), and
rs1/rs2 lose their web servers, at random and bounded (an
event every 1.5-4 s, each broken part back after 2-6 s, at most two broken at once; the random seed is
printed so a failure can be replayed with ``python bench/soak.py --duration 60 --seed N``).

Must hold: no daemon crash (no Traceback, no unexpected child exit, no daemon exiting on its own), never
both load balancers holding a VIP for longer than one advert interval (sampled every 50 ms over
netlink), pages again once everything is back, and nothing left after stop.
"""

from __future__ import annotations

from bench.soak import SAMPLE_EVERY, VIPS, run_soak

from pykeepalived.lab.demo import ADVERT_INT
from tests.conftest import require_binary, require_root

DURATION = 60.0


def test_seed_survives_random_failures_under_wrk_without_split_brain_or_leftovers() -> None:
    require_root()
    require_binary("wrk")
    report = run_soak(DURATION)
    print(report.summary())
    assert not report.crashes, report.crashes
    # ~20 samples/s per lb over the run: the sampler really watched
    assert report.samples >= 2 * 0.5 * DURATION / SAMPLE_EVERY
    for vip in VIPS:
        assert report.overlap[vip] <= ADVERT_INT, f"both lbs held {vip} for {report.overlap[vip]:.3f} s"
    assert report.final_answers and set(report.final_answers) <= {"rs1", "rs2"}, report.final_answers
    assert report.wrk.requests > 0
    assert not report.leftovers, report.leftovers
