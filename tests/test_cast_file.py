"""`cast.toml` round trip, hostile and malformed files refused with one line, and the cast in OTIO metadata."""

import copy
from pathlib import Path

import opentimelineio as otio
import pytest

from keydub.core.errors import InvalidParameterError, OutputExistsError
from keydub.plugin.cast import (
    Cast,
    Character,
    ReferenceFace,
    cast_from_timeline,
    read_cast,
    timeline_with_cast,
    write_cast,
)
from keydub.plugin.cli.main import main


def sample_cast(folder: Path) -> Cast:
    return Cast(
        characters=(
            Character(
                name="Anna",
                dub_track="DX es ANNA",
                references=(
                    ReferenceFace(clip=folder / "media" / "A001.mov", frame=120, point=(640.0, 360.5)),
                    ReferenceFace(image=folder / "refs" / "anna.png"),
                ),
            ),
            Character(name='Bob "the Boss" Müller', consent="Release #12 (signed 2026-03-02), «Müller»"),
        ),
        match_distance=0.55,
    )


def test_a_cast_round_trips_with_paths_relative_to_its_file(tmp_path):
    cast = sample_cast(tmp_path)

    path = write_cast(cast, tmp_path / "cast.toml")

    text = path.read_text(encoding="utf-8")
    assert 'clip = "media/A001.mov"' in text and 'image = "refs/anna.png"' in text
    assert 'name = "Bob \\"the Boss\\" Müller"' in text
    assert 'consent = "Release #12 (signed 2026-03-02), «Müller»"' in text
    assert read_cast(path) == cast
    with pytest.raises(OutputExistsError):
        write_cast(cast, path)


def test_the_cast_travels_in_timeline_metadata_without_changing_the_input(tmp_path):
    timeline = otio.schema.Timeline(name="ep101", metadata={"keydub": {"id": "ep101"}, "Resolve_OTIO": {"a": 1}})
    before = otio.adapters.write_to_string(timeline)
    cast = sample_cast(tmp_path)

    result = timeline_with_cast(timeline, cast)

    assert otio.adapters.write_to_string(timeline) == before
    assert result.metadata["keydub"]["id"] == "ep101" and result.metadata["Resolve_OTIO"]["a"] == 1
    # Absolute paths: an output timeline is opened from anywhere. Through JSON and back, the cast is the same.
    assert result.metadata["keydub"]["cast"]["character"][0]["reference"][0]["clip"] == str(
        tmp_path / "media/A001.mov"
    )
    reread = otio.adapters.read_from_string(otio.adapters.write_to_string(result))
    assert cast_from_timeline(reread, Path("/elsewhere")) == cast
    assert cast_from_timeline(timeline, tmp_path) is None


def test_bad_cast_metadata_on_a_timeline_is_refused_like_a_bad_file(tmp_path):
    timeline = otio.schema.Timeline(name="ep101", metadata={"keydub": {"cast": {"character": [{"name": 3}]}}})
    with pytest.raises(InvalidParameterError, match="the cast in timeline 'ep101'.s metadata: character #1 name is 3"):
        cast_from_timeline(timeline, tmp_path)


HOSTILE = {
    "not TOML": ("name = [unclosed", "is not valid TOML: "),
    "binary": (b"\xff\xfe\x00garbage", "is not UTF-8 text"),
    "a future version": ("version = 2", "version is 2; this Keydub reads version 1"),
    "an unknown key": ('version = 1\nrun = "rm -rf /"', "the document has unknown key(s) 'run'"),
    "characters as a table": ('[character]\nname = "A"', "character is a dict; write it as [[character]] tables"),
    "a nameless character": ("[[character]]\ndub_track = 'DX'", "character #1 name is None; give a non-empty text"),
    "a blank name": ('[[character]]\nname = "   "', "character #1 name is '   '; give a non-empty text"),
    "a name with control characters": (
        '[[character]]\nname = "Anna\\u001b[31m"',
        "character #1 name 'Anna\\x1b[31m' holds control or invisible characters",
    ),
    "a huge name": (f'[[character]]\nname = "{"A" * 500}"', "is 500 characters long; at most 100 are allowed"),
    "two Annas": ('[[character]]\nname = "Anna"\n[[character]]\nname = "ANNA"', "has the same name as 'Anna'"),
    "an unknown model": ('recognition = "arcface"', "recognition is 'arcface', not one of dlib-resnet"),
    "a negative distance": ("match_distance = -1", "match_distance is -1; give a number between 0 and 10"),
    "a NaN distance": ("match_distance = nan", "match_distance is nan"),
    "a boolean frame": (
        '[[character]]\nname = "A"\n[[character.reference]]\nclip = "a.mov"\nframe = true\npoint = [1, 2]',
        "character 'A' reference #1 frame is True",
    ),
    "a negative frame": (
        '[[character]]\nname = "A"\n[[character.reference]]\nclip = "a.mov"\nframe = -5\npoint = [1, 2]',
        "frame is -5; give the clip file's frame as a whole number from 0",
    ),
    "a point of three numbers": (
        '[[character]]\nname = "A"\n[[character.reference]]\nclip = "a.mov"\nframe = 1\npoint = [1, 2, 3]',
        "point is [1, 2, 3]; give [x, y] in source pixels",
    ),
    "an infinite point": (
        '[[character]]\nname = "A"\n[[character.reference]]\nclip = "a.mov"\nframe = 1\npoint = [inf, 2]',
        "point is [inf, 2]",
    ),
    "a click without its frame": (
        '[[character]]\nname = "A"\n[[character.reference]]\nclip = "a.mov"\npoint = [1, 2]',
        "reference #1 has no frame; a click needs clip, frame and point (or an image)",
    ),
    "an image and a click": (
        '[[character]]\nname = "A"\n[[character.reference]]\nimage = "a.png"\nclip = "a.mov"',
        "has an image and clip/frame/point; give either an image or a click, not both",
    ),
    "a NUL in a path": (
        '[[character]]\nname = "A"\n[[character.reference]]\nimage = "a\\u0000.png"',
        "image is not a usable path (too long, or holds a NUL character)",
    ),
    "too many characters": ("".join(f'[[character]]\nname = "C{i}"\n' for i in range(1001)), "has 1001 entries"),
    "a consent that is a number": ('[[character]]\nname = "A"\nconsent = 42', "character 'A' consent is 42"),
    "a blank consent": ('[[character]]\nname = "A"\nconsent = ""', "character 'A' consent is ''; give a non-empty"),
    "a consent as a table": (
        '[[character]]\nname = "A"\n[character.consent]\nfile = "release.pdf"',
        "character 'A' consent is {'file': 'release.pdf'}; give a non-empty text",
    ),
    "a consent that hides text": (
        '[[character]]\nname = "A"\nconsent = "release 12\\u202egpj.exe"',
        "consent 'release 12\\u202egpj.exe' holds control or invisible characters",
    ),
    "a contract pasted as consent": (
        f'[[character]]\nname = "A"\nconsent = "{"x" * 501}"',
        "character 'A' consent is 501 characters long; at most 500 are allowed",
    ),
    "a reference that is a string": (
        '[[character]]\nname = "A"\nreference = "anna.png"',
        "character 'A' reference is a str; write it as [[reference]] tables",
    ),
}


@pytest.mark.parametrize("content, message", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_cast_files_are_refused_with_one_line_naming_the_problem(tmp_path, content, message):
    path = tmp_path / "cast.toml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())

    with pytest.raises(InvalidParameterError) as caught:
        read_cast(path)

    text = str(caught.value)
    assert message in text and text.startswith(f"cast file {path}") and "\n" not in text


def test_an_oversized_or_missing_cast_file_is_refused_before_it_is_parsed(tmp_path):
    big = tmp_path / "cast.toml"
    big.write_bytes(b"#" * (2**20 + 1))
    with pytest.raises(InvalidParameterError, match=r"is 1048577 bytes; a cast file is at most 1048576 bytes"):
        read_cast(big)
    with pytest.raises(InvalidParameterError, match="does not exist .* write one with `keydub cast suggest`"):
        read_cast(tmp_path / "none.toml")


def test_the_show_command_prints_one_error_line_for_a_bad_cast_file(tmp_path, capsys):
    (tmp_path / "cast.toml").write_text("version = 'one'")
    (tmp_path / "t.otio").write_text("{}")

    assert main(["cast", "show", str(tmp_path / "cast.toml"), str(tmp_path / "t.otio")]) == 1

    err = capsys.readouterr().err.strip().splitlines()
    problem = "version is 'one'; this Keydub reads version 1; fix it (see docs/guides/cast.md)"
    assert err == [f"Error: cast file {tmp_path / 'cast.toml'}: {problem}"]


def test_characters_are_found_by_name_whatever_the_case(tmp_path):
    cast = sample_cast(tmp_path)
    assert cast.character("anna").dub_track == "DX es ANNA"
    with pytest.raises(
        InvalidParameterError, match="the cast has no character 'Zoe'; its characters are: 'Anna', 'Bob"
    ):
        cast.character("Zoe")


def test_a_reference_is_a_click_or_an_image_never_half_of_one():
    with pytest.raises(InvalidParameterError, match="either clip \\+ frame \\+ point"):
        ReferenceFace(clip=Path("/a.mov"), frame=3)
    assert copy.deepcopy(ReferenceFace(image=Path("/a.png"))).describe() == "image a.png"
