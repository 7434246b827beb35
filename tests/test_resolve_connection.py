"""Reaching Resolve: the documented module lookup, stdlib-only imports, exact rates and timecodes, and one clear
line naming the cause and the fix whenever Resolve cannot be reached."""

import json
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import pytest
from fake_resolve import library, use_fake_resolve

from keydub.plugin.cli.main import main
from keydub.plugin.resolve import ResolveCallError, ResolveUnavailableError, connect, connection, probe, script_paths
from keydub.plugin.resolve.timecode import frame_to_timecode, parse_frame_rate, timecode_to_frame


ROOT = Path(__file__).resolve().parents[1]


def fake_studio(project_name="Dubbing", **options):
    fake = library()
    project = fake.Project(project_name, Fraction(24000, 1001))
    project.GetMediaPool().CreateEmptyTimeline("episode101")
    return fake.Resolve(project, **options)


BARE_PROBE = """
import sys
sys.path.insert(0, sys.argv[1])
import keydub.plugin.resolve as bridge
import fusionscript as fake  # the fake library, as DaVinciResolveScript would load it
from fractions import Fraction
project = fake.Project("Dubbing", Fraction(25))
project.GetMediaPool().CreateEmptyTimeline("reel 1")
fake.fake_install(fake.Resolve(project))
print(bridge.probe().summary())
print(sorted({name.split(".")[0] for name in sys.modules} - set(sys.stdlib_module_names)))
"""


def test_the_bridge_runs_under_a_bare_python_with_the_standard_library_only(tmp_path):
    # Keydub's folders as the `keydub` namespace, for an interpreter without site-packages (-I -S).
    (tmp_path / "keydub").mkdir()
    for folder in ("core", "plugin"):
        (tmp_path / "keydub" / folder).symlink_to(ROOT / folder)
    (tmp_path / "fusionscript.py").symlink_to(ROOT / "tests" / "fake_resolve" / "lib" / "fusionscript.py")
    environment = {"RESOLVE_SCRIPT_API": str(ROOT / "tests" / "fake_resolve"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", BARE_PROBE, str(tmp_path)],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    summary, loaded = result.stdout.splitlines()
    assert (
        summary == "DaVinci Resolve Studio 20.3.2.9 (Studio), database 'Local Database', project 'Dubbing', "
        "current timeline 'reel 1'"
    )
    assert loaded == "['DaVinciResolveScript', '__main__', 'fusionscript', 'keydub']"


@pytest.mark.parametrize(
    "answer, rate",
    [
        # Clip `FPS` answers are numbers in real dumps (`'FPS': 24.0`, `50.0`); timeline settings are strings.
        (24.0, Fraction(24)),
        (50.0, Fraction(50)),
        (25, Fraction(25)),
        (23.976, Fraction(24000, 1001)),
        (23.976023976023978, Fraction(24000, 1001)),
        (23.98, Fraction(24000, 1001)),
        (29.97, Fraction(30000, 1001)),
        (59.94, Fraction(60000, 1001)),
        (119.88, Fraction(120000, 1001)),
        (47.952, Fraction(48000, 1001)),
        ("23.976", Fraction(24000, 1001)),
        ("29.97 DF", Fraction(30000, 1001)),
        ("59.94", Fraction(60000, 1001)),
        ("25", Fraction(25)),
        ("24.0", Fraction(24)),
    ],
)
def test_resolve_rates_of_any_type_snap_to_the_standard_rate_they_stand_for(answer, rate):
    assert parse_frame_rate(answer) == rate


@pytest.mark.parametrize("answer", [23.9, 22.13, "23.9", "fast", "", None, 0, -25.0, float("nan"), True])
def test_a_rate_that_is_no_standard_rate_is_refused_naming_the_value(answer):
    with pytest.raises(ResolveCallError, match=f"frame rate {answer!r}, which is not a standard rate"):
        parse_frame_rate(answer)


def test_timecodes_count_frames_at_the_nominal_rate_with_drop_frame_as_a_flag():
    assert timecode_to_frame("01:00:00:00", Fraction(24000, 1001)) == 86400
    assert timecode_to_frame("01:00:00:00", Fraction(30)) == 108000
    df = Fraction(30000, 1001)
    # Drop frame is Resolve's flag, whatever the separator says: labels ;00 and ;01 of minute 1 are skipped.
    assert timecode_to_frame("00:01:00;02", df, drop_frame=True) == 1800
    assert timecode_to_frame("00:01:00:02", df, drop_frame=True) == 1800
    assert timecode_to_frame("00:01:00;02", df) == 1802
    assert timecode_to_frame("00:10:00;00", df, drop_frame=True) == 17982
    assert timecode_to_frame("01:00:00;00", df, drop_frame=True) == 107892
    assert timecode_to_frame("01:00:00:00", Fraction(60000, 1001), drop_frame=True) == 215784
    assert timecode_to_frame("01:00:00:00", Fraction(25), drop_frame=True) == 90000  # no drop frame at 25
    with pytest.raises(ResolveCallError, match="'01:00:00:30'"):
        timecode_to_frame("01:00:00:30", Fraction(25))


@pytest.mark.parametrize("rate", [Fraction(30000, 1001), Fraction(60000, 1001)])
def test_drop_frame_labels_round_trip_over_a_day(rate):
    for frame in [*range(0, 20000, 7), 107892, 107893, 1_000_000, 2_589_407]:
        label = frame_to_timecode(frame, rate, drop_frame=True)
        assert timecode_to_frame(label, rate, drop_frame=True) == frame, label
    assert frame_to_timecode(1800, Fraction(30000, 1001), drop_frame=True) == "00:01:00;02"


def test_script_paths_follow_the_environment_then_the_install_defaults():
    assert script_paths({}, "linux").api == Path("/opt/resolve/Developer/Scripting")
    assert script_paths({}, "linux").lib == Path("/opt/resolve/libs/Fusion/fusionscript.so")
    mac = script_paths({}, "darwin")
    assert mac.api == Path("/Library/Application Support/Blackmagic Design/DaVinci Resolve/Developer/Scripting")
    windows = script_paths({"PROGRAMDATA": r"D:\Data"}, "win32")
    assert str(windows.api).startswith(r"D:\Data\Blackmagic Design")
    assert script_paths({"RESOLVE_SCRIPT_API": "/x", "RESOLVE_SCRIPT_LIB": "/y.so"}, "linux") == type(mac)(
        api=Path("/x"), lib=Path("/y.so")
    )


def test_status_reports_product_version_project_and_timeline(monkeypatch, capsys):
    use_fake_resolve(monkeypatch, fake_studio())
    assert main(["resolve", "status"]) == 0
    assert capsys.readouterr().out.strip() == (
        "DaVinci Resolve Studio 20.3.2.9 (Studio), database 'Local Database', "
        "project 'Dubbing', current timeline 'episode101'"
    )
    assert main(["resolve", "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["edition"] == "Studio" and status["timelines"] == ["episode101"] and status["version"] == "20.3.2.9"


@pytest.mark.parametrize(
    "mode, words",
    [
        (
            "not_running",
            [
                "DaVinci Resolve is not running",
                "start DaVinci Resolve Studio",
                "File > Export > Timeline",
                "File > Import > Timeline",
            ],
        ),
        (
            "external_off",
            [
                "refused the connection",
                "Preferences > System > General > External scripting using: Local",
                "free edition",
                "keydub timeline",
            ],
        ),
        ("free", ["free edition of Resolve has no external scripting", "File > Export > Timeline"]),
    ],
)
def test_unreachable_resolve_fails_with_one_line_naming_the_cause_and_fix(monkeypatch, capsys, mode, words):
    use_fake_resolve(monkeypatch, fake_studio(), mode=mode)
    assert main(["resolve", "status"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and captured.err.startswith("Error: ")
    assert all(word in captured.err for word in words), captured.err


def test_a_missing_install_or_library_names_the_variable_to_set(monkeypatch, tmp_path):
    monkeypatch.setenv("RESOLVE_SCRIPT_API", str(tmp_path))
    with pytest.raises(ResolveUnavailableError, match="RESOLVE_SCRIPT_API") as error:
        connect()
    assert error.value.cause == "not_installed"
    use_fake_resolve(monkeypatch, fake_studio())
    monkeypatch.setenv("RESOLVE_SCRIPT_LIB", str(tmp_path / "fusionscript.so"))
    monkeypatch.delitem(sys.modules, "fusionscript")
    monkeypatch.delitem(sys.modules, "DaVinciResolveScript", raising=False)
    with pytest.raises(ResolveUnavailableError, match="RESOLVE_SCRIPT_LIB") as error:
        connect()
    assert error.value.cause == "library" and "Could not locate module dependencies" in str(error.value)


def test_a_library_that_crashes_python_on_import_is_one_line_and_keydub_survives(monkeypatch, tmp_path, capsys):
    modules = tmp_path / "Scripting" / "Modules"
    modules.mkdir(parents=True)
    # What fusionscript does on Windows when it binds another Python: the process dies at import.
    (modules / "DaVinciResolveScript.py").write_text("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n")
    monkeypatch.setenv("RESOLVE_SCRIPT_API", str(tmp_path / "Scripting"))
    monkeypatch.setenv("RESOLVE_SCRIPT_LIB", str(tmp_path / "fusionscript.dll"))
    monkeypatch.delitem(sys.modules, "DaVinciResolveScript", raising=False)
    assert main(["resolve", "status"]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "crashed Python (exit status -11)" in error and "FUSION_PYTHON3_HOME" in error
    assert "DaVinciResolveScript" not in sys.modules


def test_on_windows_the_library_is_pointed_at_keydubs_own_python():
    assert connection.import_environment({"PATH": "x"}, "win32") == {
        "PATH": "x",
        "FUSION_PYTHON3_HOME": sys.base_prefix,
    }
    assert connection.import_environment({"PATH": "x"}, "linux") == {"PATH": "x"}


def test_resolve_without_a_database_or_not_answering_is_refused(monkeypatch):
    resolve = fake_studio()
    resolve.GetProjectManager().database = None
    use_fake_resolve(monkeypatch, resolve)
    with pytest.raises(ResolveUnavailableError, match="no project database") as error:
        probe()
    assert error.value.cause == "no_database"
    fake = use_fake_resolve(monkeypatch, fake_studio())
    monkeypatch.setattr(fake, "scriptapp", lambda name: time.sleep(3))
    monkeypatch.delitem(sys.modules, "DaVinciResolveScript", raising=False)
    started = time.monotonic()
    with pytest.raises(ResolveUnavailableError, match="did not answer within 0.2 s") as error:
        connect(timeout=0.2)
    assert error.value.cause == "timeout" and time.monotonic() - started < 2


def test_the_free_edition_connected_from_inside_is_sent_to_the_otio_route(monkeypatch):
    from keydub.plugin.resolve import snapshot

    resolve = fake_studio(product="DaVinci Resolve")
    with pytest.raises(ResolveUnavailableError, match="File > Export > Timeline"):
        snapshot(resolve=resolve)
    assert probe(resolve).edition == "free"
