"""Content Credentials of real renders with tiny random weights: what the manifest says, read back with c2pa's own
`Reader`; that signing leaves every encoded packet as it was; that a changed byte fails `keydub provenance verify`."""

import base64
import hashlib
import json
import shutil
import time
from pathlib import Path

import av
import c2pa
import numpy as np
import pytest
from bad_input import run_cli, write_wav
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from face_fixtures import DrawnFaceBackend, template_landmarks
from media_fixtures import make_test_clip
from tiny_models import save_tiny_weights, tiny_weight_options

from keydub.core.errors import ProvenanceError
from keydub.core.media import probe
from keydub.core.model.pipeline import KeySyncPipeline
from keydub.core.provenance import (
    DubbedFace,
    RenderFacts,
    SigningIdentity,
    local_identity,
    sidecar_path,
    sign_output,
    verify_credential,
    weight_file_hashes,
)
from keydub.core.provenance.manifest import DIGITAL_SOURCE_TYPE, DISCLOSURE_LABEL, RENDER_ASSERTION, SHA256_KEY
from keydub.core.render import RenderOptions, RenderRequest, render_clip


WIDTH, HEIGHT = 96, 80
FRAME_COUNT = 20
NO_FACE = range(5, 8)  # source frames without a face: passed through unchanged
FACE = template_landmarks(48, 36, 36)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def packets(path: Path) -> list[tuple[str, int | None, int | None, bool, bytes]]:
    """Every encoded packet of every stream, in file order: stream kind, pts, dts, keyframe flag and bytes."""
    with av.open(str(path)) as container:
        return [
            (packet.stream.type, packet.pts, packet.dts, packet.is_keyframe, bytes(packet))
            for packet in container.demux()
            if packet.size
        ]


def flip_video_byte(path: Path, frame: int = 2) -> None:
    """Invert one byte in the middle of the encoded picture of video frame `frame`, in place."""
    with av.open(str(path)) as container:
        video = [packet for packet in container.demux(video=0) if packet.size]
        position = video[frame].pos + video[frame].size // 2
    data = bytearray(path.read_bytes())
    data[position] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> dict[str, Path]:
    return save_tiny_weights(tmp_path_factory.mktemp("weights"), 64)


@pytest.fixture(scope="module")
def pipeline(weights) -> KeySyncPipeline:
    return KeySyncPipeline.from_pretrained(weights["keysync"], weights["vae"], weights["hubert"], weights["wavlm"])


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> tuple[Path, Path]:
    return prores_shot(tmp_path_factory.mktemp("inputs"), FRAME_COUNT)


def prores_shot(folder: Path, frame_count: int) -> tuple[Path, Path]:
    """A ProRes shot with timecode 01:00:00:00 and a one-second dub, the inputs of the signed renders."""
    clip = make_test_clip(
        folder / "shot_010.mov",
        codec="prores",
        width=WIDTH,
        height=HEIGHT,
        frame_count=frame_count,
        frames="noise",
        timecode="01:00:00:00",
    )
    return clip, write_wav(folder / "dub_fr.wav", 1.0)


@pytest.fixture(scope="module")
def flac_dub(tmp_path_factory) -> Path:
    """A dub whose channel layout is stated: the MP4 writer's AAC encoder refuses the unstated layout of a plain
    WAV (a limitation of the writer, not of signing)."""
    path = tmp_path_factory.mktemp("flac") / "dub_fr.flac"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("flac", rate=16000)
        stream.layout = "mono"
        tone = (8000 * np.sin(np.arange(16000) * 2 * np.pi * 220 / 16000)).astype(np.int16)[None]
        frame = av.AudioFrame.from_ndarray(tone, format="s16", layout="mono")
        frame.sample_rate = 16000
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    return path


class SignedRender:
    """One tiny-weight render with provenance off, its unsigned bytes kept aside, then signed by `sign_output`."""

    def __init__(self, folder: Path, codec: str, suffix: str, inputs, weights, pipeline) -> None:
        clip, dub = inputs
        self.output = folder / f"shot_010_dub{suffix}"
        options = RenderOptions(
            codec=codec,
            device="cpu",
            dtype="float32",
            landmark_backend="dlib",
            provenance=False,
            **tiny_weight_options(weights),
        )
        request = RenderRequest(video=clip, audio=dub, output=self.output, options=options)
        faces = DrawnFaceBackend(lambda i: None if i in NO_FACE else FACE, (HEIGHT, WIDTH))
        began = time.perf_counter()
        result = render_clip(request, landmark_backend=faces, pipeline=pipeline)
        self.render_seconds = time.perf_counter() - began
        self.unsigned = folder / f"unsigned{suffix}"
        shutil.copyfile(self.output, self.unsigned)
        self.weights = weight_file_hashes(options.weights, options.vae, options.hubert, options.wavlm)
        self.facts = RenderFacts.from_report(
            result.report, weights=self.weights, faces=(DubbedFace("ANNA", "cast-sheet-7/ANNA"),)
        )
        self.signed = sign_output(self.output, self.facts)


@pytest.fixture(scope="module")
def prores_mov(tmp_path_factory, inputs, weights, pipeline) -> SignedRender:
    return SignedRender(tmp_path_factory.mktemp("mov"), "prores", ".mov", inputs, weights, pipeline)


@pytest.fixture(scope="module")
def ffv1_mkv(tmp_path_factory, inputs, weights, pipeline) -> SignedRender:
    return SignedRender(tmp_path_factory.mktemp("mkv"), "ffv1", ".mkv", inputs, weights, pipeline)


@pytest.fixture(scope="module")
def h264_mp4(tmp_path_factory, inputs, flac_dub, weights, pipeline) -> SignedRender:
    return SignedRender(tmp_path_factory.mktemp("mp4"), "h264", ".mp4", (inputs[0], flac_dub), weights, pipeline)


def active_manifest(path: Path, manifest_data: bytes | None = None) -> tuple[dict, dict]:
    """The manifest store and its active manifest as c2pa's own `Reader` returns them."""
    with (
        open(path, "rb") as stream,
        c2pa.Reader("video/x-matroska" if manifest_data else "video/quicktime", stream, manifest_data) as reader,
    ):
        store = json.loads(reader.json())
    return store, store["manifests"][store["active_manifest"]]


def test_prores_mov_manifest_reads_back_with_c2pa_and_states_what_was_done(prores_mov, inputs, weights):
    clip, dub = inputs
    store, manifest = active_manifest(prores_mov.output)

    assert store["active_manifest"] == prores_mov.signed.manifest_id and prores_mov.signed.sidecar is None
    assert store["validation_state"] == "Valid"  # signature and hashes hold; the local signer is not trusted
    results = store["validation_results"]["activeManifest"]
    assert "assertion.bmffHash.match" in {item["code"] for item in results["success"]}
    assert [item["code"] for item in results["failure"]] == ["signingCredential.untrusted"]
    # The source clip (parent) and the dub, each with the SHA-256 of its bytes.
    ingredients = {item["relationship"]: item for item in manifest["ingredients"]}
    assert ingredients["parentOf"]["title"] == clip.name
    assert ingredients["parentOf"]["metadata"][SHA256_KEY] == sha256(clip)
    assert ingredients["componentOf"]["title"] == dub.name
    assert ingredients["componentOf"]["metadata"][SHA256_KEY] == sha256(dub)
    # Opened the source, then edited it with a trained model, on the frame ranges that had a face.
    actions = next(a for a in manifest["assertions"] if a["label"] == "c2pa.actions.v2")["data"]["actions"]
    assert [action["action"] for action in actions] == ["c2pa.opened", "c2pa.edited"]
    edited = actions[1]
    assert edited["digitalSourceType"] == DIGITAL_SOURCE_TYPE
    assert edited["description"].startswith(DISCLOSURE_LABEL)
    assert edited["softwareAgent"]["name"] == "Keydub"
    assert [change["region"][0]["frame"] for change in edited["changes"]] == [
        {"start": 0, "end": 4},
        {"start": 8, "end": FRAME_COUNT - 1},
    ]
    # The model, the SHA-256 of every weights file it loaded (hashed here independently), the sampler and seed.
    render = next(a for a in manifest["assertions"] if a["label"] == RENDER_ASSERTION)["data"]
    assert render["model"]["name"] == "KeySync"
    assert render["model"]["weights_sha256"] == independent_weight_hashes(weights)
    assert render["sampler"] == {"steps": 10, "audio_guidance": 5.0, "ref_guidance": 2.0, "seed": 0}
    assert render["frames"]["passed_through"] == [{"first": 5, "last": 7, "reason": "no face"}]
    assert render["frames"]["source_range"] == {"first": 0, "last": FRAME_COUNT - 1}
    # Nothing private travels with the file: no folder and no character name.
    text = json.dumps(manifest)
    assert str(clip.parent) not in text and "ANNA" not in text


def independent_weight_hashes(weights: dict[str, Path]) -> dict[str, str]:
    """What the tiny weights' loaders read, hashed without Keydub: every file of each converted KeySync model, and
    each model folder's config and weights file."""
    expected = {}
    for kind in ("keyframe", "interpolation"):
        folder = weights["keysync"] / kind
        for path in folder.rglob("*"):
            if path.is_file():
                expected[f"{kind}/{path.relative_to(folder).as_posix()}"] = sha256(path)
    for name in ("vae", "hubert", "wavlm"):
        for path in [weights[name] / "config.json", *weights[name].glob("*.safetensors")]:
            expected[f"{name}/{path.name}"] = sha256(path)
    return expected


@pytest.mark.parametrize("render", ["prores_mov", "h264_mp4"])
def test_embedding_rewrites_no_packet_and_keeps_what_an_editor_reads(render, request):
    signed = request.getfixturevalue(render)

    assert packets(signed.output) == packets(signed.unsigned)
    before, after = probe(signed.unsigned), probe(signed.output)
    assert (after.frame_count, after.frame_rate, after.width, after.height) == (
        before.frame_count,
        before.frame_rate,
        before.width,
        before.height,
    )
    assert after.start_timecode == before.start_timecode == "01:00:00:00"
    assert signed.output.stat().st_size > signed.unsigned.stat().st_size  # the manifest is in the file
    assert not [path for path in signed.output.parent.iterdir() if ".partial" in path.name]


def test_one_changed_byte_of_a_video_frame_fails_verify_with_one_line(prores_mov, tmp_path, capsys):
    assert run_cli(["provenance", "verify", prores_mov.output], capsys).code == 0
    tampered = tmp_path / prores_mov.output.name
    shutil.copyfile(prores_mov.output, tampered)
    flip_video_byte(tampered)

    outcome = run_cli(["provenance", "verify", tampered], capsys)

    assert outcome.code == 1 and outcome.stdout == ""
    assert outcome.stderr.count("\n") == 1
    assert outcome.stderr.startswith(f"Error: {tampered} changed after it was signed")
    assert "bmffHash.mismatch" in outcome.stderr


def test_ffv1_mkv_gets_a_sidecar_that_binds_the_hash_of_the_untouched_file(ffv1_mkv, tmp_path, capsys):
    sidecar = sidecar_path(ffv1_mkv.output)
    assert ffv1_mkv.signed.sidecar == sidecar and sidecar.name == "shot_010_dub.c2pa"
    assert sha256(ffv1_mkv.output) == sha256(ffv1_mkv.unsigned)  # the render itself is not rewritten
    with (
        open(ffv1_mkv.output, "rb") as stream,
        c2pa.Reader("video/x-matroska", stream, sidecar.read_bytes()) as reader,
    ):
        assert reader.get_validation_state() == "Valid"
        store = json.loads(reader.detailed_json())
    bound = store["manifests"][store["active_manifest"]]["assertion_store"]["c2pa.hash.data"]
    assert bound["alg"] == "sha256"
    assert base64.b64decode(bound["hash"]).hex() == sha256(ffv1_mkv.output)
    assert verify_credential(ffv1_mkv.output).sidecar == sidecar

    tampered = tmp_path / ffv1_mkv.output.name
    shutil.copyfile(ffv1_mkv.output, tampered)
    shutil.copyfile(sidecar, sidecar_path(tampered))
    flip_video_byte(tampered)
    outcome = run_cli(["provenance", "verify", tampered], capsys)
    assert outcome.code == 1 and "dataHash.mismatch" in outcome.stderr and outcome.stderr.count("\n") == 1


def test_show_prints_the_manifest_and_labels_the_local_identity_untrusted(prores_mov, capsys):
    outcome = run_cli(["provenance", "show", prores_mov.output], capsys)

    assert outcome.code == 0
    lines = outcome.stdout.splitlines()
    assert f"  manifest:   {prores_mov.signed.manifest_id} (embedded)" in lines
    assert "  validation: Valid; binds this file: yes" in lines
    assert any(
        line.startswith("  signed by:  Keydub local identity") and "untrusted: local Keydub identity" in line
        for line in lines
    )
    assert "  frames:     source 0-19 at 25 fps; regenerated 0-4, 8-19" in lines
    assert "              passed through 5-7: no face" in lines
    report = json.loads(run_cli(["provenance", "show", prores_mov.output, "--json"], capsys).stdout)
    assert report["state"] == "Valid" and report["binds_file"] and report["sidecar"] is None
    assert {item["sha256"] for item in report["ingredients"]} == {
        prores_mov.facts.source.sha256,
        prores_mov.facts.dubs[0].sha256,
    }


def test_signing_costs_a_small_part_of_the_render(prores_mov, ffv1_mkv):
    # Signing reads the output once (and writes it once when embedding): milliseconds against the model's seconds.
    for signed in (prores_mov, ffv1_mkv):
        assert signed.signed.seconds < signed.render_seconds / 10


def test_a_refused_signature_leaves_the_output_as_it_was(prores_mov, tmp_path):
    output = tmp_path / "again.mov"
    shutil.copyfile(prores_mov.unsigned, output)
    identity = local_identity()
    # Another key than the certificate's: the signature c2pa makes with it does not verify, so it refuses it.
    stranger = tmp_path / "stranger.pem"
    stranger.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    stranger.chmod(0o600)
    mismatched = SigningIdentity(identity.certificate_chain, stranger, identity.algorithm, is_local=True)

    with pytest.raises(ProvenanceError, match=r"c2pa could not sign .*again\.mov .*carries no Content Credentials"):
        sign_output(output, prores_mov.facts, mismatched)

    assert sha256(output) == sha256(prores_mov.unsigned)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["again.mov", "stranger.pem"]
