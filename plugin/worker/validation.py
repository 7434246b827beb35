"""What a renderer accepts from the job store: a job row is checked in full before anything is rendered.

The store is a file that any process (or person) can write; a renderer trusts none of it. A claimed row must
hold exactly the fields of `ClipJob.to_dict()` (`ClipJob.from_dict` checks them), with values of the right kind,
the hash the row claims, an absolute source path, and dub audio (each speaker's stem too) inside the output folder's
audio cache. The output path is never read from the store: it is the folder plus the job's sanitised,
content-named file name.
"""

from typing import Any

from keydub.core.errors import InvalidParameterError, KeydubError
from keydub.plugin.jobs import ClipJob
from keydub.plugin.output_folder import OutputFolder
from keydub.plugin.store import JobRecord
from keydub.plugin.worker.protocol import check_job_id


class InvalidJobError(InvalidParameterError):
    """A job row in the store is malformed or was changed by hand; it is marked failed, never rendered."""


def validated_job(record: JobRecord, folder: OutputFolder) -> ClipJob:
    """The `ClipJob` of a claimed row, after checking every field a render reads.

    Raises:
        `InvalidJobError`: the message names the field, the value and what to do.
    """
    where = f"job {record.job_id[:80]!r} in {folder.store_path}"
    try:
        check_job_id(record.job_id)
        job = _parse(record.job, where)
    except InvalidJobError:
        raise
    except KeydubError as error:
        raise InvalidJobError(f"{where}: {error}; submit it again") from error
    if job.job_id != record.job_id:
        raise InvalidJobError(f"{where}: its data is for job {job.job_id[:80]!r}; submit it again")
    if job.content_hash() != record.job_hash:
        raise InvalidJobError(f"{where}: its data does not match its hash (changed by hand?); submit it again")
    if not job.source.path.is_absolute():
        raise InvalidJobError(f"{where}: the source {job.source.path} is not an absolute path; submit it again")
    stems = [speaker.audio_file for speaker in job.speakers if speaker.audio_file is not None]
    for path in (job.audio_file, *stems):
        audio = path.resolve()
        if audio.parent != folder.audio_cache.resolve() or not audio.is_file():
            raise InvalidJobError(
                f"{where}: the dub audio {path} is not a file of the folder's audio cache "
                f"{folder.audio_cache}; plan the batch again (keydub timeline) to write it"
            )
    return job


def _parse(data: Any, where: str) -> ClipJob:
    try:
        return ClipJob.from_dict(data)
    except KeydubError:
        raise
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as error:
        raise InvalidJobError(
            f"{where}: a field has a value of the wrong kind ({type(error).__name__}: {error}); submit it again"
        ) from error
