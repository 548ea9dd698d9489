"""Test plugins for `trackpipe run` in subprocesses: a directory on PYTHONPATH makes every Python
process of a test job (the launcher of --nproc and each rank) import this module at start-up.

- readers ``test_flaky`` (a generator over the ACTS reader, with event numbers), ``test_flaky_iter``
  (an iterator object that goes on after an error) and ``test_flaky_unlisted`` (a generator that
  cannot list its events): each raises DataError on the event numbers in $TRACKPIPE_TEST_BAD_EVENTS;
- graph builder ``test_slow``: sleeps $TRACKPIPE_TEST_SLOW_S seconds per event (default 0.2), so
  that a kill lands while events are being processed; with $TRACKPIPE_TEST_MARKS set it first
  creates the file ``RANK-PID-EVENT`` in that directory.

Nothing here imports torch: processes that do not need it stay fast.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from tracking.errors import DataError
from tracking.registry import register


def _bad_events() -> set[int]:
    return {int(x) for x in os.environ.get("TRACKPIPE_TEST_BAD_EVENTS", "").split(",") if x}


@register("reader", "test_flaky")
class FlakyReader:
    """ACTS events; DataError on the events in $TRACKPIPE_TEST_BAD_EVENTS (a generator: ends there)."""

    @dataclass
    class Config:
        events: list[int] | None = None

    def __init__(self, config):
        from tracking import registry

        self.config = config
        self.inner = registry.create("reader", "acts_root", {"events": config.events})

    def count(self, source):
        return self.inner.count(source)

    def event_numbers(self, source):
        return self.inner.event_numbers(source)

    def __call__(self, source):
        bad = _bad_events()
        for event in self.inner(source):
            if event.event_id in bad:
                raise DataError("test: coordinates are NaN", file=str(source), event=event.event_id)
            yield event


class _GoesOn:
    def __init__(self, events, bad, source):
        self.events, self.bad, self.source = events, bad, source

    def __iter__(self):
        return self

    def __next__(self):
        event = next(self.events)
        if event.event_id in self.bad:
            raise DataError("test: coordinates are NaN", file=str(self.source), event=event.event_id)
        return event


@register("reader", "test_flaky_iter")
class FlakyIterReader(FlakyReader):
    """ACTS events; DataError on the bad events, and the iteration goes on after it."""

    def __call__(self, source):
        return _GoesOn(iter(self.inner(source)), _bad_events(), source)


@register("reader", "test_flaky_unlisted")
class FlakyUnlistedReader:
    """ACTS events through a generator that cannot list its event numbers; ends at a bad event."""

    @dataclass
    class Config:
        pass

    def __init__(self, config):
        self.config = config

    def count(self, source):
        return None

    def __call__(self, source):
        return FlakyReader(FlakyReader.Config())(source)


@register("graph_builder", "test_slow")
class SlowStage:
    """Sleeps $TRACKPIPE_TEST_SLOW_S seconds per event and changes nothing."""

    needs = ()
    adds = ()

    @dataclass
    class Config:
        pass

    def __init__(self, config):
        self.config = config

    def __call__(self, event):
        marks = os.environ.get("TRACKPIPE_TEST_MARKS")
        if marks:  # lets a test see which process works on which event, and when
            name = f"{os.environ.get('RANK', '0')}-{os.getpid()}-{event.event_id}"
            with open(os.path.join(marks, name), "w"):
                pass
        time.sleep(float(os.environ.get("TRACKPIPE_TEST_SLOW_S", "0.2")))
        return event
