import pytest

from ansible_collections.ambientmesh.multicluster.plugins.module_utils import wait


class Clock:
    """A fake monotonic clock: sleeping advances it, nothing really sleeps."""

    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_returns_the_first_value_that_is_done_without_sleeping_when_ready():
    clock = Clock()
    assert wait.until(lambda: "ready", 10, 1, sleep=clock.sleep, clock=clock) == "ready"
    assert clock.sleeps == []


def test_polls_every_interval_until_done():
    clock, values = Clock(), iter([None, 0, "", "token"])
    assert wait.until(lambda: next(values), 10, 2, sleep=clock.sleep, clock=clock) == "token"
    assert clock.sleeps == [2, 2, 2]


def test_done_decides_and_the_value_is_returned_as_is():
    clock, values = Clock(), iter([({}, ["a"]), ({}, [])])
    assert wait.until(lambda: next(values), 10, 1, done=lambda v: not v[1], sleep=clock.sleep, clock=clock) == ({}, [])


def test_times_out_with_the_last_value_never_sleeping_past_the_deadline():
    clock, polls = Clock(), []

    def poll():
        polls.append(clock.now)
        return len(polls)

    with pytest.raises(wait.TimedOut) as e:
        wait.until(poll, 5, 2, done=lambda v: False, sleep=clock.sleep, clock=clock)
    assert e.value.last == 4 and e.value.timeout == 5
    assert clock.sleeps == [2, 2, 1] and polls == [0, 2, 4, 5]


def test_on_timeout_gets_the_last_value_and_raises_the_callers_error():
    clock = Clock()

    def timed_out(last):
        raise ValueError("still %s" % last)

    with pytest.raises(ValueError, match="still pending"):
        wait.until(lambda: "pending", 3, 1, done=lambda v: v == "ok", on_timeout=timed_out,
                   sleep=clock.sleep, clock=clock)
    gave_up = wait.until(lambda: None, 1, 1, on_timeout=lambda last: "gave up", sleep=clock.sleep, clock=clock)
    assert gave_up == "gave up"


def test_a_clock_read_once_before_and_once_after_each_poll():
    readings = []

    def clock():
        readings.append(len(readings))
        return readings[-1]

    with pytest.raises(wait.TimedOut):
        wait.until(lambda: None, 2, 1, sleep=lambda s: None, clock=clock)
    assert len(readings) == 3  # deadline 0+2; after poll 1 (1 left), after poll 2 (0 left)


def test_the_wait_options_spec_matches_its_doc_fragment():
    import yaml
    from ansible_collections.ambientmesh.multicluster.plugins.doc_fragments.wait import ModuleDocFragment

    for doc, spec in ((ModuleDocFragment.DOCUMENTATION, wait.argument_spec()),
                      (ModuleDocFragment.TIMEOUT, wait.argument_spec(with_wait=False))):
        options = yaml.safe_load(doc)["options"]
        assert sorted(options) == sorted(spec)
        for name, option in options.items():
            assert (option["type"], option["default"]) == (spec[name]["type"], spec[name]["default"])
