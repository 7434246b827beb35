"""The consent and usage record of an output folder: one whole JSON line per render, whatever kills the writer."""

import datetime
import getpass
import hashlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from fractions import Fraction
from pathlib import Path

import pytest

from keydub.core.errors import ConsentMissingError
from keydub.core.provenance import (
    DubbedFace,
    InputFile,
    RenderFacts,
    SignedOutput,
    UsageRecord,
    append_usage_record,
    read_usage_records,
    require_consent,
    usage_log_path,
)
from keydub.core.render.request import FaceChoice, Speaker


# Forty weight files make a record of about 4 KB, so that a write is long enough to be killed in.
WEIGHTS = {f"keyframe/unet/shard-{i:02d}.safetensors": hashlib.sha256(bytes([i])).hexdigest() for i in range(40)}


def facts(tmp_path: Path, character: str | None = "ANNA", consent: str | None = "cast-sheet-7/ANNA") -> RenderFacts:
    source, dub = tmp_path / "shot_010.mov", tmp_path / "dub_fr.wav"
    for path in (source, dub):
        if not path.exists():
            path.write_bytes(path.name.encode())
    return RenderFacts(
        source=InputFile(source, hashlib.sha256(source.read_bytes()).hexdigest()),
        dubs=(InputFile(dub, hashlib.sha256(dub.read_bytes()).hexdigest()),),
        frames=(0, 48),
        frame_rate=Fraction(24000, 1001),
        regenerated=((0, 40),),
        passed_through=tuple((frame, "no face") for frame in range(40, 48)),
        face_tracks=(2,),
        weights=WEIGHTS,
        sampler={"steps": 10, "audio_guidance": 5.0, "ref_guidance": 2.0, "seed": 0},
        faces=(DubbedFace(character, consent, {"point": None, "frame": None, "track_id": 2}),),
    )


def signed(output: Path) -> SignedOutput:
    return SignedOutput(output, "urn:c2pa:00000000-0000-4000-8000-000000000001", "Studio signer", False, None, 0.01)


def test_each_render_appends_one_line_saying_who_when_what_and_under_which_consent(tmp_path):
    # The record keeps milliseconds.
    began = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(milliseconds=1)
    output = tmp_path / "shot_010_dub.mov"
    append_usage_record(tmp_path, UsageRecord.for_render(output, facts(tmp_path), signed(output)))
    append_usage_record(tmp_path, UsageRecord.for_render(output, facts(tmp_path, "BOB", None), None))

    lines = usage_log_path(tmp_path).read_text(encoding="utf-8").splitlines()
    first, second = (json.loads(line) for line in lines)

    assert len(lines) == 2
    assert (first["user"], first["host"]) == (getpass.getuser(), socket.gethostname())
    assert began <= datetime.datetime.fromisoformat(first["time"]) <= datetime.datetime.now(datetime.timezone.utc)
    assert first["source"] == {
        "path": str(tmp_path / "shot_010.mov"),
        "sha256": hashlib.sha256(b"shot_010.mov").hexdigest(),
    }
    assert first["dubs"][0]["sha256"] == hashlib.sha256(b"dub_fr.wav").hexdigest()
    assert first["faces"] == [
        {"character": "ANNA", "consent": "cast-sheet-7/ANNA", "face": {"point": None, "frame": None, "track_id": 2}}
    ]
    assert first["face_tracks"] == [2]
    assert first["weights"] == WEIGHTS
    assert (first["provenance"], first["manifest_id"], first["signer"]) == (
        "signed",
        "urn:c2pa:00000000-0000-4000-8000-000000000001",
        "Studio signer",
    )
    # Provenance off is recorded, and a render without consent is recorded too: consent never blocks by itself.
    (face,) = second["faces"]
    assert (face["character"], face["consent"], second["provenance"], second["manifest_id"]) == (
        "BOB",
        None,
        "off",
        None,
    )
    assert read_usage_records(tmp_path) == [UsageRecord.from_dict(first), UsageRecord.from_dict(second)]


# Appends `count` numbered records to the folder in argv[1] forever (or `count` times), as a batch would.
APPENDER = textwrap.dedent(
    """
    import itertools, sys
    from pathlib import Path
    from test_provenance_usage import facts, signed
    from keydub.core.provenance import UsageRecord, append_usage_record

    folder, writer = Path(sys.argv[1]), sys.argv[2]
    for number in itertools.count():
        output = folder / f"{writer}-{number:06d}.mov"
        record = UsageRecord.for_render(output, facts(folder, consent=f"{writer}:{number}"), signed(output))
        append_usage_record(folder, record)
    """
)


def start_appender(folder: Path, writer: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", APPENDER, str(folder), writer],
        cwd=Path(__file__).parent,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent)},
    )


def written(log: Path, writer: str) -> int:
    """How many records of `writer` the usage record holds so far."""
    return log.read_bytes().count(f'"{writer}:'.encode()) if log.exists() else 0


def test_sigkill_in_the_middle_of_a_batch_leaves_no_torn_line(tmp_path):
    log = usage_log_path(tmp_path)
    for round_number in range(3):
        names = [f"w{round_number}{index}" for index in range(2)]
        writers = [start_appender(tmp_path, name) for name in names]
        # Killed once both are well into their loop: at any point of a record, not just between two.
        deadline = time.monotonic() + 120
        while not all(written(log, name) >= 20 for name in names) and time.monotonic() < deadline:
            time.sleep(0.005)
        for writer in writers:
            os.kill(writer.pid, signal.SIGKILL)
        for writer in writers:
            assert writer.wait(timeout=30) == -signal.SIGKILL

    data = log.read_bytes()
    assert data.endswith(b"\n")
    records = [json.loads(line) for line in data.splitlines()]  # every line is a whole record
    assert len(records) >= 120
    by_writer: dict[str, list[int]] = {}
    for record in records:
        writer, number = record["faces"][0]["consent"].split(":")
        by_writer.setdefault(writer, []).append(int(number))
        assert record["weights"] == WEIGHTS and record["manifest_id"].startswith("urn:c2pa:")
    # Each writer's records are all there, in order, up to where it was killed.
    assert all(numbers == list(range(len(numbers))) for numbers in by_writer.values())
    assert len(by_writer) == 6


def test_a_line_torn_by_a_power_cut_is_closed_and_skipped_not_continued(tmp_path, caplog):
    output = tmp_path / "shot_010_dub.mov"
    append_usage_record(tmp_path, UsageRecord.for_render(output, facts(tmp_path), signed(output)))
    whole = usage_log_path(tmp_path).read_bytes()
    usage_log_path(tmp_path).write_bytes(whole + whole[: len(whole) // 2])  # a write the power cut stopped halfway

    append_usage_record(tmp_path, UsageRecord.for_render(output, facts(tmp_path, "BOB"), None))
    with caplog.at_level(logging.WARNING, logger="keydub.core.provenance.usage"):
        records = read_usage_records(tmp_path)

    assert [record.faces[0]["character"] for record in records] == ["ANNA", "BOB"]
    assert "line 2 is not a whole usage record" in caplog.text


def test_required_consent_refuses_the_shots_without_one_naming_each_character_or_face():
    anna = Speaker(FaceChoice(track_id=1), name="ANNA", consent="cast-sheet-7/ANNA")
    require_consent([("shot_010", (anna,))])  # given: nothing to refuse

    with pytest.raises(ConsentMissingError) as refused:
        require_consent(
            [
                ("shot_010", (anna,)),
                ("shot_020", (anna, Speaker(FaceChoice(track_id=2), name="BOB"))),
                ("shot_030", (Speaker(FaceChoice(point=(120.5, 40), frame=3), consent="  "),)),
                ("shot_040", (Speaker(FaceChoice()),)),
            ]
        )
    assert str(refused.value) == (
        "consent is required and 3 face(s) have no consent reference: shot_020 (character 'BOB'), shot_030 (the face "
        "at 120.5,40 on frame 3, no character named), shot_040 (the largest face, no character named); give each "
        "character a consent reference (the cast's consent, --consent) or render without requiring consent"
    )
