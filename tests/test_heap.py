"""The garbage collector's settings for long-running processes, and its hold-off in a job's unit."""

import gc

import pytest

from backend.core import heap
from backend.core.heap import collections_after


@pytest.fixture
def restored_gc():
    threshold, enabled = gc.get_threshold(), gc.isenabled()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)
    (gc.enable if enabled else gc.disable)()


def test_settle_freezes_what_is_loaded_and_collects_the_young_less_often(restored_gc):
    kept = [object() for _ in range(10)]
    heap.settle()
    assert gc.get_freeze_count() > len(kept)
    assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD


def test_collections_wait_for_the_end_of_a_unit(restored_gc):
    gc.enable()
    with collections_after():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collections_after():
        raise RuntimeError("a unit that failed")
    assert gc.isenabled()


def test_a_collector_turned_off_stays_off(restored_gc):
    gc.disable()
    with collections_after():
        pass
    assert not gc.isenabled()
