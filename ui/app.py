"""The Keydub panel's main window and the `keydub-app` entry point.

The window is wired in one place: widgets are built, laid out, then every signal is connected in `_connect`;
slots are `_on_<thing>_<event>`. It talks only to the Qt-free `PanelController` (clips, sessions, jobs, export),
whose events reach it through an `EventBridge`, and to a queue controller (renders, in a `keydub worker`
process). Opening a clip and analysing its faces run on threads (`TaskRunner`); a slow answer for a clip the
editor has left is dropped. The faces found are kept by clip in `FaceAnalyses` and drawn by `face_layers`, named by
the Cast dock's characters where it knows who they are.
"""

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import opentimelineio as otio
from PySide6 import QtCore, QtGui, QtWidgets

from keydub.core.analysis import AnalysisCache
from keydub.core.errors import KeydubError
from keydub.core.media import MediaInfo, probe
from keydub.plugin.cast import FaceAnalyser
from keydub.plugin.panel.analysis import BackendFactory, FaceAnalysis, analyse_faces
from keydub.plugin.panel.controller import PanelController, load_timeline, load_video
from keydub.plugin.panel.events import ClipChanged, ClipsChanged, CurrentChanged, OptionsChanged
from keydub.plugin.panel.face_analyses import FaceAnalyses
from keydub.plugin.panel.resolve_link import ResolveLink, ResolveTarget, SendOutcome
from keydub.plugin.store import JobStore
from keydub.plugin.timeline.formats import format_for_suffix
from keydub.plugin.timeline.tracks import tracks_of_kind
from keydub.ui.cast import CastPanel
from keydub.ui.clips import ClipListModel, ClipListView
from keydub.ui.compare import SPLIT, CompareView
from keydub.ui.events import EventBridge
from keydub.ui.face_layers import (
    FACES_LAYER,
    MASK_LAYER,
    NO_FACE_COLOUR,
    NO_FACE_MARKERS,
    box_names,
    faces_image,
    mask_image,
)
from keydub.ui.palette import apply_palette, choose_palette, is_system_palette_chosen
from keydub.ui.resolve_send import DubTrackDialog, SendToResolveDialog, send_report_box
from keydub.ui.settings import SettingsDialog, app_settings, load_settings, save_settings
from keydub.ui.signals import CloseOnSignal
from keydub.ui.tasks import TaskRunner
from keydub.ui.viewer import Viewer
from keydub.ui.viewer.cache import DEFAULT_CACHE_BYTES


AUDIO_SUFFIXES = {".wav", ".aif", ".aiff", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".opus", ".w64", ".bwf"}
_STATE_REFRESH_MS = 1000
PLAY_TEXT, STOP_TEXT = "Play with sound", "Stop playback"


class MainWindow(QtWidgets.QMainWindow):
    """The panel: clip list, viewer with face picking and the regeneration mask, compare, docks.

    Args:
        controller (`PanelController | None`): the clips' controller (a new one when `None`).
        queue_factory (`Callable[[Path], Any] | None`): makes the render queue of an output folder when one is
            opened (`keydub.plugin.panel.queue.QueueController`, with `submit(jobs, force)` and `cancel(job_ids)`);
            its `QueuePanel` dock runs the `keydub worker` process. `None`: no renders from this window.
        backend_factory (`BackendFactory | None`): makes the landmark backend for face analysis and the cast's
            matching (tests pass a stand-in; defaults to `get_landmark_backend`).
        cache_bytes (`int`, defaults to 1 GiB): the viewer's decoded-frame cache.
        occluder_masker (`Any | None`): passed to the occluder dock (a SAM2 masker or a function loading one).
        resolve_link (`ResolveLink | None`): the Resolve timeline the clips come from; enables Send to Resolve.
    """

    def __init__(
        self,
        controller: PanelController | None = None,
        queue_factory: Callable[[Path], Any] | None = None,
        backend_factory: BackendFactory | None = None,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        occluder_masker: Any | None = None,
        resolve_link: ResolveLink | None = None,
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.resolve_link = resolve_link
        self.setWindowTitle("Keydub")
        self.setAcceptDrops(True)
        self.resize(1400, 860)
        self.controller = controller or PanelController()
        self.queue_factory = queue_factory
        self.queue_controller: Any | None = None
        self.backend_factory = backend_factory
        self.analyses = FaceAnalyses()
        self.tasks = TaskRunner(self)
        self.events = EventBridge(self)
        self.occluder_panel = None
        self.queue_panel = None
        self.is_error_shown = False
        self.dialog: QtWidgets.QDialog | None = None  # the open Resolve dialog or report

        self._build(cache_bytes)
        self._dock_occluder_panel(occluder_masker)
        self._dock_cast_panel()
        self._connect()
        if self.controller.opened is not None:
            self._on_controller_clips_changed(ClipsChanged())
            self._on_controller_current_changed(CurrentChanged(self.controller.current_id))

    # Layout -------------------------------------------------------------------------------------------------
    def _build(self, cache_bytes: int) -> None:
        self.clip_model = ClipListModel(self.controller, self.analyses.get, self)
        self.clip_list = ClipListView(self.clip_model, self)
        self.viewer = Viewer(cache_bytes, self)
        self.compare = CompareView(self)
        self.tabs = QtWidgets.QTabWidget(self)
        self.tabs.addTab(self.viewer, "Viewer")
        self.tabs.addTab(self.compare, "Compare")
        splitter = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical, self)
        splitter.addWidget(self.tabs)
        splitter.addWidget(self.clip_list)
        splitter.setStretchFactor(0, 4)
        splitter.setStretchFactor(1, 1)
        self.setCentralWidget(splitter)

        self.message_label = QtWidgets.QLabel("Open a video and its dub, or a dubbing timeline (or drop them here).")
        self.message_label.setObjectName("message")
        self.progress_bar = QtWidgets.QProgressBar(maximumWidth=220, visible=False)
        self.progress_bar.setAccessibleName("Task progress")  # its tooltip names the task while one runs
        self.statusBar().addWidget(self.message_label, 1)
        self.statusBar().addPermanentWidget(self.progress_bar)

        toolbar = self.addToolBar("Keydub")
        toolbar.setObjectName("toolbar")
        self.open_action = toolbar.addAction("Open video…")
        self.open_timeline_action = toolbar.addAction("Open timeline…")
        toolbar.addSeparator()
        self.mask_action = toolbar.addAction("Mask")
        self.mask_action.setCheckable(True)
        self.mask_action.setShortcut(QtGui.QKeySequence("M"))
        self.mask_action.setToolTip("Show the region a render regenerates (what keydub mask tints) (M)")
        self.largest_face_action = toolbar.addAction("Largest face")
        self.largest_face_action.setToolTip("Forget the clicked face: render the largest face of each shot")
        toolbar.addSeparator()
        self.render_action = toolbar.addAction("Render")
        self.render_action.setToolTip("Queue the selected clips (Ctrl+R)")
        self.compare_action = toolbar.addAction("Compare")
        self.compare_action.setToolTip("The current clip's render against its source on the same frame")
        self.compare_mode = QtWidgets.QComboBox()
        self.compare_mode.addItems(["Split", "Source (A)", "Keydub (B)"])
        self.compare_mode.setAccessibleName("Compare mode")
        self.compare_mode.setToolTip("Compare as a split wipe (S) or one side at a time (T toggles A/B)")
        toolbar.addWidget(self.compare_mode)
        self.play_action = toolbar.addAction(PLAY_TEXT)
        self.play_action.setCheckable(True)  # checked while playing: the end of the file unchecks it too
        self.play_action.setToolTip("Play the current clip's render with its dub in real time, to judge sync")
        toolbar.addSeparator()
        self.export_action = toolbar.addAction("Export OTIO…")
        self.export_action.setToolTip("Write the timeline with the finished, up-to-date renders on a new track")
        self.send_action = toolbar.addAction("Send to Resolve…")
        self.send_action.setToolTip("Put the finished renders back on the Resolve timeline: a track, takes or a copy")
        self.send_action.setVisible(self.resolve_link is not None)
        self.settings_action = toolbar.addAction("Settings…")
        self._state_timer = QtCore.QTimer(self)
        self._state_timer.start(_STATE_REFRESH_MS)

    def _dock_occluder_panel(self, occluder_masker: Any | None) -> None:
        """Dock the occluder panel where its module is installed."""
        try:
            from keydub.ui.occluders import OccluderPanel
        except ImportError:
            return
        self.occluder_panel = OccluderPanel(self.controller, self.viewer, occluder_masker, self)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, self.occluder_panel)

    def _dock_cast_panel(self) -> None:
        """Dock the Cast panel; its matching analyses faces with the window's landmark backends."""
        factory = self.backend_factory
        analyser_factory = None if factory is None else lambda name: FaceAnalyser(factory(name), cache=AnalysisCache())
        self.cast_panel = CastPanel(self.controller, self.viewer, self.analyses, analyser_factory, self)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, self.cast_panel)
        self.cast_panel.labels_changed.connect(self.viewer.refresh_overlays)
        self.cast_panel.labels_changed.connect(self.clip_model.refresh_states)  # the Face cells name the speakers

    def _dock_queue_panel(self) -> None:
        """The render queue of the opened folder, docked (the previous folder's worker is stopped)."""
        if self.queue_factory is None or self.controller.out_dir is None:
            return
        if self.queue_panel is not None:
            self.queue_panel.shutdown()
            self.removeDockWidget(self.queue_panel)
            self.queue_panel.deleteLater()
            self.queue_panel = None
        try:
            self.queue_controller = self.queue_factory(self.controller.out_dir)
            from keydub.ui.queue import QueuePanel
        except ImportError:
            return
        except KeydubError as error:
            self.show_message(f"the render queue cannot start: {error}", is_error=True)
            return
        self.queue_panel = QueuePanel(self.queue_controller, parent=self)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.BottomDockWidgetArea, self.queue_panel)
        self.queue_panel.worker_changed.connect(self._on_queue_worker_change)
        self.queue_panel.rows_changed.connect(self._on_queue_rows_change)
        self.queue_panel.submitted.connect(self._on_queue_submit)
        self.queue_panel.write_failed.connect(self._on_queue_write_failure)

    def _on_queue_rows_change(self) -> None:
        self.clip_model.set_queue_rows(self.queue_panel.model.rows)

    def _on_queue_submit(self, queued: list[str]) -> None:
        if queued:
            self.show_message(f"queued {len(queued)} clip(s)")
        else:
            self.show_message("already queued or rendered; Render again (Ctrl+Shift+R) renders anew")

    def _on_queue_write_failure(self, line: str) -> None:
        self.show_message(line, is_error=True)

    def _on_queue_worker_change(self, state: str) -> None:
        if state == "crashed":
            self.show_message(self.queue_panel.status.text(), is_error=True)
        self.clip_model.refresh_states()

    def _connect(self) -> None:
        self.events.subscribe(
            self.controller,
            {
                ClipsChanged: self._on_controller_clips_changed,
                CurrentChanged: self._on_controller_current_changed,
                ClipChanged: self._on_controller_clip_changed,
                OptionsChanged: self._on_controller_options_changed,
            },
        )
        self.tasks.started.connect(self._on_task_start)
        self.tasks.progressed.connect(self._on_task_progress)
        self.tasks.finished.connect(lambda: self.progress_bar.setVisible(False))
        self.tasks.failed.connect(lambda message: self.show_message(message, is_error=True))
        self.open_action.triggered.connect(self._on_open_click)
        self.open_timeline_action.triggered.connect(self._on_open_timeline_click)
        self.mask_action.toggled.connect(self._on_mask_toggle)
        self.largest_face_action.triggered.connect(self._on_largest_face_click)
        self.render_action.triggered.connect(lambda: self._on_clips_render(self.clip_list.selected_clip_ids()))
        self.compare_action.triggered.connect(self._on_compare_click)
        self.compare_mode.currentIndexChanged.connect(self._on_compare_mode_change)
        self.play_action.triggered.connect(self._on_play_click)
        self.export_action.triggered.connect(self._on_export_click)
        self.send_action.triggered.connect(self._on_send_click)
        self.settings_action.triggered.connect(self._on_settings_click)
        self.clip_list.current_clip_changed.connect(self._on_clips_current_change)
        self.clip_list.render_requested.connect(self._on_clips_render)
        self.clip_list.cancel_requested.connect(self._on_clips_cancel)
        self.clip_list.rerender_requested.connect(lambda ids: self._on_clips_render(ids, force=True))
        self.viewer.face_clicked.connect(self._on_viewer_face_click)
        self.viewer.range_marked.connect(self._on_viewer_range_mark)
        self.viewer.decode_failed.connect(lambda message: self.show_message(message, is_error=True))
        self.compare.playback_failed.connect(lambda message: self.show_message(message, is_error=True))
        self.compare.playback_notice.connect(self.show_message)
        self.compare.playing_changed.connect(self._on_compare_playing_change)
        self._state_timer.timeout.connect(self.clip_model.refresh_states)

    # Messages -----------------------------------------------------------------------------------------------
    def show_message(self, text: str, is_error: bool = False) -> None:
        """One line in the status bar; errors in red, until the next message."""
        self.message_label.setText(text.splitlines()[0] if text else "")
        self.message_label.setToolTip(text)
        self.message_label.setStyleSheet("color: #e05050" if is_error else "")
        self.is_error_shown = is_error

    # Opening ------------------------------------------------------------------------------------------------
    def open_video(
        self, video: Path, dub: Path, out_dir: Path | None = None, frame_range: tuple[int, int] | None = None
    ) -> None:
        """Open a clip and its dub on a thread (the window stays live; errors come back as a message).

        `frame_range` is the range of a clip opened for the first time (see `load_video`)."""
        controller = self.controller
        self.tasks.run(
            "open",
            lambda progress: load_video(
                video, dub, out_dir, controller.default_options, controller.default_handles, frame_range
            ),
            self._on_open_finish,
            f"Opening {Path(video).name}…",
        )

    def open_timeline(self, path: Path, dub_tracks: tuple[str, ...], out_dir: Path | None = None) -> None:
        """Open an OTIO dubbing timeline on a thread."""
        controller = self.controller
        self.tasks.run(
            "open",
            lambda progress: load_timeline(
                path, dub_tracks, out_dir, controller.default_options, controller.default_handles
            ),
            self._on_open_finish,
            f"Opening {Path(path).name}…",
        )

    def open_paths(self, paths: list[Path]) -> None:
        """Open dropped files: a timeline, or a video with an audio file as its dub."""
        timelines = [path for path in paths if path.suffix.lower() == ".otio"]
        audio = [path for path in paths if path.suffix.lower() in AUDIO_SUFFIXES]
        videos = [path for path in paths if path not in timelines and path not in audio]
        if timelines:
            self._open_dropped_timeline(timelines[0])
        elif len(videos) == 1 and len(audio) == 1:
            self.open_video(videos[0], audio[0])
        elif videos and not audio:
            self.show_message(
                f"{videos[0].name} needs its dub: drop the video together with the dub audio file", is_error=True
            )
        else:
            self.show_message("drop one video with its dub audio, or one .otio timeline", is_error=True)

    def _open_dropped_timeline(self, path: Path) -> None:
        self.choose_dub_track(path)

    def choose_dub_track(self, path: Path, out_dir: Path | None = None) -> None:
        """Ask which audio track of the timeline at `path` holds the dub, then open it with that track."""
        from keydub.plugin.timeline.otio_file import read_timeline

        try:
            timeline = read_timeline(path)
        except KeydubError as error:
            self.show_message(str(error), is_error=True)
            return
        tracks = tracks_of_kind(timeline, otio.schema.TrackKind.Audio)
        if not tracks:
            self.show_message(f"{path.name} has no audio track to take the dub from", is_error=True)
            return
        dialog = DubTrackDialog(timeline.name or path.name, tracks, self)
        dialog.accepted.connect(lambda: self.open_timeline(path, (dialog.track,), out_dir))
        self._open_dialog(dialog)
        self.show_message(f"choose the audio track of {timeline.name or path.name} that holds the dub")

    def _open_dialog(self, dialog: QtWidgets.QDialog) -> None:
        """Show `dialog` without blocking the event loop (one at a time)."""
        if self.dialog is not None:
            self.dialog.close()
        self.dialog = dialog
        dialog.open()

    # Tasks --------------------------------------------------------------------------------------------------
    def is_busy(self) -> bool:
        """Whether a task (opening, analysis) is still running."""
        return self.tasks.is_busy

    def _on_task_start(self, message: str) -> None:
        self.show_message(message)
        self.progress_bar.setRange(0, 0)
        self.progress_bar.setToolTip(message)
        self.progress_bar.setVisible(True)

    def _on_task_progress(self, done: int, total: int) -> None:
        self.progress_bar.setRange(0, total)
        self.progress_bar.setValue(done)

    def _on_open_finish(self, opened) -> None:
        self.controller.apply(opened)
        skipped = f"; {len(opened.skipped)} clip(s) cannot be rendered (greyed in the list)" if opened.skipped else ""
        self.show_message(f"Opened {len(opened.sessions)} clip(s) into {opened.out_dir}{skipped}")
        if opened.skipped:
            self.message_label.setToolTip("\n".join(f"{name}: {reason}" for name, reason in opened.skipped))

    # Faces --------------------------------------------------------------------------------------------------
    def analyse_current(self) -> None:
        """Track the current clip's faces on a thread (boxes, the face choice and the mask follow)."""
        session = self.controller.current
        if session is None:
            return
        clip_id, factory = session.clip_id, self.backend_factory
        backend = self.controller.render_options.get("landmark_backend") or "face-alignment"

        def analyse(progress):
            return analyse_faces(
                session.video,
                session.start_frame,
                session.end_frame,
                backend,
                backend_factory=factory,
                progress=progress,
            )

        self.tasks.run(
            "analysis",
            analyse,
            lambda analysis: self._on_analysis_finish(clip_id, analysis),
            f"Finding faces in {session.name}…",
        )

    def _on_analysis_finish(self, clip_id: str, analysis: FaceAnalysis) -> None:
        self.analyses.put(clip_id, analysis)
        self.clip_model.update_clip(clip_id)  # the Face cell names the face and its size now
        if clip_id == self.controller.current_id:
            self._draw_face_layers()
            missing = analysis.frames_without_face()
            self.viewer.set_markers(NO_FACE_MARKERS, missing, NO_FACE_COLOUR)
            note = f", {len(missing)} frame(s) without a face" if missing else ""
            self.show_message(f"{len(analysis.tracks)} face(s) found{note}; click a face to choose it")

    def _draw_face_layers(self) -> None:
        self.viewer.set_overlay(FACES_LAYER, self._faces_image)
        self.viewer.set_overlay(MASK_LAYER, self._mask_image if self.mask_action.isChecked() else None)

    def _faces_image(self, frame: int) -> QtGui.QImage | None:
        session, analysis = self.controller.current, self.analyses.get(self.controller.current_id)
        size = self.viewer.frame_size()
        if session is None or analysis is None or size is None:
            return None
        chosen = analysis.chosen_track(session.face, frame) if session.has_face else None
        editor = self.cast_panel.editor
        names = box_names(editor.labels(session.clip_id), editor.colour_index)
        return faces_image(analysis, chosen, frame, size, names)

    def _mask_image(self, frame: int) -> np.ndarray | None:
        session, analysis = self.controller.current, self.analyses.get(self.controller.current_id)
        size = self.viewer.frame_size()
        if session is None or analysis is None or size is None:
            return None
        return mask_image(analysis, session.face, frame, size)

    def _on_viewer_face_click(self, x: float, y: float, frame: int) -> None:
        session, analysis = self.controller.current, self.analyses.get(self.controller.current_id)
        if session is None:
            return
        if analysis is None:
            self.show_message("the faces are still being found; click again when the boxes show", is_error=True)
            return
        track_id = analysis.track_under((x, y), frame)
        if track_id is None:
            self.show_message(
                f"no face under the click at {x:.0f},{y:.0f} on frame {frame}; click inside a box", is_error=True
            )
            return
        self.controller.choose_face(session.clip_id, (round(x, 1), round(y, 1)), frame)
        where = f"clicked at x {x:.0f}, y {y:.0f} on frame {frame}"
        self.show_message(f"face {track_id} chosen for {session.name} ({where})")

    def _on_largest_face_click(self) -> None:
        if self.controller.current is not None:
            self.controller.choose_face(self.controller.current_id, None, None)

    def _on_mask_toggle(self, is_on: bool) -> None:
        self.viewer.set_overlay(MASK_LAYER, self._mask_image if is_on else None)

    def _on_viewer_range_mark(self, start: int, end: int) -> None:
        session = self.controller.current
        if session is None:
            return
        try:
            self.controller.set_range(session.clip_id, start, end)
        except KeydubError as error:
            self.viewer.set_range(session.start_frame, session.end_frame)
            self.show_message(str(error), is_error=True)

    # Controller events --------------------------------------------------------------------------------------
    def _on_controller_clips_changed(self, _event: ClipsChanged) -> None:
        self.analyses.clear()
        self.clip_model.reset_clips()
        self._dock_queue_panel()

    def _on_controller_current_changed(self, _event: CurrentChanged) -> None:
        session = self.controller.current
        if session is None:
            return
        self.clip_list.select_clip(session.clip_id)
        try:
            info = self._info(session.video)
        except KeydubError as error:
            self.show_message(str(error), is_error=True)
            return
        if self.viewer.video != session.video:
            self.viewer.open(session.video, info, session.start_frame)
        else:
            self.viewer.seek(session.start_frame)
        self.viewer.set_range(session.start_frame, session.end_frame)
        self.viewer.set_overlay(FACES_LAYER, None)
        self.viewer.set_overlay(MASK_LAYER, None)
        self.viewer.set_markers(NO_FACE_MARKERS, [], NO_FACE_COLOUR)
        if session.clip_id in self.analyses:
            self._on_analysis_finish(session.clip_id, self.analyses[session.clip_id])
        else:
            self.analyse_current()

    def _on_controller_clip_changed(self, event: ClipChanged) -> None:
        clip_id = event.clip_id
        self.clip_model.update_clip(clip_id)
        if self.analyses.drop_if_stale(self.controller.session(clip_id)):
            if clip_id == self.controller.current_id:
                self.analyse_current()
        elif clip_id == self.controller.current_id:
            self.viewer.refresh_overlays()

    def _on_controller_options_changed(self, _event: OptionsChanged) -> None:
        self.clip_model.refresh_states()

    def _on_clips_current_change(self, clip_id: str) -> None:
        self.controller.select(clip_id)

    def _info(self, video: Path) -> MediaInfo:
        return self.controller.media_info(video)

    # Renders ------------------------------------------------------------------------------------------------
    def _on_clips_render(self, clip_ids: list[str], force: bool = False) -> None:
        if not clip_ids:
            self.show_message("select the clips to render first", is_error=True)
            return
        if self.queue_controller is None:
            self.show_message(
                "no render queue: start the panel with `keydub panel` so a worker can render", is_error=True
            )
            return
        try:
            jobs = [self.controller.job(clip_id, write_audio=False) for clip_id in clip_ids]
            audio = self.controller.dub_audio_write(clip_ids)
            if self.queue_panel is not None:
                # The dub audio's write, then the store's, run on the dock's thread: the rows show as submitting
                # now, the answer follows.
                self.queue_panel.submit(jobs, force=force, prepare=audio.run)
                self.show_message(f"queuing {len(jobs)} clip(s)…")
                return
            audio.run()
            queued = self.queue_controller.submit(jobs, force=force)
        except KeydubError as error:
            self.show_message(str(error), is_error=True)
            return
        self.clip_model.refresh_states()
        self._on_queue_submit(queued)

    def _on_clips_cancel(self, clip_ids: list[str]) -> None:
        if self.queue_controller is None or not clip_ids:
            return
        try:
            job_ids = [self.controller.job(clip_id, write_audio=False).job_id for clip_id in clip_ids]
            if self.queue_panel is not None:
                self.queue_panel.cancel(job_ids)  # written on the dock's thread; the rows follow
                return
            self.queue_controller.cancel(job_ids)
        except KeydubError as error:
            self.show_message(str(error), is_error=True)
        self.clip_model.refresh_states()

    # Compare ------------------------------------------------------------------------------------------------
    def current_render(self) -> Path | None:
        """The current clip's finished, up-to-date render, or `None`."""
        session = self.controller.current
        if session is None or self.controller.out_dir is None:
            return None
        job = self.controller.job(session.clip_id, write_audio=False)
        with JobStore.for_folder(self.controller.out_dir, read_only=True) as store:
            record = store.get(job.job_id)
        return record.output if record is not None and record.is_done_with(job.content_hash()) else None

    def _on_compare_click(self) -> None:
        try:
            render = self.current_render()
        except KeydubError as error:
            self.show_message(str(error), is_error=True)
            return
        session = self.controller.current
        if render is None or session is None:
            self.show_message("the current clip has no up-to-date render to compare; render it first", is_error=True)
            return
        job = self.controller.job(session.clip_id, write_audio=False)
        self.compare.set_clips(session.video, self._info(session.video), render, probe(render), job.start_frame)
        self.compare.seek(self.viewer.frame_index)
        self.tabs.setCurrentWidget(self.compare)
        self.show_message(f"comparing {session.name}: drag the divider, T toggles A/B, S splits")

    def _on_compare_mode_change(self, index: int) -> None:
        self.compare.set_mode((SPLIT, "source", "render")[index])

    def _on_play_click(self) -> None:
        if self.compare.is_playing:
            self.compare.stop_playback()
            return
        render = self.current_render()
        if render is None:
            self._on_compare_playing_change(False)  # the click checked the action; nothing plays
            self.show_message("the current clip has no up-to-date render to play; render it first", is_error=True)
            return
        if self.tabs.currentWidget() is not self.compare:
            self._on_compare_click()
        self.compare.play_with_sound(render)
        self._on_compare_playing_change(self.compare.is_playing)

    def _on_compare_playing_change(self, is_playing: bool) -> None:
        self.play_action.setChecked(is_playing)
        self.play_action.setText(STOP_TEXT if is_playing else PLAY_TEXT)

    # Export and settings ------------------------------------------------------------------------------------
    def export_timeline(self, path: Path, overwrite: bool = False) -> Path | None:
        try:
            written = self.controller.export_timeline(path, overwrite=overwrite)
        except KeydubError as error:
            self.show_message(str(error), is_error=True)
            return None
        self.show_message(f"wrote {written}")
        return written

    def _on_export_click(self) -> None:
        if self.controller.out_dir is None:
            self.show_message("open a clip or timeline first", is_error=True)
            return
        name, _ = QtWidgets.QFileDialog.getSaveFileName(
            self, "Export timeline", str(self.controller.out_dir), "OpenTimelineIO (*.otio)"
        )
        if name:
            self.export_timeline(Path(name), overwrite=True)

    def _on_send_click(self) -> None:
        if self.resolve_link is None:
            return
        if self.controller.out_dir is None:
            self.show_message("open the Resolve timeline's clips first", is_error=True)
            return
        dialog = SendToResolveDialog(self.resolve_link.target.timeline, self)
        dialog.accepted.connect(lambda: self.send_to_resolve(dialog.strategy))
        self._open_dialog(dialog)

    def send_to_resolve(self, strategy: str) -> None:
        """Write the finished renders back to the Resolve timeline with `strategy`, off the UI thread."""
        link, controller = self.resolve_link, self.controller
        assert link is not None, "Send to Resolve is offered only for a Resolve timeline"
        self.tasks.run(
            "send",
            lambda progress: link.send(controller.result_timeline(), strategy).result(),
            self._on_send_finish,
            f"Sending the renders to Resolve as {strategy}…",
        )

    def _on_send_finish(self, outcome: SendOutcome) -> None:
        self.show_message(outcome.headline(), is_error=outcome.report is None)
        self._open_dialog(send_report_box(outcome, self))

    def _on_settings_click(self) -> None:
        settings = app_settings()
        dialog = SettingsDialog(
            self.controller.render_options,
            self.controller.handles,
            self.viewer.cache.max_bytes,
            system_palette=is_system_palette_chosen(settings),
            parent=self,
        )
        if dialog.exec() == QtWidgets.QDialog.DialogCode.Accepted:
            self.controller.set_render_options(dialog.options, dialog.handles)
            self.viewer.cache.max_bytes = dialog.cache_bytes
            save_settings(settings, dialog.options, dialog.handles, dialog.cache_bytes)
            choose_palette(settings, dialog.system_palette_box.isChecked())

    def _on_open_click(self) -> None:
        video, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Video to dub")
        if not video:
            return
        dub, _ = QtWidgets.QFileDialog.getOpenFileName(
            self,
            "Its dub audio",
            str(Path(video).parent),
            "Audio (*.wav *.aif *.aiff *.flac *.mp3 *.m4a);;All files (*)",
        )
        if dub:
            self.open_video(Path(video), Path(dub))

    def _on_open_timeline_click(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Dubbing timeline", "", "OpenTimelineIO (*.otio)")
        if path:
            self._open_dropped_timeline(Path(path))

    # Drag and drop ------------------------------------------------------------------------------------------
    def dragEnterEvent(self, event: QtGui.QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QtGui.QDropEvent) -> None:
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        self._state_timer.stop()
        if self.resolve_link is not None:
            self.resolve_link.close()
        for panel in (self.occluder_panel, self.cast_panel, self.queue_panel):
            if panel is not None:
                panel.shutdown()
        self.viewer.close_clip()
        self.compare.close_clips()
        self.tasks.wait()
        self.events.unsubscribe()
        super().closeEvent(event)


def build_parser() -> argparse.ArgumentParser:
    from keydub.plugin.cli.panel import add_panel_arguments

    parser = argparse.ArgumentParser(prog="keydub-app", description="The Keydub panel.")
    add_panel_arguments(parser)
    return parser


def open_from_arguments(window: MainWindow, args: argparse.Namespace) -> None:
    """Open what the command line names (nothing without a source)."""
    if args.source is None:
        return
    if format_for_suffix(args.source) is not None:
        if not args.dub_track:
            window.choose_dub_track(args.source, args.out_dir)
            return
        window.open_timeline(args.source, tuple(args.dub_track), args.out_dir)
    elif args.audio is None:
        window.show_message(f"{args.source.name} needs its dub: pass --audio DUB", is_error=True)
    else:
        window.open_video(args.source, args.audio, args.out_dir)


def default_queue(folder: Path) -> Any:
    """The render queue of an output folder, rendered by a `keydub worker` process."""
    from keydub.plugin.panel.queue import QueueController

    return QueueController(folder)


def run_app(args: argparse.Namespace, on_ready: Callable[[], None] | None = None) -> int:
    """Show the panel for parsed `args` and run Qt's event loop; `on_ready` runs once the window is up."""
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    app.setApplicationName("Keydub")
    settings = app_settings()
    apply_palette(is_system_palette_chosen(settings))
    options, handles, cache_bytes = load_settings(settings)
    controller = PanelController(render_options=options, handles=handles)
    target: ResolveTarget | None = getattr(args, "resolve_target", None)
    window = MainWindow(
        controller,
        queue_factory=default_queue,
        cache_bytes=cache_bytes,
        resolve_link=ResolveLink(target) if target is not None else None,
    )
    closing = CloseOnSignal(window)
    window.show()
    open_from_arguments(window, args)
    if on_ready is not None:
        QtCore.QTimer.singleShot(0, on_ready)
    try:
        return app.exec()
    finally:
        closing.restore()


def main(argv: list[str] | None = None) -> int:
    """`keydub-app [VIDEO --audio DUB | TIMELINE.otio --dub-track NAME]`."""
    return run_app(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
