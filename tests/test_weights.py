"""Weights resolution: options, the config file, the Hugging Face cache, offline errors, the conversion cache, CLI."""

import json
from pathlib import Path
from types import SimpleNamespace

import huggingface_hub
import pytest
import torch
from huggingface_hub import constants as hub_constants
from huggingface_hub.errors import GatedRepoError, RemoteEntryNotFoundError
from tiny_models import official_layout_state_dict, tiny_unet_config, tiny_vae, tiny_wavlm

import keydub.core.weights as weights
from keydub.core.errors import InvalidParameterError, WeightsNotFoundError
from keydub.core.model.convert import resolve_keysync
from keydub.core.model.unet import KeySyncUNet
from keydub.core.weight_files import RECORD_FILE
from keydub.core.weights import REGISTRY, list_weights, resolve_weights
from keydub.plugin.cli.main import main


COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """An empty Hugging Face cache, an empty Keydub cache, no weights config, offline: nothing of the machine's."""
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("KEYDUB_CACHE_DIR", str(tmp_path / "keydub-cache"))
    monkeypatch.setenv("KEYDUB_WEIGHTS_CONFIG", str(tmp_path / "weights.toml"))

    def no_network(*args, **kwargs):
        raise AssertionError("the hub was called")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_network)


def _in_hub_cache(repo_id: str, filename: str, content: bytes) -> Path:
    """Put a file where huggingface_hub's cache keeps it (refs/main -> snapshots/<commit>/<filename>)."""
    repo = Path(hub_constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(COMMIT)
    path = repo / "snapshots" / COMMIT / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def _official_checkpoint(path: Path, kind: str, seed: int = 0) -> KeySyncUNet:
    """A tiny checkpoint in the official layout whose attention heads are 64 wide, like the real ones."""
    torch.manual_seed(seed)
    config = {
        **tiny_unet_config(8 if kind == "keyframe" else 9),
        "block_out_channels": (64, 128),
        "num_attention_heads": (1, 2),
    }
    unet = KeySyncUNet(**config).eval()
    mask = torch.randn(4, 8, 8) if kind == "interpolation" else None
    module = official_layout_state_dict(unet, torch.randn(32, 16), torch.randn(32), mask)
    torch.save({"module": module}, path)
    return unet


# Local folders and the config file ----------------------------------------------------------------------------
def test_a_local_folder_given_as_option_is_used_as_is(tmp_path):
    tiny_wavlm().save_pretrained(tmp_path / "wavlm")

    assert resolve_weights("wavlm", tmp_path / "wavlm") == tmp_path / "wavlm"


def test_a_folder_without_a_model_names_the_component_and_the_path(tmp_path):
    (tmp_path / "empty").mkdir()

    with pytest.raises(WeightsNotFoundError, match=r"WavLM Base\+ audio encoder \(wavlm\): .*empty has no config"):
        resolve_weights("wavlm", tmp_path / "empty")
    with pytest.raises(WeightsNotFoundError, match=r"\(hubert\): .*missing from the given path does not exist"):
        resolve_weights("hubert", tmp_path / "missing")


def test_the_config_file_names_folders_relative_to_itself(tmp_path):
    models = tmp_path / "models"
    tiny_vae().save_pretrained(models / "svd" / "vae")  # an SVD folder: the VAE is in its vae/ subfolder
    tiny_wavlm().save_pretrained(models / "wavlm")
    (tmp_path / "weights.toml").write_text('[weights]\nvae = "models/svd"\nwavlm = "models/wavlm"\n')

    assert resolve_weights("vae") == models / "svd" / "vae"
    assert resolve_weights("wavlm") == models / "wavlm"
    # An option still wins over the config file.
    tiny_wavlm().save_pretrained(tmp_path / "other")
    assert resolve_weights("wavlm", tmp_path / "other") == tmp_path / "other"


def test_config_file_mistakes_are_reported_with_the_file(tmp_path):
    config = tmp_path / "weights.toml"
    config.write_text('[weights]\nunet = "/models/unet"\n')
    with pytest.raises(InvalidParameterError, match=r"unknown component 'unet' under \[weights\] in .*weights.toml"):
        resolve_weights("vae")
    config.write_text("[weights\nvae = 1\n")
    with pytest.raises(InvalidParameterError, match="cannot read the weights config .*weights.toml"):
        resolve_weights("vae")
    config.write_text('[weights]\nvae = "./models/nowhere"\n')
    with pytest.raises(WeightsNotFoundError, match="models/nowhere from the weights config does not exist"):
        resolve_weights("vae")
    config.write_text('[weights]\nvae = "models/nowhere"\n')  # could be a hub id as well as a folder
    with pytest.raises(WeightsNotFoundError, match=r"\(models/nowhere: missing .*No folder models/nowhere exists"):
        resolve_weights("vae")


# The Hugging Face cache ---------------------------------------------------------------------------------------
def test_cached_hub_files_are_found_without_the_network():
    hubert = _in_hub_cache("facebook/hubert-base-ls960", "config.json", b"{}")
    _in_hub_cache("facebook/hubert-base-ls960", "pytorch_model.bin", b"weights")  # the second alternative
    vae = _in_hub_cache("stabilityai/stable-video-diffusion-img2vid", "vae/config.json", b"{}")
    _in_hub_cache("stabilityai/stable-video-diffusion-img2vid", "vae/diffusion_pytorch_model.safetensors", b"w")

    assert resolve_weights("hubert") == hubert.parent
    assert resolve_weights("vae") == vae.parent and vae.parent.name == "vae"


def test_offline_and_not_cached_names_the_component_and_the_command():
    _in_hub_cache("microsoft/wavlm-base-plus", "config.json", b"{}")  # weights file missing

    with pytest.raises(WeightsNotFoundError) as caught:
        resolve_weights("wavlm")

    message = str(caught.value)
    assert message.startswith("WavLM Base+ audio encoder (wavlm) is not in the Hugging Face cache")
    assert "missing model.safetensors or pytorch_model.bin" in message
    assert "HF_HUB_OFFLINE is set" in message
    assert "`keydub weights download wavlm`" in message
    assert "[weights]" in message


# KeySync conversion cache -------------------------------------------------------------------------------------
def test_the_official_checkpoint_is_converted_once_and_reused(tmp_path, monkeypatch):
    source = tmp_path / "keyframe_dub.pt"
    unet = _official_checkpoint(source, "keyframe")
    cached = _in_hub_cache("toninio19/keysync", "checkpoints/keyframe_dub.pt", source.read_bytes())

    folder = resolve_keysync("keyframe")

    assert folder.parent.parent == tmp_path / "keydub-cache" / "keysync"
    record = json.loads((folder / RECORD_FILE).read_text())
    assert folder.parent.name == record["source"]["sha256"][:16]
    loaded = KeySyncUNet.from_pretrained(folder / "unet")
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in unet.state_dict().items())

    def refuse(*args, **kwargs):
        raise AssertionError("converted or hashed again")

    real_sha256 = weights.sha256_file
    monkeypatch.setattr("keydub.core.model.convert.convert_keysync_checkpoint", refuse)
    monkeypatch.setattr(weights, "sha256_file", refuse)
    assert resolve_keysync("keyframe") == folder
    # The same content under another name is hashed once, then reuses the conversion (keyed by content).
    monkeypatch.setattr(weights, "sha256_file", real_sha256)
    copy = tmp_path / "elsewhere.pt"
    copy.write_bytes(cached.read_bytes())
    assert resolve_keysync("keyframe", copy) == folder


def test_a_changed_checkpoint_is_converted_again(tmp_path):
    source = tmp_path / "interpolation_dub.pt"
    _official_checkpoint(source, "interpolation", seed=0)
    first = resolve_keysync("interpolation", source)

    newer = _official_checkpoint(source, "interpolation", seed=1)
    second = resolve_keysync("interpolation", source)

    assert second != first and (second / "learned_mask.safetensors").is_file()
    loaded = KeySyncUNet.from_pretrained(second / "unet")
    assert torch.equal(loaded.conv_in.weight, newer.conv_in.weight)


def test_converter_output_folders_are_accepted(tmp_path):
    source = tmp_path / "keyframe_dub.pt"
    _official_checkpoint(source, "keyframe")
    converted = resolve_keysync("keyframe", source)
    root = converted.parent

    assert resolve_keysync("keyframe", converted) == converted  # DIR/keyframe
    assert resolve_keysync("keyframe", root) == converted  # DIR, as given to --weights


# keydub weights download / list -------------------------------------------------------------------------------
@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    """An online hub that serves tiny files (and records what was asked); `missing` files answer 404."""
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    checkpoints = {}
    for kind in ("keyframe", "interpolation"):
        path = tmp_path / f"{kind}.pt"
        _official_checkpoint(path, kind)
        checkpoints[f"checkpoints/{kind}_dub.pt"] = path.read_bytes()
    hub = {"calls": [], "missing": set(), "gated": set()}

    def download(repo_id, filename, **kwargs):
        hub["calls"].append((repo_id, filename))
        # What the hub's errors read from an HTTP response.
        response = SimpleNamespace(headers={}, request=None)
        if repo_id in hub["gated"]:
            raise GatedRepoError("403 gated", response=response)
        if filename in hub["missing"]:
            raise RemoteEntryNotFoundError("404 entry not found", response=response)
        return str(_in_hub_cache(repo_id, filename, checkpoints.get(filename, b"{}")))

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)

    def download_release(url, target, progress=None):
        hub["calls"].append(("url", Path(url).name))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"release file")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr("keydub.core.weights.download_url", download_release)
    return hub


def test_download_fetches_the_render_components_and_converts_keysync(fake_hub, capsys):
    assert main(["weights", "download", "--json"]) == 0

    paths = json.loads(capsys.readouterr().out)
    # sam2 and syncnet are optional; s3fd and fan are the default landmark backend's.
    assert list(paths) == ["keyframe", "interpolation", "vae", "hubert", "wavlm", "s3fd", "fan"]
    assert (Path(paths["interpolation"]) / "learned_mask.safetensors").is_file()
    assert Path(paths["vae"]).name == "vae"
    assert fake_hub["calls"] == [
        ("toninio19/keysync", "checkpoints/keyframe_dub.pt"),
        ("toninio19/keysync", "checkpoints/interpolation_dub.pt"),
        ("stabilityai/stable-video-diffusion-img2vid", "vae/config.json"),
        ("stabilityai/stable-video-diffusion-img2vid", "vae/diffusion_pytorch_model.safetensors"),
        ("facebook/hubert-base-ls960", "config.json"),
        ("facebook/hubert-base-ls960", "model.safetensors"),
        ("microsoft/wavlm-base-plus", "config.json"),
        ("microsoft/wavlm-base-plus", "model.safetensors"),
        ("url", "s3fd-619a316812.pth"),
        ("url", "2DFAN4-11f355bf06.pth.tar"),
    ]
    assert Path(paths["fan"]).parent == Path(torch.hub.get_dir()) / "checkpoints"  # where face-alignment looks
    # Everything is cached now: a second run asks the hub nothing.
    assert main(["weights", "download"]) == 0
    assert len(fake_hub["calls"]) == 10


def test_download_falls_back_to_the_next_weights_file(fake_hub, capsys):
    fake_hub["missing"].add("model.safetensors")

    assert main(["weights", "download", "hubert"]) == 0

    assert fake_hub["calls"][-1] == ("facebook/hubert-base-ls960", "pytorch_model.bin")
    assert capsys.readouterr().out.startswith("hubert: ")


def test_download_errors_are_one_line_with_the_fix(fake_hub, capsys, monkeypatch):
    fake_hub["gated"].add("stabilityai/stable-video-diffusion-img2vid")
    assert main(["weights", "download", "vae"]) == 1
    assert "accept its licence at https://huggingface.co/stabilityai" in capsys.readouterr().err

    assert main(["weights", "download", "unet"]) == 1
    assert "unknown weights component 'unet'; known: keyframe, interpolation" in capsys.readouterr().err

    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    assert main(["weights", "download", "sam2"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("Error: cannot download sam2: HF_HUB_OFFLINE is set") and error.count("\n") == 1
    assert len(fake_hub["calls"]) == 1


def test_list_shows_where_each_component_comes_from(tmp_path, capsys):
    tiny_wavlm().save_pretrained(tmp_path / "wavlm")
    (tmp_path / "weights.toml").write_text('[weights]\nwavlm = "wavlm"\n')
    _in_hub_cache("toninio19/keysync", "checkpoints/interpolation_dub.pt", b"not converted yet")

    assert main(["weights", "list", "--json"]) == 0

    listed = {entry["component"]: entry for entry in json.loads(capsys.readouterr().out)}
    assert list(listed) == list(REGISTRY)
    assert listed["wavlm"]["state"] == "ready" and listed["wavlm"]["origin"] == "config"
    assert listed["wavlm"]["path"] == str(tmp_path / "wavlm")
    assert listed["interpolation"]["state"] == "convert"
    assert listed["keyframe"]["state"] == "missing" and listed["keyframe"]["source"] == "toninio19/keysync"
    assert listed["keyframe"]["detail"] == (
        "not downloaded (checkpoints/keyframe_dub.pt): keydub weights download keyframe"
    )
    assert not any((tmp_path / "keydub-cache").glob("keysync/*"))  # listing converted nothing
    assert [status.state for status in list_weights({"wavlm": str(tmp_path / "nowhere")})][4] == "missing"
    assert listed["syncnet"]["state"] == "missing" and listed["syncnet"]["source"].endswith("syncnet_v2.model")


def test_a_release_file_downloads_once_reporting_bytes(tmp_path, monkeypatch):
    import dataclasses

    from keydub.core.progress import Progress

    release = tmp_path / "release" / "syncnet_v2.model"
    release.parent.mkdir()
    release.write_bytes(bytes(range(256)) * 9000)  # 2.2 MiB: three blocks
    monkeypatch.setitem(REGISTRY, "syncnet", dataclasses.replace(REGISTRY["syncnet"], url=release.as_uri()))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    events = []

    path = resolve_weights("syncnet", progress=events.append)

    assert path == Path(torch.hub.get_dir()) / "checkpoints" / "syncnet_v2.model"
    assert path.read_bytes() == release.read_bytes()
    size = release.stat().st_size
    assert events[-1] == Progress("download", size, size, unit="bytes") and len(events) == 3
    assert all(e.total == size and e.unit == "bytes" for e in events)
    assert list(path.parent.iterdir()) == [path]  # no partial file left
    release.unlink()
    assert resolve_weights("syncnet") == path  # cached: not downloaded again
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    path.unlink()
    with pytest.raises(WeightsNotFoundError, match=r"SyncNet v2 .*\(syncnet\) is not in .* and HF_HUB_OFFLINE is set"):
        resolve_weights("syncnet")


def test_hub_downloads_report_bytes(tmp_path, monkeypatch):
    from keydub.core.progress import Progress

    events = []
    bar = weights._reporting_tqdm(events.append)(total=300, disable=True)
    bar.update(100)
    bar.update(200)
    assert events == [Progress("download", 100, 300, unit="bytes"), Progress("download", 300, 300, unit="bytes")]
    assert weights._reporting_tqdm(None) is None
