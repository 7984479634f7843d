"""LogLimiter: a flood of lines a peer can cause reaches the log as a trickle plus a count."""

from __future__ import annotations

from pykeepalived.ratelimit import LogLimiter


def test_a_flood_logs_burst_lines_per_window_and_reports_what_it_suppressed() -> None:
    lim = LogLimiter(burst=3, interval=10.0)
    decisions = [lim.allow("VI_1/bad_ttl", t * 0.001) for t in range(1000)]  # 1,000 in one second
    assert sum(ok for ok, _ in decisions) == 3
    assert lim.suppressed_total == 997
    assert lim.allow("VI_1/bad_ttl", 10.0) == (True, 997)  # next window: the count comes first
    assert lim.allow("VI_1/bad_ttl", 10.5) == (True, 0)


def test_keys_are_limited_apart_and_their_number_is_bounded() -> None:
    lim = LogLimiter(burst=1, interval=10.0, max_keys=100)
    assert lim.allow("a", 0.0)[0] and lim.allow("b", 0.0)[0]
    assert not lim.allow("a", 1.0)[0]
    for i in range(10_000):
        lim.allow(("src", i), 2.0)
    assert len(lim._windows) <= 100
