"""`RenderOptions` is the one declaration: the CLI flags, job checks, per-clip params and panel fields all derive
from its fields; the registries are the only vocabularies; the job hash of unchanged options never moves."""

import ast
import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from keydub.core.errors import InvalidParameterError
from keydub.core.render.options import option_specs
from keydub.plugin.cli._render_options import option_flag, options_from_args
from keydub.plugin.cli.main import build_parser
from keydub.plugin.jobs import AudioPiece, ClipJob, SourceFile
from keydub.plugin.panel.options import HANDLES_FIELD, options_from_fields, setting_fields
from keydub.plugin.timeline.clips import PER_CLIP_PARAMS


FIELDS = set(option_specs())
ROOT = Path(__file__).resolve().parents[1]


def _flags(command: list[str]) -> set[str]:
    parser = build_parser()
    for word in command:
        parser = next(a for a in parser._actions if a.dest in ("command", "eval_command")).choices[word]
    return {option for action in parser._actions for option in action.option_strings}


@pytest.mark.parametrize("command", [["render"], ["timeline"], ["eval", "leak"], ["eval", "protocol"]])
def test_every_rendering_command_has_one_flag_per_option(command):
    flags = _flags(command)
    assert {option_flag(name) for name in FIELDS} <= flags
    # A switch on by default is the flag that turns it off; one off by default, the flag that turns it on.
    assert {"--no-provenance", "--keep-source-audio"} <= flags and "--provenance" not in flags


def test_a_switch_flag_sets_its_option_over_its_default():
    parser = build_parser()
    assert options_from_args(parser.parse_args(["render", "a.mov", "--audio", "b.wav", "-o", "c.mov"])).provenance
    args = parser.parse_args(["render", "a.mov", "--audio", "b.wav", "-o", "c.mov", "--no-provenance"])
    assert options_from_args(args).provenance is False


def test_cli_flags_job_checks_panel_fields_and_per_clip_params_all_come_from_the_fields():
    assert {option_flag(name) for name in FIELDS} <= _flags(["render"])
    assert set(setting_fields()) - {HANDLES_FIELD} == FIELDS
    assert PER_CLIP_PARAMS == {name for name, spec in option_specs().items() if spec.is_per_clip}
    # A job checks every option: an arbitrary object is refused for each, naming the option.
    for name in FIELDS:
        with pytest.raises(InvalidParameterError, match=f"job 'x': {name} must be"):
            job(options={name: object()}, job_id="x")
    assert "feather" in FIELDS and "feather" in PER_CLIP_PARAMS


@pytest.mark.parametrize(
    "options, message",
    [
        ({"steps": 9}, "job 'j': steps must be a whole number from 10 to 1000, not 9"),
        ({"steps": True}, "job 'j': steps must be a whole number from 10 to 1000, not True"),
        ({"codec": "dnxhd"}, "job 'j': codec must be prores, h264 or ffv1, not 'dnxhd'"),
        ({"audio_guidance": float("nan")}, "job 'j': audio_guidance must be a number from -100 to 100, not nan"),
        ({"identity": "middle"}, "job 'j': identity must be first or auto or a whole number >= 0, not 'middle'"),
        ({"dtype": "fp8"}, "job 'j': dtype must be auto, float32, bfloat16 or float16, not 'fp8'"),
        ({"feather": -1}, "job 'j': feather must be a number from 0 to 128, not -1"),
        ({"seed": 10**400}, "job 'j': seed must be a whole number from 0 to 18446744073709551615, not 1000"),
        ({"speed": 2}, "job 'j': unknown option(s) speed; known options: weights, vae,"),
    ],
)
def test_bad_options_are_named_in_the_error(options, message):
    with pytest.raises(InvalidParameterError) as raised:
        job(options=options)
    assert str(raised.value).startswith(message)


def test_the_panel_reads_a_field_as_the_command_line_reads_its_flag():
    options, handles = options_from_fields({"steps": "12", "feather": "24", "keep_source_audio": "true"})
    assert (options.steps, options.feather, options.keep_source_audio, handles) == (12, 24.0, True, 12)
    with pytest.raises(InvalidParameterError, match="--steps: 5 is out of range: allowed 10 to 1000"):
        options_from_fields({"steps": "5"})


def job(options, job_id="j") -> ClipJob:
    return ClipJob(
        job_id=job_id,
        name="sh010",
        source=SourceFile(Path("/media/a.mov"), 1234, 5678),
        frame_rate=Fraction(24000, 1001),
        start_frame=10,
        end_frame=60,
        timecode_start=86410,
        audio_pieces=(AudioPiece(Path("/media/dub.wav"), Fraction(1, 2), Fraction(2), Fraction(0), "DX"),),
        audio_file=Path("/out/audio/x.wav"),
        audio_sha256="ab" * 32,
        audio_sample_rate=16000,
        options=options,
    )


# The options dicts every job of the first format held (the command line and the panel wrote them all), and the
# hashes the code of that format gave them: a finished render must not be redone after an upgrade.
FIRST_FORMAT = {
    "weights": None,
    "vae": None,
    "hubert": None,
    "wavlm": None,
    "device": "auto",
    "dtype": "auto",
    "steps": 10,
    "audio_guidance": 5.0,
    "ref_guidance": 2.0,
    "seed": 0,
    "identity": "first",
    "codec": "prores",
    "keep_source_audio": False,
    "landmark_backend": "face-alignment",
}
CUSTOM = {**FIRST_FORMAT, "steps": 12, "seed": 7, "codec": "ffv1", "device": "cuda", "identity": 3}


@pytest.mark.parametrize(
    "options, content_hash",
    [
        (FIRST_FORMAT, "ee0e0ffc83734f1bd7e6190b06eaae77172ed009dbf800e6ba481904dffd0ada"),
        ({**CUSTOM, "audio_guidance": 4.5}, "373c7ef9198ffea581f96003cc2f456fc8ca529d76a677039f4dd18a17e97f28"),
    ],
)
def test_a_first_format_job_keeps_its_hash_and_loads_from_its_json(options, content_hash):
    old = job(options)
    assert old.content_hash() == content_hash
    assert old.output_name() == f"sh010_{content_hash[:12]}{'.mkv' if options['codec'] == 'ffv1' else '.mov'}"
    # Its stored JSON (options as a plain dict, without the options added since) reads back to the same job.
    stored = json.loads(json.dumps({**old.to_dict(), "options": options}))
    assert ClipJob.from_dict(stored) == old and ClipJob.from_dict(stored).content_hash() == content_hash


def test_an_option_added_later_enters_the_hash_only_away_from_its_default():
    base = job(FIRST_FORMAT)
    assert job({**FIRST_FORMAT, "feather": 16.0}).content_hash() == base.content_hash()
    assert job({**FIRST_FORMAT, "feather": 24.0}).content_hash() != base.content_hash()
    # Only the options of the first format are hashed at their default: a new one must say it is not.
    assert {name for name, spec in option_specs().items() if spec.is_hashed_at_default} == set(FIRST_FORMAT)
    # Output-neutral: where a render runs never changes what it writes.
    assert job({**FIRST_FORMAT, "device": "cpu"}).content_hash() == base.content_hash()


# Where each vocabulary is declared; no other module may spell two or more of its names in one list.
REGISTRIES = {
    "codecs": ({"prores", "h264", "ffv1"}, {"core/codecs.py"}),
    "landmark backends": ({"face-alignment", "dlib"}, {"core/face_backends.py"}),
    "dtypes": ({"float32", "bfloat16", "float16"}, {"core/devices.py"}),
}


def test_no_module_outside_the_registries_spells_a_codec_backend_or_dtype_list():
    found = []
    for path in sorted(p for folder in ("core", "plugin", "ui") for p in (ROOT / folder).rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, (ast.Tuple, ast.List, ast.Set, ast.Dict)):
                continue
            items = node.keys if isinstance(node, ast.Dict) else node.elts
            words = {item.value for item in items if isinstance(item, ast.Constant) and isinstance(item.value, str)}
            for vocabulary, (names, homes) in REGISTRIES.items():
                if len(words & names) >= 2 and relative not in homes:
                    found.append(f"{relative}:{node.lineno} spells the {vocabulary}")
    assert found == []


def test_the_command_line_and_the_registries_load_without_the_engine():
    """`keydub --help` builds every command's flags from the registries and `RenderOptions`; none loads torch."""
    code = (
        "import sys; from keydub.plugin.cli.main import build_parser; build_parser(); "
        "print(sorted(name for name in ('torch', 'diffusers', 'transformers', 'PySide6') if name in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert loaded.stdout.strip() == "[]"
