"""rtcstream.operations.throttle: the first call is ready, then one per interval on the caller's clock."""

from rtcstream.operations.throttle import Throttle


def test_a_throttle_is_ready_at_first_then_once_per_interval():
    throttle = Throttle(10.0)
    assert [throttle.ready(now) for now in (100.0, 100.0, 105.0, 109.9, 110.0, 115.0, 120.0)] == [
        True,
        False,
        False,
        False,
        True,
        False,
        True,
    ]


def test_a_throttle_counts_the_interval_from_the_last_time_it_was_ready_on_the_monotonic_clock_by_default():
    throttle = Throttle(3600.0)
    assert throttle.ready()
    assert not throttle.ready()
