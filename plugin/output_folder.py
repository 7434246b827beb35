"""The layout of an output folder: renders at the top, the job store and scratch files under `.keydub/`.

```
renders/
    <clip>_<hash12>.mov          finished renders (the name changes whenever the job changes)
    .keydub/jobs.sqlite          the job store, which is also the queue
    .keydub/audio/<sha>.wav      the dub audio of each job, by content
    .keydub/staging/<owner>/     renders in progress, one folder per rendering process
    .keydub/lock                 held by the batch that plans into the folder
```

Every process that renders into the folder (a batch, `keydub worker` processes) stages its renders in its own
folder and renames them into place when complete, so no partial file is ever left where a finished one belongs;
the staging folder of a process that is gone is removed by the next one that looks.
"""

import logging
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from keydub.core.errors import OutputNotWritableError
from keydub.plugin.store import STORE_PATH, JobState, JobStore, is_owner_alive


logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutputFolder:
    """Where renders are written: renders in `root`, bookkeeping in `root/.keydub`.

    Args:
        root (`Path`): the output folder (absolute).
    """

    root: Path

    @property
    def store_path(self) -> Path:
        return self.root / STORE_PATH

    @property
    def audio_cache(self) -> Path:
        return self.root / ".keydub" / "audio"

    @property
    def staging(self) -> Path:
        return self.root / ".keydub" / "staging"

    @property
    def lock_path(self) -> Path:
        return self.root / ".keydub" / "lock"

    def staging_for(self, owner: str) -> Path:
        """The staging folder of one rendering process (`owner` as `host:pid`)."""
        return self.staging / re.sub(r"[^A-Za-z0-9._-]+", "_", owner)

    def check_writable(self) -> None:
        """Raise `OutputNotWritableError` unless the folder exists and is writable or can be created; creates
        nothing (so that a batch refused for another reason leaves no trace)."""
        existing = self.root
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            what = "is not a folder" if not existing.is_dir() else "cannot be written"
            raise OutputNotWritableError(
                f"cannot write into the output folder {self.root} ({existing} {what}); choose another --out-dir"
            )

    def prepare(self) -> None:
        """Create the folders (the output folder's parents included).

        Raises:
            `OutputNotWritableError`: they cannot be created or written.
        """
        try:
            for folder in (self.root, self.audio_cache, self.staging):
                folder.mkdir(parents=True, exist_ok=True)
            if not os.access(self.root, os.W_OK):
                raise PermissionError(13, "permission denied")
        except OSError as error:
            reason = error.strerror or str(error)
            raise OutputNotWritableError(
                f"cannot write into the output folder {self.root} ({reason}); choose another --out-dir"
            ) from error

    def sweep_staging(self, store: JobStore) -> list[Path]:
        """Remove the staging folders of processes that no longer render here; return what was removed.

        A folder is kept while its owner holds a live lease on a running job (see `is_owner_alive`), so renders
        in progress elsewhere are never touched. It runs under the store's write lock: a process claims a job,
        and only then creates its staging folder, either before the sweep (and is seen running) or after it.
        """
        if not self.staging.is_dir():
            return []
        removed = []
        with store.write_lock():
            now = time.time()
            live = {
                self.staging_for(record.owner).name
                for record in store.records()
                if record.state is JobState.RUNNING and is_owner_alive(record.owner, now, record.lease_until)
            }
            for entry in self.staging.iterdir():
                if entry.name in live:
                    continue
                logger.info("removing %s, left by a render that did not finish", entry)
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
                removed.append(entry)
        return removed
