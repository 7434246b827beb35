"""Ctrl-C and SIGTERM (a logout, `kill`) close the panel as its close button does.

Python runs a signal handler only between two of its own instructions, and Qt's event loop is C++: a signal
would wait, unseen, until the next Python call. The C-level handler therefore writes the signal's number to a
socket (`signal.set_wakeup_fd`), a `QSocketNotifier` on the GUI thread wakes on it, and the slot closes the
window: the same `closeEvent` as the close button (the queue's worker stopped, threads joined), after which the
event loop ends normally and the app exits 0. The session needs nothing more: it is saved on every change.
"""

import signal
import socket

from PySide6 import QtCore, QtWidgets


# The signals that ask a program to end: Ctrl-C in a terminal, and what a logout or `kill` sends.
CLOSING_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class CloseOnSignal(QtCore.QObject):
    """Closes `window` when the process gets one of `CLOSING_SIGNALS`; `restore()` puts the previous handlers
    back.

    Args:
        window (`QtWidgets.QWidget`): the main window.
    """

    def __init__(self, window: QtWidgets.QWidget) -> None:
        super().__init__(window)
        self._window = window
        self._reader, self._writer = socket.socketpair()
        for end in (self._reader, self._writer):
            end.setblocking(False)
        self._previous_fd = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        # The Python-level handler has nothing left to do (the wakeup byte does the work), but it must replace
        # the default SIGINT handler, which would raise KeyboardInterrupt inside a Qt slot.
        self._previous = {number: signal.signal(number, _ignore) for number in CLOSING_SIGNALS}
        self._notifier = QtCore.QSocketNotifier(self._reader.fileno(), QtCore.QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._on_signal_received)

    def _on_signal_received(self) -> None:
        try:
            received = self._reader.recv(64)
        except BlockingIOError:
            return
        if any(number in received for number in CLOSING_SIGNALS):
            self._window.close()

    def restore(self) -> None:
        """Give the process its previous signal handling back (the window is closed, or a test is over)."""
        self._notifier.setEnabled(False)
        signal.set_wakeup_fd(self._previous_fd)
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._reader.close()
        self._writer.close()


def _ignore(number: int, frame: object) -> None:
    """The Python half of a closing signal: nothing (see `CloseOnSignal`)."""
