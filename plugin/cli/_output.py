"""Shared output helpers for the commands: progress bars on stderr, results on stdout."""

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from keydub.core.progress import Progress, Unit


class ProgressBar:
    """A `ProgressCallback` that draws one tqdm bar per stage on stderr (silenced with `disable=True`).

    Stages interleave in a render (crops, audio features, keyframe and interpolation steps, frames), so each
    stage keeps its own bar, counted in its own unit (frames, steps, bytes), until it reaches its total.
    """

    _TQDM_UNITS = {
        Unit.FRAMES: {"unit": "frame"},
        Unit.STEPS: {"unit": "step"},
        Unit.ITEMS: {"unit": "it"},
        Unit.BYTES: {"unit": "B", "unit_scale": True, "unit_divisor": 1024},
    }

    def __init__(self, disable: bool = False) -> None:
        self._disable = disable
        self._bars: dict[str, tqdm] = {}

    def __call__(self, progress: Progress) -> None:
        bar = self._bars.get(progress.stage)
        if bar is None or bar.total != progress.total:
            if bar is not None:
                bar.close()
            bar = self._bars[progress.stage] = tqdm(
                total=progress.total,
                desc=progress.stage,
                file=sys.stderr,
                disable=self._disable,
                leave=False,
                **self._TQDM_UNITS.get(progress.unit, {}),
            )
        bar.n = progress.done
        bar.refresh()
        if progress.done >= progress.total:
            self._bars.pop(progress.stage).close()

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def add_output_flags(parser: argparse.ArgumentParser, *, quiet: bool = True, result: str = "the result") -> None:
    """`--json` (`result` as JSON on stdout) and, unless `quiet` is false, `--quiet` (no progress bar)."""
    parser.add_argument("--json", action="store_true", help=f"print {result} as JSON on stdout")
    if quiet:
        parser.add_argument("--quiet", action="store_true", help="no progress bar")


def print_json(value: Any) -> None:
    """Print a JSON document on stdout (the `--json` form of a command's result)."""
    json.dump(value, sys.stdout, indent=2, sort_keys=False, default=str)
    sys.stdout.write("\n")


def report_stale_files_removed(targets: Iterable[Path | None] = (), folders: Iterable[Path | None] = ()) -> list[Path]:
    """Remove what killed runs left (partial files of `targets` and in `folders`, crop caches) and say so on stderr."""
    from keydub.core.cleanup import remove_stale_files

    removed = remove_stale_files(targets, folders)
    for path in removed:
        print(f"note: removed {path}, left behind by a run that was killed or crashed", file=sys.stderr)
    return removed
