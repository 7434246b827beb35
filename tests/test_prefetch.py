"""Prefetched: the render's pipeline chunks produced on their own thread, in order, errors where they happened."""

import threading
import time

import pytest

from keydub.core.errors import RenderInterruptedError
from keydub.core.prefetch import Prefetched


def test_items_come_out_in_order_from_another_thread():
    threads = []

    def numbers():
        for number in range(50):
            threads.append(threading.current_thread().name)
            yield number

    assert list(Prefetched(numbers(), depth=3, name="producer")) == list(range(50))
    assert set(threads) == {"producer"}


def test_production_overlaps_consumption():
    def slow(count):
        for number in range(count):
            time.sleep(0.1)
            yield number

    began = time.perf_counter()
    for _ in Prefetched(slow(6)):
        time.sleep(0.1)  # the consumer's work on the previous item
    overlapped = time.perf_counter() - began
    # Alone: 6 x (0.1 + 0.1) = 1.2 s; overlapped: about 0.1 + 6 x 0.1 = 0.7 s.
    assert overlapped < 1.0


def test_an_error_of_the_source_is_raised_where_it_happened():
    def interrupted():
        yield 1
        yield 2
        raise RenderInterruptedError("cancelled at step 3")

    items = Prefetched(interrupted(), depth=2)
    assert next(items) == 1 and next(items) == 2
    with pytest.raises(RenderInterruptedError, match="step 3"):
        next(items)


def test_close_stops_the_producer_and_closes_the_source():
    made, closed = [], threading.Event()

    def endless():
        try:
            number = 0
            while True:
                made.append(number)
                yield number
                number += 1
        finally:
            closed.set()

    with Prefetched(endless(), depth=2) as items:
        assert next(items) == 0
    assert closed.wait(2)
    # At most the item in hand, `depth` waiting ones and the one being made when it stopped.
    assert len(made) <= 1 + 2 + 1
    with pytest.raises(ValueError, match="depth must be at least 1"):
        Prefetched(iter(()), depth=0)
