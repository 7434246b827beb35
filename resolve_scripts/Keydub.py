"""Keydub for DaVinci Resolve: the Workspace > Scripts menu entries.

`keydub resolve install-scripts` (run in Keydub's own environment) copies this file into Resolve's
`Fusion/Scripts/Utility` folder twice, filling in the INSTALLED line below with the entry's action:

- "Keydub" exports the current timeline in Resolve (`Timeline.Export`, OpenTimelineIO) and opens the Keydub panel on
  it, with the output folder `keydub resolve render` uses for that project and timeline;
- "Keydub - Import renders" places the renders the panel saved for this timeline (its Send to Resolve, when
  Keydub could not reach Resolve from outside), from inside Resolve.

A menu script runs inside Resolve with the `resolve` object whatever the external-scripting preference, so this
round trip needs no external scripting. Resolve runs menu scripts with whatever Python it found, so this file uses
the standard library only and valid Python 3.6 (the panel runs in Keydub's own Python, as a separate process with
Resolve's own Python and Qt settings removed from its environment). Run from a shell, the "Keydub" entry opens the
panel through external scripting instead.

Keydub is looked up, in order: the KEYDUB_EXECUTABLE environment variable, the command install-scripts recorded,
then `keydub` on PATH.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time


INSTALLED = {}  # filled in by `keydub resolve install-scripts`
# The panel says it is up (or why it is not) in this file; a failure usually comes within seconds, a start on a
# cold disk (Qt, PyTorch) may take longer, after which the menu gives Resolve back and says where the log is.
READY_SECONDS = 30.0
PLACEMENTS_SECONDS = 300.0
SCRIPTING_VARIABLES = ("RESOLVE_SCRIPT_API", "RESOLVE_SCRIPT_LIB")
# What Resolve (and packaged Linux builds of it) set for its own Python, libraries and Qt; Keydub's Python and Qt
# must not inherit them. QT_QPA_PLATFORM stays: it names the display system (xcb, wayland), not Resolve's files.
RESOLVE_OWN_VARIABLES = ("PYTHONHOME", "PYTHONPATH", "PYTHON3HOME", "FUSION_PYTHON3_HOME", "LD_LIBRARY_PATH")
KEPT_QT_VARIABLES = ("QT_QPA_PLATFORM",)
TITLE = "Keydub"
OTIO_ROUTE = (
    "File > Export > Timeline as .otio, run `keydub timeline` on it, then bring the result back with "
    "File > Import > Timeline"
)


def find_keydub(installed, environ):
    """The command that starts Keydub, as a list, or None."""
    explicit = environ.get("KEYDUB_EXECUTABLE")
    if explicit:
        return [explicit] if os.path.isfile(explicit) else None
    command = installed.get("command")
    if command and os.path.isfile(command[0]):
        return list(command)
    found = shutil.which("keydub", path=environ.get("PATH"))
    return [found] if found else None


def resolve_object(namespace):
    """The Resolve object a menu script is given (`resolve`, `app.GetResolve()` or `bmd.scriptapp`), or None."""
    resolve = namespace.get("resolve")
    if resolve is None and namespace.get("app") is not None:
        resolve = namespace["app"].GetResolve()
    if resolve is None and namespace.get("bmd") is not None:
        resolve = namespace["bmd"].scriptapp("Resolve")
    return resolve


def current_names(resolve):
    """`(project, timeline)` names of the open project and its current timeline (None where there is none)."""
    project = resolve.GetProjectManager().GetCurrentProject() if resolve is not None else None
    timeline = project.GetCurrentTimeline() if project is not None else None
    return (
        project.GetName() if project is not None else None,
        timeline.GetName() if timeline is not None else None,
    )


def show_message(namespace, text):
    """Print `text` to Resolve's console and, where Resolve offers script windows, show it in one."""
    print(f"{TITLE}: {text}")
    fusion, bmd = namespace.get("fusion"), namespace.get("bmd")
    if fusion is None or bmd is None:
        return
    try:
        ui = fusion.UIManager
        dispatcher = bmd.UIDispatcher(ui)
        window = dispatcher.AddWindow(
            {"ID": "KeydubMessage", "WindowTitle": TITLE, "Geometry": [300, 300, 560, 180]},
            ui.VGroup([ui.Label({"Text": text, "WordWrap": True}), ui.Button({"ID": "OK", "Text": "OK"})]),
        )

        def close(event):
            dispatcher.ExitLoop()

        window.On.OK.Clicked = close
        window.On.KeydubMessage.Close = close
        window.Show()
        dispatcher.RunLoop()
        window.Hide()
    except Exception:  # script windows are gone from the free edition since 19.1; the console line stays
        pass


def child_environment(environ, installed):
    """Keydub's environment: Resolve's scripting variables set, and Resolve's own Python and Qt settings left out."""
    env = {
        key: value
        for key, value in environ.items()
        if key not in RESOLVE_OWN_VARIABLES and (not key.startswith("QT_") or key in KEPT_QT_VARIABLES)
    }
    for key in SCRIPTING_VARIABLES:
        if not env.get(key) and installed.get(key):
            env[key] = installed[key]
    return env


def _last_line(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = [line.strip() for line in handle if line.strip()]
    except OSError:
        return "no output"
    return lines[-1] if lines else "no output"


def _read_state(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def start_panel(argv, env, ready_seconds=READY_SECONDS):
    """Start the panel detached and wait for its ready handshake; None when it is up (or still starting, said on
    the console), else why it stopped."""
    folder = tempfile.mkdtemp(prefix="keydub-panel-")
    ready = os.path.join(folder, "ready.json")
    log_path = os.path.join(folder, "panel.log")
    detached = (
        {"creationflags": subprocess.DETACHED_PROCESS | subprocess.CREATE_NEW_PROCESS_GROUP}
        if sys.platform == "win32"
        else {"start_new_session": True}
    )
    with open(log_path, "wb") as log:
        try:
            process = subprocess.Popen(
                argv + ["--ready-file", ready],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                **detached,
            )
        except OSError as error:
            return (
                f"Keydub could not be started ({error}); reinstall it and run `keydub resolve install-scripts` again"
            )
    deadline = time.monotonic() + ready_seconds
    while time.monotonic() < deadline:
        state = _read_state(ready)
        if state is not None and state.get("state") == "ready":
            return None
        if state is not None and state.get("state") == "failed":
            return "the Keydub panel could not start: {}".format(state.get("error") or "no reason given")
        code = process.poll()
        if code is not None:
            return f"the Keydub panel stopped at once (exit code {code}): {_last_line(log_path)}. Full log: {log_path}"
        time.sleep(0.1)
    print(f"{TITLE}: the panel is taking long to start; if no window appears, see {log_path}")
    return None


def export_timeline(resolve):
    """The current timeline exported by Resolve as OpenTimelineIO: `(path, None)`, or `(None, why not)`."""
    project = resolve.GetProjectManager().GetCurrentProject()
    timeline = project.GetCurrentTimeline() if project is not None else None
    if timeline is None:
        return None, "open a timeline in Resolve first, then choose Workspace > Scripts > Keydub again"
    path = os.path.join(tempfile.mkdtemp(prefix="keydub-export-"), "timeline.otio")
    if timeline.Export(path, resolve.EXPORT_OTIO, resolve.EXPORT_NONE) is not True or not os.path.isfile(path):
        return None, "Resolve did not export the timeline as OpenTimelineIO; use the OTIO route instead: " + OTIO_ROUTE
    return path, None


def open_panel(resolve, command):
    """The "Keydub" entry: the panel on the current timeline."""
    env = child_environment(os.environ, INSTALLED)
    if resolve is None:  # run from a shell: the panel reaches Resolve through external scripting
        return start_panel(command + ["panel", "--resolve"], env), None
    project, timeline = current_names(resolve)
    path, problem = export_timeline(resolve)
    if problem is not None:
        return problem, None
    argv = command + ["panel", "--resolve", "--export", path, "--project", project, "--timeline", timeline]
    return start_panel(argv, env), timeline


def load_keydub(installed):
    """Keydub's packages, imported in Resolve's Python from where install-scripts found them."""
    import importlib.util
    import types

    if sys.version_info < (3, 10):
        raise RuntimeError(
            "Resolve runs scripts with Python {}.{}, and Keydub needs 3.10 or newer: install Python 3.10+ where "
            "Resolve looks for it (see Keydub's Resolve guide)".format(*sys.version_info[:2])
        )
    if "keydub" not in sys.modules:
        namespace = types.ModuleType("keydub")
        namespace.__path__ = []
        sys.modules["keydub"] = namespace
    for name, folder in sorted(installed.get("packages", {}).items()):
        if name in sys.modules:
            continue
        spec = importlib.util.spec_from_file_location(
            name, os.path.join(folder, "__init__.py"), submodule_search_locations=[folder]
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    from keydub.plugin.resolve import bridge, writeback

    return bridge, writeback


def import_renders(resolve, command):
    """The "Keydub - Import renders" entry: place the renders the panel saved for the current timeline."""
    if resolve is None:
        return "run this from Workspace > Scripts inside DaVinci Resolve"
    project, timeline = current_names(resolve)
    if timeline is None:
        return "open the timeline the renders were made from, then choose Keydub - Import renders again"
    env = child_environment(os.environ, INSTALLED)
    argv = command + ["resolve", "placements", "--project", project, "--timeline", timeline]
    try:
        result = subprocess.run(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            timeout=PLACEMENTS_SECONDS,
            universal_newlines=True,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"Keydub could not be asked for the renders ({error})"
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        return (
            lines[-1][len("Error: ") :]
            if lines and lines[-1].startswith("Error: ")
            else "Keydub failed: " + (lines[-1] if lines else "no message")
        )
    pending = json.loads(result.stdout)
    try:
        bridge, writeback = load_keydub(INSTALLED)
        placements = [writeback.Placement.from_dict(data) for data in pending["placements"]]
        report = bridge.apply(
            placements, pending["strategy"], timeline=pending["timeline"], resolve=resolve, in_app=True
        )
    except Exception as error:  # one message in Resolve, whatever went wrong
        return str(error)
    return "Imported: " + report.summary()


def main(namespace):
    resolve = resolve_object(namespace)
    command = find_keydub(INSTALLED, os.environ)
    if command is None:
        show_message(
            namespace,
            "Keydub was not found. Install Keydub, then run `keydub resolve install-scripts` in "
            "its environment (or set KEYDUB_EXECUTABLE to its keydub program), and restart "
            "Resolve.",
        )
        return 1
    if INSTALLED.get("action") == "import":
        message = import_renders(resolve, command)
        show_message(namespace, message[0].upper() + message[1:])
        return 0 if message.startswith("Imported") else 1
    problem, timeline = open_panel(resolve, command)
    if problem is not None:
        show_message(namespace, problem[0].upper() + problem[1:])
        return 1
    where = f" on timeline {timeline!r}" if timeline else ""
    print(f"{TITLE}: the panel is open{where}.")
    return 0


_status = main(globals())
if _status and resolve_object(globals()) is None:
    sys.exit(_status)  # run outside Resolve (e.g. from a shell): report failure through the exit code
