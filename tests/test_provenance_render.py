"""Every render carries its Content Credentials and its usage record line: `keydub render`, the engine and a batch
timeline with tiny random weights, read back with c2pa's own `Reader`, checked by `keydub provenance verify`, and
the usage record kept whole through a SIGKILL in the middle of a batch of real renders."""

import base64
import functools
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import c2pa
import pytest
from bad_input import run_cli
from face_fixtures import DrawnFaceBackend, template_landmarks
from otio_fixtures import write_three_clip_timeline
from test_provenance_signing import flip_video_byte, independent_weight_hashes, prores_shot
from test_resolve_render import TinyEngine
from tiny_models import save_tiny_weights, tiny_weight_flags, tiny_weight_options

from keydub.core import engine as core_engine
from keydub.core.disclosure import DISCLOSURE_LABEL
from keydub.core.errors import ProvenanceError
from keydub.core.provenance import read_credential, sidecar_path, usage_log_path, verify_credential
from keydub.core.provenance.manifest import SHA256_KEY
from keydub.plugin.timeline.batch import render_timeline
from keydub.plugin.timeline.executors import InProcessExecutor
from keydub.plugin.timeline.plan import PlanOptions
from keydub.plugin.timeline.tracks import METADATA_KEY


WIDTH, HEIGHT = 96, 80
FACE = template_landmarks(48, 36, 36)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def usage_lines(folder: Path) -> list[dict]:
    """The usage record of `folder`, every line parsed (a torn line fails the test)."""
    return [json.loads(line) for line in usage_log_path(folder).read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> dict[str, Path]:
    return save_tiny_weights(tmp_path_factory.mktemp("weights"), 64)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> tuple[Path, Path]:
    return prores_shot(tmp_path_factory.mktemp("inputs"), 16)


@pytest.fixture
def drawn_faces(monkeypatch):
    """`keydub render`'s engine with a drawn face for the dlib backend: synthetic clips have no face a detector
    finds, and everything else (analysis, model, signing, usage record) is the real path."""
    faces = DrawnFaceBackend(lambda index: FACE, (HEIGHT, WIDTH))
    monkeypatch.setattr(
        core_engine, "Engine", functools.partial(core_engine.Engine, landmark_backends={"dlib": faces})
    )


def render_argv(inputs, weights, output: Path, *extra) -> list:
    clip, dub = inputs
    return [
        "render",
        clip,
        "--audio",
        dub,
        "-o",
        output,
        "--device",
        "cpu",
        "--landmark-backend",
        "dlib",
        "--quiet",
        *tiny_weight_flags(weights),
        *extra,
    ]


def test_keydub_render_signs_its_prores_mov_and_verify_fails_once_a_frame_byte_changes(
    tmp_path, inputs, weights, drawn_faces, capsys
):
    clip, dub = inputs
    output, report_file = tmp_path / "shot_010_dub.mov", tmp_path / "qc.json"
    argv = render_argv(inputs, weights, output, "--codec", "prores", "--report", report_file, "--consent", "rel-2291")

    outcome = run_cli(argv, capsys)
    assert outcome.code == 0

    report = json.loads(report_file.read_text())
    provenance = report["provenance"]
    assert outcome.stdout.splitlines()[1] == (
        f"signed {provenance['manifest_id']} (embedded) by local Keydub identity, not trusted by validators; "
        f"recorded in {usage_log_path(tmp_path)}"
    )
    with open(output, "rb") as stream, c2pa.Reader("video/quicktime", stream) as reader:
        store = json.loads(reader.json())
    manifest = store["manifests"][store["active_manifest"]]
    assert store["active_manifest"] == provenance["manifest_id"] and provenance["signed"] is True
    assert store["validation_state"] == "Valid"  # the local identity is not trusted, but signature and hashes hold
    assert provenance["label"] == DISCLOSURE_LABEL and provenance["sidecar"] is None
    ingredients = {item["relationship"]: item for item in manifest["ingredients"]}
    assert (ingredients["parentOf"]["title"], ingredients["parentOf"]["metadata"][SHA256_KEY]) == (
        clip.name,
        sha256(clip),
    )
    assert (ingredients["componentOf"]["title"], ingredients["componentOf"]["metadata"][SHA256_KEY]) == (
        dub.name,
        sha256(dub),
    )
    # The signing time sits beside the render's stages, and is a small part of them.
    timings = report["timings_seconds"]
    assert 0 < timings["sign"] < sum(seconds for stage, seconds in timings.items() if stage != "sign")
    # The usage record: one line, by this user, with the consent given on the command line.
    (line,) = usage_lines(tmp_path)
    assert line["output"] == str(output) and line["provenance"] == "signed"
    assert line["manifest_id"] == provenance["manifest_id"]
    assert (line["source"]["sha256"], line["dubs"][0]["sha256"]) == (sha256(clip), sha256(dub))
    assert [(face["character"], face["consent"]) for face in line["faces"]] == [(None, "rel-2291")]
    assert line["weights"] == independent_weight_hashes(weights)

    assert run_cli(["provenance", "verify", output], capsys).code == 0
    flip_video_byte(output)
    refused = run_cli(["provenance", "verify", output], capsys)
    assert refused.code == 1 and refused.stderr.count("\n") == 1
    assert refused.stderr.startswith(f"Error: {output} changed after it was signed")


def test_ffv1_mkv_gets_a_sidecar_binding_its_hash_and_no_provenance_gives_none_and_says_off(
    tmp_path, inputs, weights, drawn_faces, capsys
):
    signed, unsigned = tmp_path / "signed.mkv", tmp_path / "unsigned.mkv"
    assert run_cli(render_argv(inputs, weights, signed, "--codec", "ffv1"), capsys).code == 0
    report_file = tmp_path / "off.json"
    argv = render_argv(inputs, weights, unsigned, "--codec", "ffv1", "--no-provenance", "--report", report_file)
    outcome = run_cli(argv, capsys)
    assert outcome.code == 0
    assert outcome.stdout.splitlines()[1] == (
        f"no Content Credentials (--no-provenance); recorded in {usage_log_path(tmp_path)}"
    )

    sidecar = sidecar_path(signed)
    with open(signed, "rb") as stream, c2pa.Reader("video/x-matroska", stream, sidecar.read_bytes()) as reader:
        assert reader.get_validation_state() == "Valid"
        store = json.loads(reader.detailed_json())
    bound = store["manifests"][store["active_manifest"]]["assertion_store"]["c2pa.hash.data"]
    assert base64.b64decode(bound["hash"]).hex() == sha256(signed)
    # Provenance off: no sidecar, nothing in the file, and the report and the usage record say so.
    assert not sidecar_path(unsigned).exists()
    with pytest.raises(ProvenanceError, match="carries no Content Credentials"):
        read_credential(unsigned)
    report = json.loads(report_file.read_text())
    assert report["provenance"]["signed"] is False and report["provenance"]["manifest_id"] is None
    assert "sign" not in report["timings_seconds"]
    first, second = usage_lines(tmp_path)
    assert (first["output"], first["provenance"]) == (str(signed), "signed")
    assert (second["output"], second["provenance"], second["manifest_id"]) == (str(unsigned), "off", None)
    assert first["faces"][0]["consent"] is None  # a render without consent is recorded: it never blocks alone


def test_a_sidecar_already_there_is_refused_and_one_replaced_without_credentials_goes(
    tmp_path, inputs, weights, drawn_faces, capsys
):
    orphan = tmp_path / "orphan.mkv"
    sidecar_path(orphan).write_bytes(b"an earlier render's manifest")
    refused = run_cli(render_argv(inputs, weights, orphan, "--codec", "ffv1"), capsys)
    assert refused.code == 1 and "already exists" in refused.stderr and str(sidecar_path(orphan)) in refused.stderr
    assert not orphan.exists() and sidecar_path(orphan).read_bytes() == b"an earlier render's manifest"

    argv = render_argv(inputs, weights, orphan, "--codec", "ffv1", "--overwrite", "--no-provenance")
    assert run_cli(argv, capsys).code == 0
    assert orphan.is_file() and not sidecar_path(orphan).exists()


def test_a_render_that_cannot_be_signed_is_removed_and_recorded_nowhere(
    tmp_path, inputs, weights, drawn_faces, capsys, monkeypatch
):
    from keydub.core.provenance import rendered

    def refused(output, facts):
        raise ProvenanceError("c2pa refused the signing certificate: expired")

    monkeypatch.setattr(rendered, "sign_output", refused)
    output = tmp_path / "unsignable.mov"
    outcome = run_cli(render_argv(inputs, weights, output, "--codec", "prores"), capsys)
    assert outcome.code == 1
    assert outcome.stderr.strip().splitlines()[-1] == (
        "Error: c2pa refused the signing certificate: expired; the render unsignable.mov was removed so that no copy "
        "goes without its Content Credentials (render again, or with --no-provenance)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no render, no usage record


def test_require_consent_refuses_a_render_without_one_before_any_work(tmp_path, inputs, weights, capsys):
    output = tmp_path / "out.mov"

    refused = run_cli(render_argv(inputs, weights, output, "--require-consent"), capsys)

    assert refused.code == 1 and refused.stderr.count("\n") == 1
    assert refused.stderr.startswith(
        "Error: consent is required and 1 face(s) have no consent reference: shot_010.mov (the largest face, "
        "no character named)"
    )
    assert sorted(tmp_path.iterdir()) == []  # no render, no usage record


def test_timeline_require_consent_refuses_the_shots_without_one_naming_each(tmp_path, capsys):
    fixture = write_three_clip_timeline(tmp_path, durations=(4, 3, 5))
    out_dir = tmp_path / "renders"
    argv = ["timeline", fixture.path, "--dub-track", "DX es-419", "--out-dir", out_dir, "--require-consent"]

    refused = run_cli(argv, capsys)

    assert refused.code == 1 and refused.stderr.count("\n") == 1
    assert "3 face(s) have no consent reference: sh010 (the largest face, no character named), sh020 (" in (
        refused.stderr
    )
    assert not [path for path in out_dir.rglob("*") if path.suffix in (".mov", ".mkv", ".jsonl")]


def test_a_batch_signs_each_render_in_place_and_the_timeline_and_markers_name_its_credentials(tmp_path, weights):
    fixture = write_three_clip_timeline(tmp_path, durations=(4, 3, 5), size=(WIDTH, HEIGHT))
    out_dir = tmp_path / "renders"
    options = PlanOptions(
        dub_tracks=("DX es-419",),
        handles=1,
        render_options={"codec": "ffv1", "device": "cpu", "landmark_backend": "dlib", **tiny_weight_options(weights)},
    )

    run = render_timeline(
        fixture.path, out_dir, tmp_path / "out.otio", options, executor=InProcessExecutor(TinyEngine())
    )

    clips = list(run.timeline.tracks[1].find_clips())
    assert len(clips) == 3
    lines = {line["output"]: line for line in usage_lines(out_dir)}
    for clip in clips:
        output = Path(clip.media_reference.target_url)
        credential = verify_credential(output)  # the sidecar was placed with the render
        assert credential.sidecar == sidecar_path(output) and credential.binds_file
        metadata = clip.metadata[METADATA_KEY]
        assert (metadata["manifest_id"], metadata["label"]) == (credential.manifest_id, DISCLOSURE_LABEL)
        assert clip.markers[0].comment.startswith(f"{DISCLOSURE_LABEL}; face coverage 100.0%")
        # The record names the render where it was placed, not where it was staged.
        assert lines[str(output)]["manifest_id"] == credential.manifest_id
    assert len(lines) == 3
    assert not [path for path in (out_dir / ".keydub").rglob("*") if path.suffix in (".mkv", ".c2pa", ".jsonl")]


# A batch of real renders into one folder, one after the other, until killed.
BATCH = textwrap.dedent(
    """
    import itertools, sys
    from pathlib import Path
    from face_fixtures import DrawnFaceBackend
    from test_provenance_render import FACE, HEIGHT, WIDTH
    from keydub.core.engine import Engine
    from keydub.core.render import RenderOptions, RenderRequest

    clip, dub, folder, weights = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
    engine = Engine(landmark_backends={"dlib": DrawnFaceBackend(lambda index: FACE, (HEIGHT, WIDTH))})
    options = RenderOptions(
        codec="prores", device="cpu", landmark_backend="dlib", weights=str(weights / "keysync"),
        vae=str(weights / "vae"), hubert=str(weights / "hubert"), wavlm=str(weights / "wavlm"),
    )
    for number in itertools.count():
        output = folder / f"take_{number:03d}.mov"
        engine.render(RenderRequest(video=clip, audio=dub, output=output, options=options, consent=f"rel-{number}"))
    """
)


def test_sigkill_in_the_middle_of_a_batch_of_renders_leaves_one_whole_line_per_finished_render(
    tmp_path, inputs, weights
):
    clip, dub = inputs
    folder = tmp_path / "batch"
    folder.mkdir()
    tests = Path(__file__).parent
    batch = subprocess.Popen(
        [sys.executable, "-c", BATCH, clip, dub, folder, weights["keysync"].parent],
        cwd=tests,
        env={**os.environ, "PYTHONPATH": str(tests)},
    )
    log = usage_log_path(folder)
    deadline = time.monotonic() + 300
    # Killed in the middle of the third render, or of whatever it is doing once two are recorded.
    while (not log.exists() or log.read_bytes().count(b"\n") < 2) and time.monotonic() < deadline:
        assert batch.poll() is None, "the batch stopped by itself"
        time.sleep(0.01)
    time.sleep(0.3)
    os.kill(batch.pid, signal.SIGKILL)
    assert batch.wait(timeout=30) == -signal.SIGKILL

    data = log.read_bytes()
    assert data.endswith(b"\n")
    lines = usage_lines(folder)  # every line whole
    assert len(lines) >= 2
    assert [line["faces"][0]["consent"] for line in lines] == [f"rel-{number}" for number in range(len(lines))]
    for line in lines:  # each recorded render is in place and signed
        assert verify_credential(Path(line["output"])).manifest_id == line["manifest_id"]
