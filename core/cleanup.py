"""What a killed run left behind: hidden partial outputs and scratch crop caches, found by their free locks.

A SIGKILL or a power cut gives a process no chance to remove its partial files; the next run on the same targets
calls `remove_stale_files` before it starts and reports what it removed.
"""

import os
from collections.abc import Iterable
from pathlib import Path

from keydub.core.compositing.crop_cache import remove_stale_crop_caches
from keydub.core.files import remove_stale_partials, remove_stale_partials_in


def remove_stale_files(
    targets: Iterable[str | os.PathLike[str] | None] = (), folders: Iterable[str | os.PathLike[str] | None] = ()
) -> list[Path]:
    """Remove the partial files of `targets`, every stale partial file in `folders`, and stale crop caches.

    Args:
        targets (`Iterable[path | None]`): outputs about to be written (`None` entries are skipped).
        folders (`Iterable[path | None]`): folders whose stale partial files of any target go (a batch's render
            folder, say).

    Returns:
        `list[Path]`: what was removed, partial files first. Files a live Keydub process is writing are kept.
    """
    removed: list[Path] = []
    for target in targets:
        if target is not None:
            removed += remove_stale_partials(Path(target).expanduser().absolute())
    for folder in folders:
        if folder is not None:
            removed += remove_stale_partials_in(Path(folder).expanduser().absolute())
    return removed + remove_stale_crop_caches()
