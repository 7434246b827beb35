"""Run an iterator ahead on its own thread, so producing item `k + 1` overlaps consuming item `k`.

The render uses it for the pipeline's chunks: while the GPU generates the next window, the calling thread decodes,
pastes back and queues the frames of the last one. torch and FFmpeg release the GIL in their kernels, so the two
threads really run at once.
"""

import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar


T = TypeVar("T")

# How long a blocked hand-over waits before looking whether the other side has stopped.
_POLL_SECONDS = 0.1


class Prefetched(Generic[T]):
    """Iterate `source` on a background thread, at most `depth` items ahead of the consumer.

    Items come out in order; an exception raised by `source` (a cancelled render's `RenderInterruptedError`, an
    out-of-memory error) is raised by the consumer's `next` at the point where it happened. `close()` (or leaving
    the `with` block) stops the producer after the item it is making and closes `source`.

    Args:
        source (`Iterator[T]`): what to run ahead; only the background thread touches it.
        depth (`int`, defaults to 1): items that may wait for the consumer (memory: `depth` items).
        name (`str`): the thread's name, for debuggers and profilers.
    """

    def __init__(self, source: Iterator[T], depth: int = 1, name: str = "keydub-prefetch") -> None:
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self._source = source
        self._items: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=depth)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._produce, name=name, daemon=True)
        self._thread.start()

    def __iter__(self) -> "Prefetched[T]":
        return self

    def __next__(self) -> T:
        while True:
            try:
                kind, value = self._items.get(timeout=_POLL_SECONDS)
                break
            except queue.Empty:
                if not self._thread.is_alive() and self._items.empty():
                    raise StopIteration from None
        if kind == "item":
            return value  # type: ignore[return-value]
        if kind == "error":
            raise value  # type: ignore[misc]
        raise StopIteration

    def _produce(self) -> None:
        try:
            for item in self._source:
                if not self._hand_over("item", item):
                    return
            self._hand_over("end", None)
        except BaseException as error:  # raised in the consumer's thread instead
            self._hand_over("error", error)
        finally:
            close = getattr(self._source, "close", None)
            if close is not None:
                close()

    def _hand_over(self, kind: str, value: object) -> bool:
        """Queue one entry unless the consumer has stopped; whether it was queued."""
        while not self._stopped.is_set():
            try:
                self._items.put((kind, value), timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def close(self) -> None:
        """Stop the producer (after the item it is making) and wait for it to let go of `source`."""
        self._stopped.set()
        self._thread.join()

    def __enter__(self) -> "Prefetched[T]":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
