"""Helpers of the bad-input tests: run a command, then check what every refusal must guarantee.

A refused command must exit non-zero with exactly one `Error:` line on stderr naming the problem, print no
traceback, leave no new file anywhere in the folder it was pointed at, and leave every input byte-identical.
`Workspace` snapshots a folder (paths and SHA-256 of every file) so a test can assert all four at once.
"""

import hashlib
import os
import subprocess
import sys
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from keydub.plugin.cli.main import main


PROJECT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Outcome:
    """What a command did: its exit status and what it printed."""

    code: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("Error:")]


def run_cli(argv: list[str], capsys: pytest.CaptureFixture) -> Outcome:
    """`keydub ARGV` in this process (argparse's exit included), with what it printed."""
    capsys.readouterr()
    try:
        code = main([str(arg) for arg in argv])
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err)


def run_cli_process(
    argv: list[str], *, env: dict[str, str] | None = None, timeout: float = 120, user: int | None = None
) -> Outcome:
    """`keydub ARGV` in a new interpreter (for crashes, signals and other users)."""
    process = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from keydub.plugin.cli.main import main; sys.exit(main(sys.argv[1:]))",
            *map(str, argv),
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        user=user,
        cwd="/",
    )
    return Outcome(process.returncode, process.stdout, process.stderr)


def snapshot(folder: Path) -> dict[str, str]:
    """Every path under `folder` (folders as `"<dir>"`) with the SHA-256 of each file."""
    state = {}
    for path in sorted(folder.rglob("*")):
        relative = str(path.relative_to(folder))
        state[relative] = (
            "<dir>"
            if path.is_dir()
            else (hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "<special>")
        )
    return state


def assert_refused(outcome: Outcome, folder: Path, before: dict[str, str], *needles: str, code: int = 1) -> None:
    """The refusal contract: exit `code`, one `Error:` line containing every needle, no traceback, nothing new
    under `folder` and every file there byte-identical."""
    assert outcome.code == code, outcome
    assert len(outcome.error_lines) == 1, outcome.stderr
    for needle in needles:
        assert needle in outcome.error_lines[0], (needle, outcome.error_lines[0])
    assert "Traceback" not in outcome.stderr and "Traceback" not in outcome.stdout
    assert snapshot(folder) == before


def write_wav(path: Path, seconds: float = 1.0, rate: int = 16000, frequency: float = 220.0) -> Path:
    """A mono 16-bit sine WAV."""
    times = np.arange(int(seconds * rate)) / rate
    pcm = np.round(0.3 * np.sin(2 * np.pi * frequency * times) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as stream:
        stream.setnchannels(1)
        stream.setsampwidth(2)
        stream.setframerate(rate)
        stream.writeframes(pcm.tobytes())
    return path


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


NOBODY = 65534
