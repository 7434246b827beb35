"""Connecting to a running DaVinci Resolve the way Blackmagic's scripting README documents, and saying why not.

`RESOLVE_SCRIPT_API` names the folder holding `Modules/DaVinciResolveScript.py`, `RESOLVE_SCRIPT_LIB` the
`fusionscript` library that module loads; both default to the install paths of each OS. The module goes on
`sys.path`, `DaVinciResolveScript.scriptapp("Resolve")` gives the `Resolve` object, or `None` when Resolve is not
running, refuses external scripts (Preferences > System > General > External scripting using: None), or is the
free edition (external scripting is a Studio feature). Resolve can also answer cheap calls and block forever on
others after an unclean shutdown, so connecting and the health checks run on a thread with a timeout.
"""

import importlib
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from keydub.plugin.resolve.errors import ResolveUnavailableError


SCRIPT_API_ENV = "RESOLVE_SCRIPT_API"
SCRIPT_LIB_ENV = "RESOLVE_SCRIPT_LIB"
FUSION_PYTHON_HOME = "FUSION_PYTHON3_HOME"
# Exit statuses at or above this are Windows exceptions (0xC0000005 is an access violation).
_WINDOWS_CRASH_CODES = 0xC0000000
# How long connecting and the first health checks may take before Resolve counts as not answering.
DEFAULT_TIMEOUT = 20.0

# The documented default install paths, by `sys.platform` prefix.
_DEFAULT_PATHS = {
    "darwin": (
        "/Library/Application Support/Blackmagic Design/DaVinci Resolve/Developer/Scripting",
        "/Applications/DaVinci Resolve/DaVinci Resolve.app/Contents/Libraries/Fusion/fusionscript.so",
    ),
    "win32": (
        r"{PROGRAMDATA}\Blackmagic Design\DaVinci Resolve\Support\Developer\Scripting",
        r"C:\Program Files\Blackmagic Design\DaVinci Resolve\fusionscript.dll",
    ),
    "linux": ("/opt/resolve/Developer/Scripting", "/opt/resolve/libs/Fusion/fusionscript.so"),
}

FIX_EXTERNAL_SCRIPTING = (
    "in Resolve Studio, set Preferences > System > General > External scripting using: Local and restart Resolve"
)
FIX_FREE_EDITION = (
    "the free edition of Resolve has no external scripting: use the OTIO round trip instead (File > "
    "Export > Timeline as .otio, `keydub timeline`, then File > Import > Timeline)"
)


@dataclass(frozen=True)
class ScriptPaths:
    """Where the scripting module and library are.

    Args:
        api (`Path`): `RESOLVE_SCRIPT_API`, the folder holding `Modules/DaVinciResolveScript.py`.
        lib (`Path`): `RESOLVE_SCRIPT_LIB`, the `fusionscript` library.
    """

    api: Path
    lib: Path

    @property
    def module_folder(self) -> Path:
        return self.api / "Modules"

    def environment(self) -> dict[str, str]:
        """The variables a process needs to reach Resolve the same way."""
        return {SCRIPT_API_ENV: str(self.api), SCRIPT_LIB_ENV: str(self.lib)}


def script_paths(environ: Mapping[str, str] | None = None, platform: str | None = None) -> ScriptPaths:
    """The scripting paths: the environment variables when set, else the install paths of this OS.

    Args:
        environ (`Mapping[str, str] | None`): the environment; defaults to `os.environ`.
        platform (`str | None`): a `sys.platform` value; defaults to this machine's.
    """
    environ = os.environ if environ is None else environ
    platform = platform or sys.platform
    key = next((name for name in _DEFAULT_PATHS if platform.startswith(name)), "linux")
    api_default, lib_default = _DEFAULT_PATHS[key]
    api_default = api_default.replace("{PROGRAMDATA}", environ.get("PROGRAMDATA", r"C:\ProgramData"))
    return ScriptPaths(
        api=Path(environ.get(SCRIPT_API_ENV) or api_default), lib=Path(environ.get(SCRIPT_LIB_ENV) or lib_default)
    )


def import_environment(environ: Mapping[str, str] | None = None, platform: str | None = None) -> dict[str, str]:
    """The variables `fusionscript` reads when it loads: on Windows it binds the highest Python registered on the
    machine unless `FUSION_PYTHON3_HOME` names one, and crashes the process when that is not the Python importing
    it (davinci-resolve-mcp#26, Studio 20.3.1), so it is pointed at this Python."""
    environ = dict(os.environ if environ is None else environ)
    if (platform or sys.platform) == "win32":
        environ[FUSION_PYTHON_HOME] = sys.base_prefix
    return environ


# The import, tried in a child Python first: a library that crashes its process must not take Keydub with it.
_IMPORT_PROBE = "import sys; sys.path.append(sys.argv[1]); import DaVinciResolveScript"
_IMPORT_PROBE_TIMEOUT = 60.0
_probed: set[tuple[str, str]] = set()


def probe_import(paths: ScriptPaths, timeout: float = _IMPORT_PROBE_TIMEOUT) -> None:
    """Import `DaVinciResolveScript` in a child Python with this process's interpreter and environment.

    Raises:
        `ResolveUnavailableError` (cause `"library"`): the import failed or crashed the child (the message gives
            its last line or exit status and the fix).
    """
    key = (str(paths.module_folder), str(paths.lib))
    if key in _probed:
        return
    environment = {**import_environment(), **paths.environment()}
    try:
        result = subprocess.run(
            [sys.executable, "-c", _IMPORT_PROBE, str(paths.module_folder)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=environment,
        )
    except subprocess.TimeoutExpired:
        raise ResolveUnavailableError(
            f"importing DaVinci Resolve's scripting library did not finish within {timeout:g} s; restart Resolve and "
            "try again",
            cause="library",
        ) from None
    if result.returncode == 0:
        _probed.add(key)
        return
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    if result.returncode < 0 or result.returncode >= _WINDOWS_CRASH_CODES:
        raise ResolveUnavailableError(
            f"importing DaVinci Resolve's scripting library ({paths.lib}) crashed Python (exit status "
            f"{result.returncode}); on Windows this happens when several Pythons are installed and the library "
            f"binds another one: Keydub sets {FUSION_PYTHON_HOME} to its own Python ({sys.base_prefix}); check that "
            f"{SCRIPT_LIB_ENV} names the fusionscript library of the installed Resolve",
            cause="library",
        )
    raise _library_error(lines[-1] if lines else "no message", paths)


def _library_error(detail: str, paths: ScriptPaths) -> ResolveUnavailableError:
    return ResolveUnavailableError(
        f"DaVinci Resolve's scripting library could not be loaded ({detail}); set {SCRIPT_LIB_ENV} to Resolve's "
        f"fusionscript library (default {paths.lib}); on Windows also add Resolve's install folder to PATH",
        cause="library",
    )


def load_script_module(paths: ScriptPaths | None = None) -> ModuleType:
    """Import `DaVinciResolveScript` from `$RESOLVE_SCRIPT_API/Modules`, as the README says, once a child Python
    has shown that the import does not crash (see `probe_import`).

    Raises:
        `ResolveUnavailableError`: the module is not there (cause `"not_installed"`) or cannot load the
            `fusionscript` library (cause `"library"`).
    """
    paths = paths or script_paths()
    module_file = paths.module_folder / "DaVinciResolveScript.py"
    if not module_file.is_file():
        raise ResolveUnavailableError(
            f"DaVinci Resolve's scripting module is not at {module_file}; install DaVinci Resolve Studio, or set "
            f"{SCRIPT_API_ENV} to the folder holding Modules/DaVinciResolveScript.py",
            cause="not_installed",
        )
    loaded = sys.modules.get("DaVinciResolveScript")
    if loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve() != module_file.resolve():
        del sys.modules["DaVinciResolveScript"]  # another install's module (RESOLVE_SCRIPT_API changed)
    if "DaVinciResolveScript" not in sys.modules:
        probe_import(paths)
        os.environ.update(import_environment({}))
    folder = str(paths.module_folder)
    if folder not in sys.path:
        sys.path.append(folder)
    try:
        return importlib.import_module("DaVinciResolveScript")
    except ImportError as error:
        raise _library_error(str(error), paths) from error


def resolve_is_running() -> bool | None:
    """Whether a Resolve process runs on this machine (`None` when that cannot be told)."""
    try:
        if sys.platform.startswith("linux"):
            names = []
            for entry in Path("/proc").iterdir():
                if entry.name.isdigit():
                    try:
                        names.append((entry / "comm").read_text().strip())
                    except OSError:
                        continue
            return "resolve" in names
        if sys.platform == "darwin":
            return subprocess.run(["pgrep", "-x", "Resolve"], capture_output=True, timeout=5).returncode == 0
        if sys.platform == "win32":
            listing = subprocess.run(
                ["tasklist", "/FI", "IMAGENAME eq Resolve.exe"], capture_output=True, text=True, timeout=5
            ).stdout
            return "Resolve.exe" in listing
    except (OSError, subprocess.SubprocessError):
        return None
    return None


def connect(
    paths: ScriptPaths | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    is_running: Callable[[], bool | None] | None = None,
) -> Any:
    """The `Resolve` object of the running Resolve, checked to have a database attached.

    Args:
        paths (`ScriptPaths | None`): where the scripting module is; defaults to `script_paths()`.
        timeout (`float`, defaults to 20): seconds Resolve may take to answer.
        is_running (`Callable[[], bool | None] | None`): tells whether Resolve runs, to name the cause when it
            refuses the connection; defaults to `resolve_is_running`.

    Raises:
        `ResolveUnavailableError`: with the cause and the fix.
    """
    module = load_script_module(paths)
    resolve = _call_with_timeout(lambda: _healthy_resolve(module), timeout)
    if resolve is None:
        running = (is_running or resolve_is_running)()
        if running is False:
            raise ResolveUnavailableError(
                "DaVinci Resolve is not running; start DaVinci Resolve Studio and open the "
                f"project ({FIX_FREE_EDITION})",
                cause="not_running",
            )
        raise ResolveUnavailableError(
            "DaVinci Resolve refused the connection: either external scripting is off (fix: "
            f"{FIX_EXTERNAL_SCRIPTING}) or this is the free edition ({FIX_FREE_EDITION})",
            cause="refused",
        )
    return resolve


def _healthy_resolve(module: ModuleType) -> Any:
    resolve = module.scriptapp("Resolve")
    if resolve is None:
        return None
    manager = resolve.GetProjectManager()
    # After an unclean shutdown Resolve answers cheap calls but has no database; later calls may then hang.
    if manager is None or manager.GetCurrentDatabase() is None:
        raise ResolveUnavailableError(
            "DaVinci Resolve answers but has no project database attached (it may not "
            "have shut down cleanly); quit and restart Resolve, then open the project",
            cause="no_database",
        )
    return resolve


def _call_with_timeout(function: Callable[[], Any], timeout: float) -> Any:
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = function()
        except BaseException as error:  # handed to the caller's thread below
            outcome["error"] = error

    # A daemon thread: a call that never returns must not keep Keydub from exiting.
    thread = threading.Thread(target=target, name="keydub-resolve-connect", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise ResolveUnavailableError(
            f"DaVinci Resolve did not answer within {timeout:g} s; close any open dialog in "
            "Resolve (an upgrade prompt blocks scripting) or restart it",
            cause="timeout",
        )
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")
