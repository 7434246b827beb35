"""Stopping a long operation from another thread: a `CancelToken` that every progress point checks.

A client (the worker on a `cancel JOB` command, the panel's Stop button, a test) calls `token.cancel()`; the
operation calls `token.raise_if_cancelled()` at its progress points and after every denoising step, so it stops
within one step with `RenderInterruptedError`. `cancellable(progress, token)` wraps a progress callback so that
reporting progress is also a cancellation check, which is how `render_clip` reaches every stage with one token.
"""

import threading

from keydub.core.errors import RenderInterruptedError
from keydub.core.progress import Progress, ProgressCallback


class CancelToken:
    """A thread-safe, one-way "please stop" flag.

    Args:
        reason (`str`, defaults to `"the render was cancelled"`): the message of the `RenderInterruptedError`.

    Examples:

    ```py
    >>> token = CancelToken()
    >>> threading.Timer(5.0, token.cancel).start()
    >>> engine.render(request, cancel=token)  # raises RenderInterruptedError about 5 s in
    ```
    """

    def __init__(self, reason: str = "the render was cancelled") -> None:
        self._event = threading.Event()
        self.reason = reason

    def cancel(self) -> None:
        """Ask the operation to stop; safe from any thread, any number of times."""
        self._event.set()

    @property
    def is_cancelled(self) -> bool:
        """Whether `cancel()` was called."""
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        """Raise `RenderInterruptedError` when `cancel()` was called; else return at once."""
        if self._event.is_set():
            raise RenderInterruptedError(f"{self.reason}; no output was written")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until cancelled or `timeout` seconds pass; returns `is_cancelled`."""
        return self._event.wait(timeout)


def cancellable(progress: ProgressCallback | None, cancel: CancelToken | None) -> ProgressCallback | None:
    """`progress` with a cancellation check before each event (a checking callback when `progress` is `None`).

    Returns `progress` itself when there is no token, so nothing changes for callers that cannot cancel.
    """
    if cancel is None:
        return progress

    def checked(event: Progress) -> None:
        cancel.raise_if_cancelled()
        if progress is not None:
            progress(event)

    return checked
