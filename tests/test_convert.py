"""Official KeySync checkpoint -> our safetensors layout: key map, configuration from shapes, loading, errors."""

import hashlib
import json
from pathlib import Path

import pytest
import torch
from accelerate import init_empty_weights
from safetensors.torch import load_file
from tiny_models import (
    TINY_AUDIO_DIM,
    TINY_LATENT_SIZE,
    WINDOW_LENGTH,
    official_layout_state_dict,
    official_unet_names,
    tiny_learned_mask,
    tiny_unet,
    tiny_unet_config,
)

from keydub.core.errors import CheckpointConversionError, OutputExistsError
from keydub.core.model.audio_projector import AudioProjector
from keydub.core.model.convert import (
    convert_keysync_checkpoint,
    convert_state_dict,
    load_official_state_dict,
)
from keydub.core.model.unet import KeySyncUNet
from keydub.core.weight_files import LEARNED_MASK_FILE, RECORD_FILE
from keydub.plugin.cli.main import main


TINY_HEAD_DIM = 16  # tiny_unet_config: 32/64 channels with 2/4 heads


class Unrelated:
    """A Python object a careless checkpoint could carry; `weights_only=True` must refuse to build it."""


def _official_parts(kind: str, seed: int = 0) -> tuple[KeySyncUNet, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    unet = tiny_unet(in_channels=8 if kind == "keyframe" else 9, seed=seed)
    generator = torch.Generator().manual_seed(seed + 100)
    weight = torch.randn(TINY_AUDIO_DIM, 16, generator=generator)
    bias = torch.randn(TINY_AUDIO_DIM, generator=generator)
    mask = tiny_learned_mask(seed) if kind == "interpolation" else None
    return unet, weight, bias, mask


def _write_official(path: Path, kind: str, edit=None) -> tuple[KeySyncUNet, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Write a tiny checkpoint laid out like the official DeepSpeed `.pt`; `edit` may change its state dict."""
    unet, weight, bias, mask = _official_parts(kind)
    module = official_layout_state_dict(unet, weight, bias, mask)
    if edit is not None:
        edit(module)
    torch.save({"module": module, "ds_version": "0.16.3", "global_steps": 1200, "buffer_names": []}, path)
    return unet, weight, bias, mask


def _forward(unet: KeySyncUNet) -> torch.Tensor:
    generator = torch.Generator().manual_seed(7)
    channels = unet.config.in_channels
    sample = torch.randn(1, WINDOW_LENGTH, channels, TINY_LATENT_SIZE, TINY_LATENT_SIZE, generator=generator)
    audio = torch.randn(1, WINDOW_LENGTH, TINY_AUDIO_DIM, generator=generator)
    with torch.no_grad():
        return unet(sample, torch.tensor([0.3]), audio)


@pytest.mark.parametrize("kind", ["keyframe", "interpolation"])
def test_tiny_official_checkpoint_converts_loads_and_keeps_every_tensor(tmp_path, kind):
    source = tmp_path / f"{kind}_dub.pt"
    unet, weight, bias, mask = _write_official(source, kind)

    folder = convert_keysync_checkpoint(source, kind, tmp_path / "out", attention_head_dim=TINY_HEAD_DIM)

    assert folder == tmp_path / "out" / kind
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [kind]  # no temporary folder left
    loaded = KeySyncUNet.from_pretrained(folder / "unet")
    original = unet.state_dict()
    converted = loaded.state_dict()
    assert converted.keys() == original.keys()
    for name, tensor in original.items():
        assert torch.equal(converted[name], tensor), name
    # Same tensors and same head count: the same function.
    assert torch.equal(_forward(loaded), _forward(unet))

    projector = AudioProjector.from_pretrained(folder / "audio_projector")
    assert (projector.config.in_features, projector.config.out_features) == (16, TINY_AUDIO_DIM)
    assert torch.equal(projector.linear.weight, weight) and torch.equal(projector.linear.bias, bias)

    if kind == "interpolation":
        assert torch.equal(load_file(folder / LEARNED_MASK_FILE)["learned_mask"], mask)
    else:
        assert not (folder / LEARNED_MASK_FILE).exists()

    record = json.loads((folder / RECORD_FILE).read_text())
    assert record["source"]["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert record["source"]["bytes"] == source.stat().st_size
    assert record["unet"]["tensors"] == len(original)
    assert record["unet"]["parameters"] == sum(t.numel() for t in original.values())
    assert record["audio_projector"] == {"tensors": 2, "in_features": 16, "out_features": TINY_AUDIO_DIM}
    expected_ignored = {"first_stage_model": 1}
    if kind == "interpolation":
        expected_ignored["conditioner.embedders.0"] = 1
    assert record["ignored"] == expected_ignored


def test_configuration_is_read_from_the_shapes(tmp_path):
    unet, weight, bias, mask = _official_parts("interpolation")
    module = official_layout_state_dict(unet, weight, bias, mask)
    state = {name.removeprefix("_forward_module."): tensor for name, tensor in module.items()}

    config = convert_state_dict(state, "interpolation", attention_head_dim=TINY_HEAD_DIM).unet_config

    expected = tiny_unet_config(in_channels=9)
    for field in (
        "in_channels",
        "out_channels",
        "layers_per_block",
        "cross_attention_dim",
        "projection_class_embeddings_input_dim",
        "num_frames",
    ):
        assert config[field] == expected[field], field
    for field in ("block_out_channels", "num_attention_heads", "down_block_types", "up_block_types"):
        assert tuple(config[field]) == tuple(expected[field]), field
    assert config["transformer_layers_per_block"] == 1


@pytest.mark.parametrize("in_channels", [8, 9])
def test_full_size_official_layout_maps_one_to_one_onto_the_svd_unet(in_channels):
    # The real checkpoints' U-Net, on the meta device: 1428 tensors, SVD's configuration.
    with init_empty_weights():
        unet = KeySyncUNet(in_channels=in_channels)
    names = official_unet_names(unet)
    tensors = unet.state_dict()
    state = {f"model.diffusion_model.{theirs}": tensors[ours] for ours, theirs in names.items()}
    state["conditioner.embedders.2.linear.weight"] = torch.empty(1024, 768, device="meta")
    state["conditioner.embedders.2.linear.bias"] = torch.empty(1024, device="meta")
    kind = "keyframe" if in_channels == 8 else "interpolation"
    if kind == "interpolation":
        state["model.learned_mask"] = torch.empty(4, 64, 64, device="meta")

    converted = convert_state_dict(state, kind)

    assert len(converted.unet) == 1428
    assert converted.unet.keys() == tensors.keys()
    assert all(converted.unet[ours] is state[f"model.diffusion_model.{theirs}"] for ours, theirs in names.items())
    config = converted.unet_config
    assert config["in_channels"] == in_channels
    assert config["block_out_channels"] == [320, 640, 1280, 1280]
    assert config["num_attention_heads"] == [5, 10, 20, 20]
    assert config["layers_per_block"] == 2
    assert config["cross_attention_dim"] == config["projection_class_embeddings_input_dim"] == 1024
    assert config["up_block_types"][0] == "UpBlockSpatioTemporal"
    assert converted.audio_projector_config == {"in_features": 768, "out_features": 1024}


def _rename(old: str, new: str):
    def edit(module: dict) -> None:
        module[new] = module.pop(old)

    return edit


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (
            _rename(
                "_forward_module.model.diffusion_model.input_blocks.1.0.in_layers.0.weight",
                "_forward_module.model.diffusion_model.input_blocks.1.0.in_layerz.0.weight",
            ),
            [
                "1 missing (first: model.diffusion_model.input_blocks.1.0.in_layers.0.weight",
                "down_blocks.0.resnets.0.spatial_res_block.norm1.weight",
                "1 unexpected (first: model.diffusion_model.input_blocks.1.0.in_layerz.0.weight",
            ],
        ),
        (
            lambda module: module.pop("_forward_module.model.diffusion_model.output_blocks.1.0.time_mixer.mix_factor"),
            [
                "1 missing (first: model.diffusion_model.output_blocks.1.0.time_mixer.mix_factor",
                "up_blocks.0.resnets.1.time_mixer.mix_factor",
            ],
        ),
        (
            lambda module: module.update(
                {"_forward_module.model.diffusion_model.out.2.weight": torch.zeros(4, 32, 5, 5)}
            ),
            ["1 misshapen (first: model.diffusion_model.out.2.weight [4, 32, 5, 5] (expected [4, 32, 3, 3])"],
        ),
        (
            lambda module: module.pop("_forward_module.conditioner.embedders.2.linear.bias"),
            ["missing tensor conditioner.embedders.2.linear.bias"],
        ),
        (
            lambda module: module.update({"_forward_module.model.audio_stack.0.weight": torch.zeros(2)}),
            ["model.audio_stack.0.weight", "not a KeySync checkpoint"],
        ),
    ],
    ids=["renamed", "missing-mix-factor", "misshapen", "missing-projector", "extra-network-tensor"],
)
def test_layout_mismatches_name_the_tensor_and_write_nothing(tmp_path, edit, named):
    source = tmp_path / "keyframe_dub.pt"
    _write_official(source, "keyframe", edit)

    with pytest.raises(CheckpointConversionError) as caught:
        convert_keysync_checkpoint(source, "keyframe", tmp_path / "out", attention_head_dim=TINY_HEAD_DIM)

    for text in named:
        assert text in str(caught.value)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_the_wrong_kind_is_refused(tmp_path):
    source = tmp_path / "interpolation_dub.pt"
    _write_official(source, "interpolation")

    with pytest.raises(CheckpointConversionError, match="learned_mask.*interpolation model"):
        convert_keysync_checkpoint(source, "keyframe", tmp_path / "out", attention_head_dim=TINY_HEAD_DIM)


def test_lightning_ckpt_and_bare_state_dicts_are_read_like_the_official_loader(tmp_path):
    unet, weight, bias, _ = _official_parts("keyframe")
    module = official_layout_state_dict(unet, weight, bias)
    lightning = {name.removeprefix("_forward_module."): tensor for name, tensor in module.items()}
    torch.save({"state_dict": lightning, "epoch": 3}, tmp_path / "last.ckpt")
    torch.save(module, tmp_path / "bare.bin")

    from_ckpt = load_official_state_dict(tmp_path / "last.ckpt")
    from_bin = load_official_state_dict(tmp_path / "bare.bin")

    assert from_ckpt.keys() == from_bin.keys() == lightning.keys()
    assert all(torch.equal(from_ckpt[name], from_bin[name]) for name in lightning)


def test_checkpoints_with_python_objects_are_not_unpickled(tmp_path):
    unet, weight, bias, _ = _official_parts("keyframe")
    source = tmp_path / "keyframe_dub.pt"
    torch.save({"module": official_layout_state_dict(unet, weight, bias), "callback": Unrelated()}, source)

    with pytest.raises(CheckpointConversionError, match=r"Unrelated.*only loads tensors"):
        load_official_state_dict(source)


def test_an_existing_output_is_never_replaced(tmp_path):
    source = tmp_path / "keyframe_dub.pt"
    _write_official(source, "keyframe")
    existing = tmp_path / "out" / "keyframe"
    existing.mkdir(parents=True)
    (existing / "mine.txt").write_text("keep")

    with pytest.raises(OutputExistsError, match="already exists"):
        convert_keysync_checkpoint(source, "keyframe", tmp_path / "out", attention_head_dim=TINY_HEAD_DIM)
    assert [p.name for p in existing.iterdir()] == ["mine.txt"]


def test_convert_weights_command(tmp_path, capsys):
    keyframe, interpolation = tmp_path / "keyframe_dub.pt", tmp_path / "interpolation_dub.pt"
    _write_official(keyframe, "keyframe")
    _write_official(interpolation, "interpolation")
    out = tmp_path / "converted"

    code = main(
        [
            "convert-weights",
            "--keyframe",
            str(keyframe),
            "--interpolation",
            str(interpolation),
            "-o",
            str(out),
            "--attention-head-dim",
            str(TINY_HEAD_DIM),
            "--json",
        ]
    )

    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result == {"keyframe": str(out / "keyframe"), "interpolation": str(out / "interpolation")}
    assert (out / "interpolation" / LEARNED_MASK_FILE).is_file()
    assert (out / "keyframe" / "unet" / "diffusion_pytorch_model.safetensors").is_file()


def test_convert_weights_command_errors_are_one_line(tmp_path, capsys):
    assert main(["convert-weights", "-o", str(tmp_path / "out")]) == 1
    assert capsys.readouterr().err.startswith("Error: give --keyframe")

    assert main(["convert-weights", "--keyframe", str(tmp_path / "nope.pt"), "-o", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err
    assert error.startswith("Error: checkpoint") and "nope.pt does not exist" in error
    assert not (tmp_path / "out").exists()
