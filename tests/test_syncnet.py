"""SyncNet: layer shapes, checkpoint loading, the offset search and LSE formulas, the 25 fps face crops."""

import zipfile
from collections import OrderedDict
from fractions import Fraction

import numpy as np
import pytest
import torch

from keydub.core.errors import CheckpointConversionError, InvalidParameterError, NoFaceFoundError, WeightsNotFoundError
from keydub.core.metrics.crops import crop_boxes, cut_crop, syncnet_face_crops, syncnet_frame_indices
from keydub.core.metrics.syncnet import (
    SyncNet,
    SyncNetScorer,
    load_syncnet,
    offset_distances,
    sync_score,
    syncnet_mfcc,
)


@pytest.fixture(scope="module")
def syncnet() -> SyncNet:
    torch.manual_seed(0)
    model = SyncNet().eval()
    # Random running statistics, so that BatchNorm does something and a wrong load would show.
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return model


def test_layer_shapes_match_syncnet_v2(syncnet):
    state = syncnet.state_dict()
    assert state["netcnnlip.0.weight"].shape == (96, 3, 5, 7, 7)
    assert state["netcnnlip.18.weight"].shape == (512, 256, 1, 6, 6)
    assert state["netcnnaud.0.weight"].shape == (64, 1, 3, 3)
    assert state["netcnnaud.18.weight"].shape == (512, 256, 5, 4)
    assert state["netfclip.3.weight"].shape == state["netfcaud.3.weight"].shape == (1024, 512)
    assert sum(parameter.numel() for parameter in syncnet.parameters()) == 13_631_616
    with torch.no_grad():
        assert syncnet.netcnnlip(torch.zeros(1, 3, 5, 224, 224)).shape == (1, 512, 1, 1, 1)
        assert syncnet.netcnnaud(torch.zeros(1, 1, 13, 20)).shape == (1, 512, 1, 1)
        assert syncnet.embed_lips(torch.zeros(2, 3, 5, 224, 224)).shape == (2, 1024)
        assert syncnet.embed_audio(torch.zeros(2, 1, 13, 20)).shape == (2, 1024)


def test_offset_distances_and_scores_by_hand():
    lips = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    audio = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    distances = offset_distances(lips, audio, max_offset=1)
    # [i, k] = |lips[i] - audio[i + k - 1]|, audio outside 0..2 is a zero vector.
    expected = [[0.0, 0.0, 1.0], [1.0, 0.0, np.sqrt(5)], [np.sqrt(2), 1.0, 1.0]]
    np.testing.assert_allclose(distances.numpy(), expected, atol=1e-5)
    score = sync_score(distances)
    curve = [(1 + np.sqrt(2)) / 3, 1 / 3, (2 + np.sqrt(5)) / 3]
    np.testing.assert_allclose(score.mean_distances, curve, atol=1e-5)
    assert score.lse_d == pytest.approx(1 / 3, abs=1e-5)
    assert score.lse_c == pytest.approx(curve[0] - 1 / 3, abs=1e-5)  # median of the 3 is curve[0]
    assert score.offset == 0 and score.windows == 3


def test_offset_points_at_the_shift_of_the_audio():
    generator = torch.Generator().manual_seed(1)
    lips = torch.randn(20, 8, generator=generator)
    audio = torch.roll(lips, shifts=2, dims=0)  # the sound of lip window i comes 2 windows later
    score = sync_score(offset_distances(lips, audio, max_offset=5))
    assert score.offset == -2
    assert len(score.mean_distances) == 11
    assert score.lse_d == pytest.approx(min(score.mean_distances))
    assert score.lse_d < 0.5 * np.median(score.mean_distances)


def test_sync_score_on_a_given_matrix():
    matrix = np.array([[4.0, 2.0, 3.0, 9.0, 5.0], [6.0, 4.0, 1.0, 7.0, 5.0]])  # curve 5, 3, 2, 8, 5
    score = sync_score(matrix)
    assert score.mean_distances == (5.0, 3.0, 2.0, 8.0, 5.0)
    assert (score.lse_d, score.lse_c, score.offset) == (2.0, 3.0, 0)  # median 5 - min 2
    with pytest.raises(InvalidParameterError, match="2 \\* max_offset \\+ 1"):
        sync_score(np.ones((3, 4)))


@pytest.fixture(scope="module")
def small_syncnet() -> SyncNet:
    torch.manual_seed(0)
    return SyncNet(embedding_dim=64, channel_divisor=16).eval()


def test_small_syncnet_keeps_the_input_sizes(small_syncnet):
    state = small_syncnet.state_dict()
    assert state["netcnnlip.0.weight"].shape == (6, 3, 5, 7, 7)  # 3 colours in, 96 / 16 out
    assert state["netcnnaud.18.weight"].shape == (32, 16, 5, 4)
    with torch.no_grad():
        assert small_syncnet.embed_lips(torch.zeros(2, 3, 5, 224, 224)).shape == (2, 64)
        assert small_syncnet.embed_audio(torch.zeros(2, 1, 13, 20)).shape == (2, 64)
    with pytest.raises(InvalidParameterError, match="divisor of 96"):
        SyncNet(channel_divisor=5)


def test_small_syncnet_saves_and_loads(small_syncnet, tmp_path):
    torch.save(small_syncnet.state_dict(), tmp_path / "small.model")
    loaded = load_syncnet(tmp_path / "small.model")
    probe = torch.randn(2, 1, 13, 20)
    with torch.no_grad():
        torch.testing.assert_close(loaded.embed_audio(probe), small_syncnet.embed_audio(probe))


def test_scorer_windows_follow_the_release(small_syncnet, caplog):
    syncnet = small_syncnet
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, size=(9, 224, 224, 3), dtype=np.uint8)
    waveform = (0.3 * rng.standard_normal(9 * 640 + 100)).astype(np.float32)
    score = SyncNetScorer(syncnet, batch_size=3, max_offset=2).score(crops, waveform)
    # 4 windows for 5 shifts: the score is computed, with a warning that it means little.
    assert "only 4 SyncNet windows (9 frames at 25 fps) for 5 audio shifts" in caplog.text
    caplog.clear()
    SyncNetScorer(syncnet, batch_size=3, max_offset=1).score(crops, waveform)
    assert "SyncNet windows" not in caplog.text
    # By hand: 9 frames -> windows at frames 0..3, lips = frames s..s+4 in BGR, audio = MFCC columns 4s..4s+19.
    features = torch.from_numpy(syncnet_mfcc(waveform[: 9 * 640]))
    assert features.shape == (13, 4 * 9 - 1)
    with torch.no_grad():
        lips = syncnet.embed_lips(
            torch.stack(
                [torch.from_numpy(crops[s : s + 5, :, :, ::-1].copy()).permute(3, 0, 1, 2).float() for s in range(4)]
            )
        )
        audio = syncnet.embed_audio(torch.stack([features[None, :, 4 * s : 4 * s + 20] for s in range(4)]))
    expected = sync_score(offset_distances(lips, audio, max_offset=2))
    assert score.windows == 4
    np.testing.assert_allclose(score.mean_distances, expected.mean_distances, rtol=1e-5)
    assert score.offset == expected.offset


def test_scorer_refuses_too_short_clips(small_syncnet):
    syncnet = small_syncnet
    with pytest.raises(InvalidParameterError, match="at least 6 frames"):
        SyncNetScorer(syncnet).score(np.zeros((5, 224, 224, 3), np.uint8), np.zeros(16000, np.float32))
    with pytest.raises(InvalidParameterError, match="expected \\(frames, 224, 224, 3\\)"):
        SyncNetScorer(syncnet).score(np.zeros((8, 112, 112, 3), np.uint8), np.zeros(16000, np.float32))


def test_load_state_dict_safetensors_and_wrapper_prefix(syncnet, tmp_path):
    from safetensors.torch import save_file

    state = syncnet.state_dict()
    torch.save(state, tmp_path / "syncnet_v2.model")
    save_file({key: value.contiguous() for key, value in state.items()}, tmp_path / "syncnet_v2.safetensors")
    # Saved through the release's wrapper, by a PyTorch older than BatchNorm step counters and the zip format
    # (the release dates from 2017), as an OrderedDict like any `state_dict()`.
    torch.save(
        OrderedDict((f"__S__.{key}", value) for key, value in state.items() if "num_batches" not in key),
        tmp_path / "old.model",
        _use_new_zipfile_serialization=False,
    )
    assert not zipfile.is_zipfile(tmp_path / "old.model")
    probe = torch.randn(1, 1, 13, 20)
    with torch.no_grad():
        reference = syncnet.embed_audio(probe)
        for name in ("syncnet_v2.model", "syncnet_v2.safetensors", "old.model"):
            loaded = load_syncnet(tmp_path / name)
            assert not loaded.training
            torch.testing.assert_close(loaded.embed_audio(probe), reference)


def test_load_refuses_pickled_models_and_foreign_weights(syncnet, tmp_path):
    with pytest.raises(WeightsNotFoundError, match="syncnet_v2.model"):
        load_syncnet(tmp_path / "missing.model")
    torch.save(syncnet, tmp_path / "whole.model")  # a pickled module: needs code to load
    with pytest.raises(CheckpointConversionError, match="safetensors"):
        load_syncnet(tmp_path / "whole.model")
    torch.save({"conv.weight": torch.zeros(3)}, tmp_path / "other.model")
    with pytest.raises(CheckpointConversionError, match="no SyncNet lip stream"):
        load_syncnet(tmp_path / "other.model")
    state = dict(syncnet.state_dict())
    state["netfcaud.0.weight"] = torch.zeros(4, 4)
    torch.save(state, tmp_path / "misshapen.model")
    with pytest.raises(CheckpointConversionError, match=r"1 misshapen \(first: netfcaud\.0\.weight \[4, 4\]"):
        load_syncnet(tmp_path / "misshapen.model")
    (tmp_path / "broken.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointConversionError, match="not a readable safetensors"):
        load_syncnet(tmp_path / "broken.safetensors")


@pytest.mark.parametrize(
    ("count", "rate", "expected"),
    [
        (6, Fraction(25), [0, 1, 2, 3, 4, 5]),
        (6, Fraction(50), [0, 2, 4]),
        # 12.5 fps: each frame shown twice; instants halfway (j odd: 0.5, 1.5 frames) go to the later frame.
        (3, Fraction(25, 2), [0, 1, 1, 2, 2, 2]),
        # 23.976: 1001/960 of a 25 fps step per frame; the 13th instant (0.48 s) is nearest frame 12 again.
        (14, Fraction(24000, 1001), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 12, 13]),
    ],
)
def test_frame_indices_at_25_fps(count, rate, expected):
    assert syncnet_frame_indices(count, rate).tolist() == expected


def test_crop_boxes_from_landmarks_by_hand():
    landmarks = np.zeros((3, 68, 2))
    landmarks[:, :, 0] = np.linspace(100, 200, 68)  # x from 100 to 200
    landmarks[:, :, 1] = np.linspace(300, 380, 68)  # y from 300 to 380
    landmarks[1] = np.nan  # no face: box interpolated
    boxes = crop_boxes(landmarks)
    # centre (150, 340), half-size max(100, 80) / 2 = 50: rows 340 - 50 .. 340 + 50 * 1.8, cols 150 -+ 50 * 1.4.
    assert boxes.tolist() == [[290, 430, 80, 220]] * 3
    with pytest.raises(NoFaceFoundError):
        crop_boxes(np.full((2, 68, 2), np.nan))


def test_crops_pad_with_grey_and_follow_the_indices():
    frames = [np.full((64, 64, 3), value, np.uint8) for value in (10, 20, 30)]
    box = np.array([-32, 32, 0, 64])  # upper half outside the picture
    crop = cut_crop(frames[0], box)
    assert crop.shape == (224, 224, 3)
    assert (crop[:100] == 110).all() and (crop[124:] == 10).all()
    crops = syncnet_face_crops(iter(frames), np.array([[0, 64, 0, 64]] * 3), np.array([0, 2, 2]))
    assert [int(c[0, 0, 0]) for c in crops] == [10, 30, 30]
    with pytest.raises(InvalidParameterError, match="ended before frame 5"):
        syncnet_face_crops(iter(frames), np.array([[0, 64, 0, 64]] * 6), np.array([0, 5]))
