"""Real-time playback of a render (picture and dub) through QtMultimedia, built so that the window cannot freeze.

Why the player is built by the QML engine and not by Python: an object Python constructs (`QAudioOutput()`) is a
PySide wrapper, and Qt's virtual calls on it (`disconnectNotify`) first look for a Python override, which takes the
GIL. Qt 6.12's FFmpeg backend deletes its audio renderer on the renderer's own thread; that thread's `~QObject`
calls the audio output's `disconnectNotify` while it holds a Qt signal-slot lock, and waits for the GIL. The UI
thread holds the GIL throughout `QMediaPlayer.stop()` (or a new `QMediaPlayer()`), which waits for that same lock:
neither thread moves again and the window is frozen. Objects the QML engine creates are plain C++ objects, so no
thread of the backend ever waits for Python. (Only the FFmpeg backend ships with PySide6, so `QT_MEDIA_BACKEND`
offers no way out.)

Without an audio output device there is no audio output at all: the picture plays silently, and `notice` says so.
"""

from pathlib import Path

from PySide6 import QtCore, QtGui


NO_AUDIO_DEVICE = "no audio output device: playing without sound"

# The whole playback graph in one QML document: MediaPlayer, its VideoOutput's sink and, with sound, an AudioOutput.
_GRAPH_QML = """import QtQuick
import QtMultimedia
Item {{
    VideoOutput {{ id: output; objectName: "output" }}
    MediaPlayer {{ objectName: "player"; videoOutput: output{audio} }}
}}
"""
_AUDIO_OUTPUT_QML = "; audioOutput: AudioOutput {}"


class RenderPlayer(QtCore.QObject):
    """Plays one file at a time from a given position; `stop` returns at once.

    Signals:
        frame_ready(object, QImage): `(start time in microseconds, picture)` of the frame playing now.
        ended: the file played to its end (the player is still there, stopped on its last frame; `stop` drops it).
        failed(str): the file cannot be played (missing QtMultimedia, unsupported file...), one line.

    Args:
        parent (`QObject | None`): the owner (the compare view).
    """

    frame_ready = QtCore.Signal(object, QtGui.QImage)
    ended = QtCore.Signal()
    failed = QtCore.Signal(str)

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.notice = ""
        self._engine = None
        self._graph: QtCore.QObject | None = None
        self.player = None
        self._sink = None
        self._start_ms: int | None = None

    @staticmethod
    def has_audio_device() -> bool:
        from PySide6 import QtMultimedia

        return bool(QtMultimedia.QMediaDevices.audioOutputs())

    def play(self, path: Path, position_ms: int, with_sound: bool | None = None) -> None:
        """Play `path` from `position_ms`.

        Args:
            path (`Path`): the media file.
            position_ms (`int`): where to start, in milliseconds.
            with_sound (`bool | None`, defaults to `None`): give the player an audio output; `None` does so when the
                machine has an audio output device.
        """
        self.stop()
        try:
            from PySide6 import QtMultimedia, QtQml
        except ImportError:
            self.failed.emit("playback needs QtMultimedia: pip install PySide6-Addons")
            return
        if with_sound is None:
            with_sound = self.has_audio_device()
        self.notice = "" if with_sound else NO_AUDIO_DEVICE
        if self._engine is None:
            self._engine = QtQml.QQmlEngine(self)
        component = QtQml.QQmlComponent(self._engine)
        component.setData(_GRAPH_QML.format(audio=_AUDIO_OUTPUT_QML if with_sound else "").encode(), QtCore.QUrl())
        graph = component.create()
        if graph is None:
            self.failed.emit(f"cannot build the media player: {component.errorString().strip()}")
            return
        graph.setParent(self._engine)
        self._graph, self.player = graph, graph.findChild(QtMultimedia.QMediaPlayer, "player")
        self._sink = self.player.videoSink()
        # Bound slots of this object: Qt queues the backend's calls to the UI thread.
        self._sink.videoFrameChanged.connect(self._on_sink_frame_changed)
        self.player.errorOccurred.connect(self._on_player_error)
        # Queued: whoever hears `ended` may stop and drop this player, which must not happen inside its own signal.
        self.player.mediaStatusChanged.connect(
            self._on_player_media_status_changed, QtCore.Qt.ConnectionType.QueuedConnection
        )
        # The backend loads the file on its own thread and ignores a position set before it has: the position is
        # set, and play starts, once the file is loaded.
        self._start_ms = position_ms
        self.player.setSource(QtCore.QUrl.fromLocalFile(str(path)))

    def stop(self) -> None:
        """Stop and drop the player; frames still queued from it are ignored."""
        if self._graph is None:
            return
        self.player.stop()
        self._graph.deleteLater()
        self._graph = self.player = self._sink = None

    @property
    def is_active(self) -> bool:
        """A player exists (playing, loading or at the end of the file)."""
        return self._graph is not None

    def _on_sink_frame_changed(self, frame) -> None:
        if self._sink is None or self.sender() is not self._sink:
            return  # queued from a player already stopped
        image = frame.toImage()
        if not image.isNull():
            self.frame_ready.emit(frame.startTime(), image)

    def _on_player_media_status_changed(self, status) -> None:
        if self.player is None or self.sender() is not self.player:
            return  # queued from a player already stopped
        if status == self.player.MediaStatus.LoadedMedia and self._start_ms is not None:
            self.player.setPosition(self._start_ms)
            self._start_ms = None
            self.player.play()
        elif status == self.player.MediaStatus.EndOfMedia:
            self.ended.emit()

    def _on_player_error(self, _error, text: str) -> None:
        source = self.player.source().toLocalFile() if self.player is not None else "the render"
        self.failed.emit(f"cannot play {source}: {text or 'QtMultimedia gave no reason'}")
