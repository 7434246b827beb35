"""A plain `pip install keydub` (no `ui`, no `cluster` extra) must give a working engine and command line.

Each check runs in a fresh interpreter in which PySide6 and Ray cannot be imported, as on a machine without the
extras, and so shows that nothing outside `keydub.ui` needs Qt and nothing needs Ray until asked for.
"""

import json
import subprocess
import sys
import textwrap

import pytest

from tests.otio_fixtures import write_dubbing_timeline


# Installed in the child before anything of Keydub is imported: importing an extra's package fails as if absent.
BLOCK_EXTRAS = textwrap.dedent(
    """
    import importlib.abc, sys

    class BlockExtras(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("PySide6", "shiboken6", "ray"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, BlockExtras())
    """
)


def run_without_extras(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCK_EXTRAS + textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_every_engine_and_plugin_module_imports_without_qt_or_ray():
    result = run_without_extras(
        """
        import importlib, json, pkgutil
        import keydub.core, keydub.plugin

        imported, failed = [], {}
        for package in (keydub.core, keydub.plugin):
            for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
                try:
                    importlib.import_module(module.name)
                    imported.append(module.name)
                except Exception as error:
                    failed[module.name] = f"{type(error).__name__}: {error}"
        print(json.dumps({"imported": imported, "failed": failed}))
        """
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["failed"] == {}
    # The walk really reached the seams every client stands on.
    for name in (
        "keydub.core.engine",
        "keydub.plugin.store",
        "keydub.plugin.worker.drain",
        "keydub.plugin.timeline.batch",
        "keydub.plugin.cli.main",
        "keydub.plugin.cluster.executor",
        "keydub.plugin.resolve",
        "keydub.plugin.panel.controller",
    ):
        assert name in report["imported"]


def test_the_command_line_works_without_qt_or_ray(tmp_path):
    timeline = write_dubbing_timeline(tmp_path).path
    result = run_without_extras(
        """
        import sys
        from keydub.plugin.cli.main import main

        sys.exit(main(["timeline", sys.argv[1], "--dry-run", "--json"]))
        """,
        str(timeline),
    )
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["dry_run"] is True and plan["counts"]["pending"] > 0


@pytest.mark.parametrize(
    ("argv", "extra"),
    [
        (["panel"], "ui"),
        (["timeline", "{timeline}", "--executor", "ray"], "cluster"),
    ],
)
def test_a_command_that_needs_an_extra_names_it(tmp_path, argv, extra):
    timeline = write_dubbing_timeline(tmp_path).path
    result = run_without_extras(
        """
        import sys
        from keydub.plugin.cli.main import main

        sys.exit(main(sys.argv[1:]))
        """,
        *[arg.format(timeline=timeline) for arg in argv],
    )
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and f"keydub[{extra}]" in errors[0]
    assert "Traceback" not in result.stderr
