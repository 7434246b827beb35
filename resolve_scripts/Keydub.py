"""Keydub for DaVinci Resolve: Workspace > Scripts > Keydub opens the Keydub panel on the current timeline.

Install it with `keydub resolve install-scripts` (run in Keydub's own environment), which copies this file into
Resolve's `Fusion/Scripts/Utility` folder and fills in the INSTALLED line below. Resolve runs menu scripts with
whatever Python it found, so this script uses the standard library only: it finds Keydub, starts
`keydub panel --resolve --timeline <current timeline>` as a separate process (Keydub's own Python, with the Resolve
scripting variables set), and returns at once. The panel talks back to Resolve through external scripting.

Keydub is looked up, in order: the KEYDUB_EXECUTABLE environment variable, the command install-scripts recorded,
then `keydub` on PATH.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time


INSTALLED = {}  # filled in by `keydub resolve install-scripts`
# A panel that fails (bad install, missing display) usually exits within this time; later failures show in its log.
START_CHECK_SECONDS = 2.0
SCRIPTING_VARIABLES = ("RESOLVE_SCRIPT_API", "RESOLVE_SCRIPT_LIB")
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


def current_timeline_name(resolve):
    project = resolve.GetProjectManager().GetCurrentProject() if resolve is not None else None
    timeline = project.GetCurrentTimeline() if project is not None else None
    return timeline.GetName() if timeline is not None else None


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
    """Keydub's environment: Resolve's scripting variables set, and Resolve's own Python settings left out."""
    env = {key: value for key, value in environ.items() if key not in ("PYTHONHOME", "PYTHONPATH")}
    for key in SCRIPTING_VARIABLES:
        if not env.get(key) and installed.get(key):
            env[key] = installed[key]
    return env


def start_panel(argv, env):
    """Start the panel detached; return None when it runs, else why it stopped."""
    log = tempfile.NamedTemporaryFile(prefix="keydub-panel-", suffix=".log", delete=False)
    detached = (
        {"creationflags": subprocess.DETACHED_PROCESS | subprocess.CREATE_NEW_PROCESS_GROUP}
        if sys.platform == "win32"
        else {"start_new_session": True}
    )
    try:
        process = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, **detached
        )
    except OSError as error:
        return f"Keydub could not be started ({error}); reinstall it and run `keydub resolve install-scripts` again"
    finally:
        log.close()
    deadline = time.monotonic() + START_CHECK_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    code = process.poll()
    if code is None or code == 0:
        return None
    with open(log.name, encoding="utf-8", errors="replace") as handle:
        lines = [line.strip() for line in handle if line.strip()]
    detail = lines[-1] if lines else "no output"
    return f"the Keydub panel stopped at once (exit code {code}): {detail}. Full log: {log.name}"


def main(namespace):
    resolve = resolve_object(namespace)
    product = resolve.GetProductName() if resolve is not None else None
    if isinstance(product, str) and "Studio" not in product:
        show_message(
            namespace,
            f"The Keydub panel needs DaVinci Resolve Studio (this is {product}, which has no "
            f"external scripting). Use the OTIO round trip instead: {OTIO_ROUTE}.",
        )
        return 1
    command = find_keydub(INSTALLED, os.environ)
    if command is None:
        show_message(
            namespace,
            "Keydub was not found. Install Keydub, then run `keydub resolve install-scripts` in "
            "its environment (or set KEYDUB_EXECUTABLE to its keydub program), and restart "
            "Resolve.",
        )
        return 1
    timeline = current_timeline_name(resolve)
    argv = [*command, "panel", "--resolve", *(["--timeline", timeline] if timeline else [])]
    problem = start_panel(argv, child_environment(os.environ, INSTALLED))
    if problem is not None:
        show_message(namespace, problem[0].upper() + problem[1:])
        return 1
    where = f" on timeline {timeline!r}" if timeline else ""
    print(f"{TITLE}: the panel is starting{where}.")
    return 0


_status = main(globals())
if _status and resolve_object(globals()) is None:
    sys.exit(_status)  # run outside Resolve (e.g. from a shell): report failure through the exit code
