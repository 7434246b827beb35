"""The Workspace > Scripts launcher under a bare Python (no site packages), and `keydub resolve install-scripts`."""

import json
import runpy
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from fake_resolve import library

from keydub.core.errors import KeydubError
from keydub.plugin.cli.main import main
from keydub.plugin.resolve import install
from keydub.plugin.timeline.otio_file import read_timeline


PROJECT = Path(__file__).resolve().parents[1]
LAUNCHER = PROJECT / "resolve_scripts" / "Keydub.py"
STAND_IN = """#!/bin/sh
printf '%s\\n' "$@" > "{record}"
echo "API=$RESOLVE_SCRIPT_API PYTHONPATH=$PYTHONPATH PYTHON3HOME=$PYTHON3HOME QT=$QT_PLUGIN_PATH" >> "{record}"
{tail}
"""
# The panel's handshake: its last argument is `--ready-file FILE`.
READY = """for last; do :; done; printf '{"state": "ready"}' > "$last"; exit 0"""


def stand_in_keydub(folder: Path, tail: str = READY) -> tuple[Path, Path]:
    """A `keydub` program that records its arguments and environment and says it is ready (the panel itself is
    tested with the real CLI below)."""
    folder.mkdir(parents=True, exist_ok=True)
    record = folder / "record.txt"
    program = folder / "keydub"
    program.write_text(STAND_IN.format(record=record, tail=tail))
    program.chmod(0o755)
    return program, record


def run_bare(script: Path, path: str, **environment: str) -> subprocess.CompletedProcess:
    """`script` under this interpreter with `-I -S`: no site packages, no user site, no PYTHON* variables."""
    return subprocess.run(
        [sys.executable, "-I", "-S", str(script)],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": path, **environment},
    )


def test_the_launcher_starts_the_panel_found_on_path(tmp_path):
    program, record = stand_in_keydub(tmp_path / "bin")
    result = run_bare(
        LAUNCHER,
        f"{program.parent}:/usr/bin:/bin",
        RESOLVE_SCRIPT_API="/opt/resolve/api",
        PYTHONPATH="/resolve/python/site",
        PYTHON3HOME="/resolve/python",
        QT_PLUGIN_PATH="/opt/resolve/libs/plugins",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "Keydub: the panel is open."
    arguments = record.read_text().splitlines()
    assert arguments[:3] == ["panel", "--resolve", "--ready-file"]
    # Resolve's own Python and Qt settings stay out of Keydub's environment.
    assert arguments[-1] == "API=/opt/resolve/api PYTHONPATH= PYTHON3HOME= QT="


def test_without_keydub_the_launcher_says_how_to_install_it(tmp_path):
    result = run_bare(LAUNCHER, "/usr/bin:/bin")
    assert result.returncode == 1
    assert result.stdout.strip() == (
        "Keydub: Keydub was not found. Install Keydub, then run `keydub resolve "
        "install-scripts` in its environment (or set KEYDUB_EXECUTABLE to its keydub "
        "program), and restart Resolve."
    )


def test_a_panel_that_stops_at_once_is_reported_with_its_last_line(tmp_path):
    program, _ = stand_in_keydub(tmp_path / "bin", tail="echo 'Error: no display to show the panel on' >&2; exit 3")
    result = run_bare(LAUNCHER, "/usr/bin:/bin", KEYDUB_EXECUTABLE=str(program))
    assert result.returncode == 1
    assert result.stdout.startswith(
        "Keydub: The Keydub panel stopped at once (exit code 3): Error: no display to show the panel on. Full log: "
    )


def fake_resolve_globals(product: str = "DaVinci Resolve Studio") -> dict:
    """What a menu script is given inside Resolve: the `resolve` object (a new wrapper, as Resolve's are)."""
    fake = library()
    project = fake.Project("Dubbing", 25)
    project.GetMediaPool().CreateEmptyTimeline("reel 2")
    return {"resolve": fake.fake_remote(fake.Resolve(project, product=product))}


@pytest.mark.parametrize("product", ["DaVinci Resolve Studio", "DaVinci Resolve"])
def test_inside_resolve_the_panel_opens_on_the_exported_current_timeline(tmp_path, monkeypatch, capsys, product):
    # Inside Resolve the menu needs no external scripting, so the free edition gets the panel too.
    program, record = stand_in_keydub(tmp_path / "bin")
    monkeypatch.setenv("KEYDUB_EXECUTABLE", str(program))
    runpy.run_path(str(LAUNCHER), init_globals=fake_resolve_globals(product))
    assert capsys.readouterr().out.strip() == "Keydub: the panel is open on timeline 'reel 2'."
    arguments = record.read_text().splitlines()
    assert arguments[:2] == ["panel", "--resolve"]
    assert arguments[4:8] == ["--project", "Dubbing", "--timeline", "reel 2"]
    assert arguments[2] == "--export" and read_timeline(Path(arguments[3])).name == "reel 2"


def test_without_a_current_timeline_the_menu_says_to_open_one(tmp_path, monkeypatch, capsys):
    program, record = stand_in_keydub(tmp_path / "bin")
    monkeypatch.setenv("KEYDUB_EXECUTABLE", str(program))
    fake = library()
    resolve = fake.fake_remote(fake.Resolve(fake.Project("Empty", 25)))
    runpy.run_path(str(LAUNCHER), init_globals={"resolve": resolve})
    assert capsys.readouterr().out.strip() == (
        "Keydub: Open a timeline in Resolve first, then choose Workspace > Scripts > Keydub again"
    )
    assert not record.exists()


def installed_config(text: str) -> dict:
    """The INSTALLED line an installed launcher got, parsed."""
    return json.loads(text.split("INSTALLED = ", 1)[1].split("\n}\n", 1)[0] + "}")


def test_install_scripts_copies_the_launcher_with_this_keydub_recorded(tmp_path, monkeypatch, capsys):
    program, record = stand_in_keydub(tmp_path / "bin")
    monkeypatch.setattr(install, "keydub_command", lambda: (str(program),))
    monkeypatch.setenv("RESOLVE_SCRIPT_API", "/opt/resolve/Developer/Scripting")
    scripts = tmp_path / "Fusion" / "Scripts"
    assert main(["resolve", "install-scripts", "--scripts-dir", str(scripts), "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"Would copy the Keydub launcher to {scripts}/Utility/Keydub.py"
    assert not scripts.exists()

    assert main(["resolve", "install-scripts", "--scripts-dir", str(scripts)]) == 0
    assert capsys.readouterr().out.splitlines()[:2] == [
        f"Copied the Keydub launcher to {scripts}/Utility/Keydub.py",
        f"Copied the Keydub launcher to {scripts}/Utility/Keydub - Import renders.py",
    ]
    installed = scripts / "Utility" / "Keydub.py"
    config = installed_config(installed.read_text())
    assert config["command"] == [str(program)] and config["RESOLVE_SCRIPT_API"] == "/opt/resolve/Developer/Scripting"
    assert config["action"] == "panel"
    assert installed_config((scripts / "Utility" / "Keydub - Import renders.py").read_text())["action"] == "import"
    # Where the bridge's packages are, for the import entry to load them in Resolve's Python.
    assert config["packages"] == {"keydub.core": str(PROJECT / "core"), "keydub.plugin": str(PROJECT / "plugin")}
    # The installed copy finds Keydub without PATH and hands Resolve's scripting paths on.
    result = run_bare(installed, "/usr/bin:/bin")
    assert result.returncode == 0, result.stdout
    assert record.read_text().splitlines()[-1].startswith("API=/opt/resolve/Developer/Scripting PYTHONPATH=")


def source_tree_copy(folder: Path) -> Path:
    """The files a wheel is built from (pyproject.toml, README.md, the package folders it names), copied to
    `folder`, so the build writes nothing into the project."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    config = tomllib.loads((PROJECT / "pyproject.toml").read_text())
    folder.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(PROJECT / name, folder / name)
    for package in config["tool"]["setuptools"]["package-dir"].values():
        shutil.copytree(PROJECT / package, folder / package, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def pip(*arguments: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *arguments],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_install_scripts_works_from_an_installed_wheel(tmp_path):
    source = source_tree_copy(tmp_path / "source")
    pip("wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"), str(source))
    (wheel,) = (tmp_path / "dist").glob("keydub-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read("keydub/resolve_scripts/Keydub.py") == LAUNCHER.read_bytes()
    site = tmp_path / "site"
    pip("install", "--no-deps", "--no-compile", "-q", "--target", str(site), str(wheel))

    # `-S`: no .pth file runs, so the editable install of this checkout is invisible; the wheel's Keydub comes
    # first on the path, then this environment's libraries (torch, OTIO...).
    libraries = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    scripts = tmp_path / "Fusion" / "Scripts"
    program = (
        "import sys; import keydub.plugin.resolve.install as install; print(install.__file__, file=sys.stderr); "
        "from keydub.plugin.cli.main import main; sys.exit(main(sys.argv[1:]))"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-c", program, "resolve", "install-scripts", "--scripts-dir", str(scripts)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": ":".join([str(site), *libraries])},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.splitlines()[0] == str(site / "keydub" / "plugin" / "resolve" / "install.py")
    installed = scripts / "Utility" / "Keydub.py"
    assert result.stdout.splitlines()[0] == f"Copied the Keydub launcher to {installed}"
    # Byte for byte the launcher of this checkout, but for the one line install-scripts fills in.
    before, after = LAUNCHER.read_bytes().split(install.CONFIG_LINE.encode())
    text = installed.read_bytes()
    assert text.startswith(before + b"INSTALLED = {\n") and text.endswith(b"\n}\n" + after)
    assert installed_config(text.decode())["command"] == [sys.executable, "-m", "keydub.plugin.cli.main"]


def test_an_installation_without_the_launcher_is_told_to_reinstall(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(install, "LAUNCHER_PACKAGE", "keydub.no_such_scripts")
    with pytest.raises(KeydubError, match="Keydub.py .keydub.no_such_scripts. is missing from this installation"):
        install.launcher_text(("keydub",))
    assert main(["resolve", "install-scripts", "--scripts-dir", str(tmp_path)]) == 1
    assert capsys.readouterr().err.startswith("Error: the Resolve launcher Keydub.py")
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "platform, expected",
    [
        ("linux", ".local/share/DaVinciResolve/Fusion/Scripts"),
        ("darwin", "Library/Application Support/Blackmagic Design/DaVinci Resolve/Fusion/Scripts"),
    ],
)
def test_the_user_scripts_folder_of_each_os(platform, expected):
    assert install.user_scripts_folder(platform, Path("/home/ed")) == Path("/home/ed") / expected
    windows = install.user_scripts_folder("win32", Path("/home/ed"), {"APPDATA": "/appdata"})
    assert windows == Path("/appdata/Blackmagic Design/DaVinci Resolve/Support/Fusion/Scripts")


class FakeUI:
    """Just enough of Fusion's UIManager and UIDispatcher to see the window the launcher builds."""

    def __init__(self) -> None:
        self.windows: list[dict] = []
        self.UIManager = self

    def UIDispatcher(self, ui):
        return self

    def VGroup(self, children):
        return {"children": children}

    def Label(self, options):
        return {"label": options["Text"]}

    def Button(self, options):
        return {"button": options["Text"]}

    def AddWindow(self, options, layout):
        self.windows.append({**options, **layout, "shown": False})
        ui = self

        class Window:
            class On:
                class OK:
                    pass

                class KeydubMessage:
                    pass

            def Show(self):
                ui.windows[-1]["shown"] = True

            def Hide(self):
                pass

        return Window()

    def RunLoop(self):
        self.windows[-1]["closed_by"] = "OK"

    def ExitLoop(self):
        pass


def test_a_message_inside_resolve_is_shown_in_a_script_window(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    ui = FakeUI()
    runpy.run_path(str(LAUNCHER), init_globals={**fake_resolve_globals(), "fusion": ui, "bmd": ui})
    (window,) = ui.windows
    assert window["WindowTitle"] == "Keydub" and window["shown"]
    assert window["children"][0]["label"].startswith("Keydub was not found. Install Keydub")
    assert window["children"][1] == {"button": "OK"}
    assert capsys.readouterr().out.startswith("Keydub: Keydub was not found.")
