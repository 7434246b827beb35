"""Shared output helpers for the commands: progress bars on stderr, results on stdout."""

import json
import sys
from typing import Any

from tqdm import tqdm

from keydub.core.progress import Progress


class ProgressBar:
    """A `ProgressCallback` that draws one tqdm bar per stage on stderr (silenced with `disable=True`)."""

    def __init__(self, disable: bool = False) -> None:
        self._disable = disable
        self._bar: tqdm | None = None
        self._stage: str | None = None

    def __call__(self, progress: Progress) -> None:
        if progress.stage != self._stage:
            self.close()
            self._stage = progress.stage
            self._bar = tqdm(total=progress.total, desc=progress.stage, unit="f", file=sys.stderr,
                             disable=self._disable, leave=False)
        assert self._bar is not None
        if progress.total is not None and self._bar.total != progress.total:
            self._bar.total = progress.total
        self._bar.n = progress.done
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def print_json(value: Any) -> None:
    """Print a JSON document on stdout (the `--json` form of a command's result)."""
    json.dump(value, sys.stdout, indent=2, sort_keys=False, default=str)
    sys.stdout.write("\n")
