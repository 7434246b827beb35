"""`keydub resolve install-scripts`: the launcher copied into this user's Resolve Scripts folder.

Resolve lists the scripts of `Fusion/Scripts/Utility` under Workspace > Scripts on every page. The copy is the
launcher `resolve_scripts/Keydub.py` with one line filled in: the command that starts this Keydub (its own
environment's interpreter) and the scripting paths, since Resolve runs menu scripts with whatever Python it
found, which knows nothing of Keydub's environment.

The launcher ships inside the package as `keydub.resolve_scripts` (the top-level `resolve_scripts/` folder of the
source tree), so it is read the same way from a source checkout, an editable install or an installed wheel.
"""

import json
import os
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from keydub.core.errors import KeydubError, OutputNotWritableError
from keydub.core.files import write_text_atomically
from keydub.plugin.resolve.connection import script_paths


LAUNCHER_NAME = "Keydub.py"
# The menu entries (file names in Scripts/Utility, which Resolve lists by name) and the launcher's action in each.
MENU_ENTRIES = {"Keydub.py": "panel", "Keydub - Import renders.py": "import"}
# Keydub's packages, imported by the "Import renders" entry in Resolve's own Python from where they are installed.
BRIDGE_PACKAGES = ("keydub.core", "keydub.plugin")
# The launcher's one line that install-scripts fills in.
CONFIG_LINE = "INSTALLED = {}  # filled in by `keydub resolve install-scripts`\n"
# The package that holds the launcher (`resolve_scripts/` in the source tree).
LAUNCHER_PACKAGE = "keydub.resolve_scripts"


@dataclass(frozen=True)
class InstallResult:
    """Where the menu entries went (`targets`) and the command they start Keydub with (`command`)."""

    targets: tuple[Path, ...]
    command: tuple[str, ...]


def user_scripts_folder(
    platform: str | None = None, home: Path | None = None, environ: dict[str, str] | None = None
) -> Path:
    """This user's `Fusion/Scripts` folder of DaVinci Resolve, by OS (Blackmagic's README)."""
    platform = platform or sys.platform
    home = home or Path.home()
    environ = dict(os.environ) if environ is None else environ
    if platform == "darwin":
        return (
            home / "Library" / "Application Support" / "Blackmagic Design" / "DaVinci Resolve" / "Fusion" / "Scripts"
        )
    if platform == "win32":
        appdata = Path(environ.get("APPDATA") or home / "AppData" / "Roaming")
        return appdata / "Blackmagic Design" / "DaVinci Resolve" / "Support" / "Fusion" / "Scripts"
    return home / ".local" / "share" / "DaVinciResolve" / "Fusion" / "Scripts"


def keydub_command() -> tuple[str, ...]:
    """The command that starts this Keydub: this environment's interpreter running the CLI module."""
    return (sys.executable, "-m", "keydub.plugin.cli.main")


def launcher_source() -> str:
    """The launcher as shipped, read from the installed package.

    Raises:
        `KeydubError`: this installation lacks it (a broken or partial install).
    """
    try:
        return resources.files(LAUNCHER_PACKAGE).joinpath(LAUNCHER_NAME).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError) as error:
        raise KeydubError(
            f"the Resolve launcher {LAUNCHER_NAME} ({LAUNCHER_PACKAGE}) is missing from this installation of "
            "Keydub; reinstall Keydub in this environment"
        ) from error


def package_folders() -> dict[str, str]:
    """Where this installation's bridge packages are (a wheel's site-packages or an editable checkout)."""
    import importlib

    return {name: str(Path(next(iter(importlib.import_module(name).__path__)))) for name in BRIDGE_PACKAGES}


def launcher_text(command: tuple[str, ...], action: str = "panel") -> str:
    """The launcher with its configuration line filled in for one menu entry's `action`."""
    source = launcher_source()
    if source.count(CONFIG_LINE) != 1:
        raise KeydubError(
            f"the Resolve launcher {LAUNCHER_NAME} of this installation has no configuration line to fill in; "
            "reinstall Keydub"
        )
    config = {
        "command": list(command),
        "action": action,
        "packages": package_folders(),
        **script_paths().environment(),
    }
    return source.replace(CONFIG_LINE, f"INSTALLED = {json.dumps(config, indent=4)}\n")


def install_launcher(scripts_folder: Path | None = None, dry_run: bool = False) -> InstallResult:
    """Copy the launcher into `<Scripts>/Utility` as each menu entry (atomically; older copies are replaced).

    Args:
        scripts_folder (`Path | None`): Resolve's `Fusion/Scripts` folder; defaults to this user's.
        dry_run (`bool`, defaults to `False`): only say where it would go.

    Raises:
        `OutputNotWritableError`: the folder cannot be created or written.
    """
    command = keydub_command()
    folder = (scripts_folder or user_scripts_folder()) / "Utility"
    texts = {folder / name: launcher_text(command, action) for name, action in MENU_ENTRIES.items()}
    if not dry_run:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for target, text in texts.items():
                write_text_atomically(target, text)
        except OSError as error:
            raise OutputNotWritableError(
                f"cannot write the launcher into {folder} ({error.strerror}); choose the folder with --scripts-dir"
            ) from error
    return InstallResult(targets=tuple(texts), command=command)
