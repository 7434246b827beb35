"""The Keydub panel's Qt-free side: clip sessions, their persistence, and the controller the widgets talk to.

The panel (`keydub.ui`) is a thin set of Qt widgets over this package; nothing here imports Qt, so the logic runs
and is tested without a `QApplication`.

- `session.ClipSession`: one clip as the editor works on it (source, dub, range, chosen face, occlusion prompts,
  render settings), plain data with `to_dict` / `from_dict`.
- `session.SessionStore`: the sessions of one output folder, kept in `<out>/.keydub/panel/sessions.json` beside
  the job store (`<out>/.keydub/jobs.sqlite`); brush masks are PNGs in `<out>/.keydub/panel/masks/`. Every
  change is written at once (atomically), so closing or killing the app and reopening the same clip or timeline
  restores everything.
- `controller.PanelController`: opens a video + dub or an OTIO timeline into sessions, keeps the current clip,
  turns a session into the `ClipJob` / `RenderRequest` a render takes, and exports the OTIO with the new track.
  It reports through typed events (`events`: `register_event_callback(ClipChanged, callback)`).
- `status`: a clip's render state (not rendered, queued, rendering, done, failed, stale) and QC from its store row.
- `analysis`: the faces of a clip for the face picker and the regeneration mask, tracked as a render tracks them.
- `face_analyses.FaceAnalyses`: those analyses by clip id, each kept while its clip's range is the one analysed.
- `cast.CastEditor`: the folder's cast (characters, dub tracks, clicked references), each shot's corrections, and
  who is who in every clip, matched off the UI thread (`matching().run()`, then `apply`).
- `events`: the typed events the controllers emit (`EventSource`); `keydub.ui.events.EventBridge` delivers them
  to the widgets on the GUI thread.
- `options`: the settings' fields checked by the command line's own option parser.

Contract between the window and the occluder and queue widgets
--------------------------------------------------------------
`keydub.ui.app.MainWindow(controller, queue_factory=None, ...)` exposes:

- `window.controller`: the `PanelController`; `controller.current` is the current `ClipSession` (or `None`).
- `window.viewer`: the current clip's `keydub.ui.viewer.Viewer`, which offers:
    - `viewer.frame_index` (source frame shown), signal `viewer.frame_changed(int)`, `viewer.seek(frame)`;
    - `viewer.frame_rgb()`: the shown frame as an RGB uint8 array, `viewer.frame_size()` its `(height, width)`
      (both `None` before the first frame);
    - `viewer.set_overlay(name, image)`: draw a named layer over the frame; `image` is an `(h, w, 4)` uint8 RGBA
      array or a `QImage` at source resolution, or a callable `frame_index -> RGBA array | None` that is called
      for every shown frame; `None` removes the layer. Layers draw in the order they were first set; the
      window's own layers are `"faces"` (tracked boxes) and `"mask"` (the regeneration mask).
    - `viewer.refresh_overlays()`: call a callable layer again for the shown frame (after its data changed);
    - `viewer.set_tool(tool)`: route mouse input to `tool` (`None` gives it back to the face picker). A tool is
      any object with `press(event)`, `move(event)` and `release(event)`; `event` is a
      `keydub.ui.viewer.ViewerMouseEvent(x, y, frame, button, modifiers)` with `x, y` in source pixels (float).
      Optional `cursor()` returns the `QCursor` to show while the tool is active;
    - `viewer.set_markers(name, frames, colour)`: mark source frames on the scrub bar (e.g. `"prompts"`).
- Docks: when `keydub.ui.occluders` imports, the window docks `OccluderPanel(controller, viewer, masker)`; each
  time an output folder is opened, `queue_factory(out_dir)` makes its queue controller
  (`keydub.plugin.panel.queue.QueueController`) and the window docks `QueuePanel(queue_controller)` for it (the
  previous folder's panel is shut down). The window calls each dock's `shutdown()` when it closes.
- The clip list's render / cancel / re-render actions call `queue_panel.submit(jobs)`,
  `queue_controller.cancel(job_ids)` and `queue_panel.submit(jobs, force=True)`; job states are read from the
  output folder's job store (so the list shows what any worker does) and live progress from the queue's rows.
- Occluder prompts are stored in `ClipSession.occluders` as the plain dicts `RenderRequest.occluders` takes
  (`OcclusionPrompt.to_dict()`), set with `controller.set_occluders(clip_id, prompts)` (emits `ClipChanged`);
  brush masks go to `controller.brush_mask_path(clip_id, object_id, frame)`. So a render from the panel equals
  the same render from the command line.
"""
