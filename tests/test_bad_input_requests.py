"""Class 8 of the bad-input issue: a request that cannot be honoured is refused, never silently ignored.

Keeping the source's sound on a clip that has none used to succeed with a silent output; it is refused before the
landmarks or the model are touched.
"""

from pathlib import Path

import pytest
from bad_input import assert_refused, run_cli, snapshot, write_wav
from media_fixtures import make_test_clip, sine


@pytest.fixture
def untouched(monkeypatch) -> list[str]:
    """The landmark and model loaders, recording any call."""
    reached: list[str] = []
    for target in ("keydub.core.faces.get_landmark_backend", "keydub.core.render.path.load_pipeline"):
        monkeypatch.setattr(target, lambda *args, _name=target, **kwargs: reached.append(_name) or 1 / 0)
    return reached


@pytest.mark.parametrize("codec", ["ffv1", "h264"])
def test_keeping_the_sound_of_a_silent_clip_is_refused_before_any_model_work(tmp_path, capsys, untouched, codec):
    make_test_clip(tmp_path / "mute.mkv", frame_count=3, codec=codec)
    write_wav(tmp_path / "dub.wav")
    before = snapshot(tmp_path)
    outcome = run_cli(
        [
            "render",
            tmp_path / "mute.mkv",
            "--audio",
            tmp_path / "dub.wav",
            "-o",
            tmp_path / "out.mkv",
            "--codec",
            "ffv1",
            "--keep-source-audio",
            "--device",
            "cpu",
        ],
        capsys,
    )
    assert_refused(outcome, tmp_path, before, "--keep-source-audio", "mute.mkv has no sound to keep")
    assert untouched == []


def test_a_clip_with_sound_passes_the_check(tmp_path):
    from keydub.core.render.options import RenderOptions
    from keydub.core.render.path import check_request
    from keydub.core.render.request import RenderRequest

    clip = make_test_clip(tmp_path / "talk.mkv", frame_count=3, audio_rate=16000, audio=sine())
    dub = write_wav(tmp_path / "dub.wav")
    options = RenderOptions(keep_source_audio=True, codec="ffv1")
    checked = check_request(RenderRequest(video=clip, audio=dub, output=tmp_path / "out.mkv", options=options))
    assert checked.frames == (0, 3) and checked.info.audio_streams
    assert sorted(path.name for path in Path(tmp_path).iterdir()) == ["dub.wav", "talk.mkv"]
