"""Shared fixtures: real test media when the shared folder is present, and an offline, headless environment."""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest


os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _session_folder(variable: str, prefix: str) -> None:
    """Point `variable` at a new folder of this test session (removed at exit), unless the caller set it."""
    if variable not in os.environ:
        os.environ[variable] = tempfile.mkdtemp(prefix=prefix)
        atexit.register(shutil.rmtree, os.environ[variable], ignore_errors=True)


# Keydub's own cache (clip analyses, occluder masks, file hashes) goes to a folder of this test session, shared by
# the processes the tests start: tests neither read what an earlier run left nor fill the user's ~/.cache/keydub.
_session_folder("KEYDUB_CACHE_DIR", "keydub-test-cache-")
# Likewise the signing identity: the tests sign with a local identity of their own, never with the user's
# configured certificate, and never write the user's provenance folder.
_session_folder("KEYDUB_PROVENANCE_DIR", "keydub-test-provenance-")

TESTDATA = Path(__file__).resolve().parents[1].parent / "shared" / "testdata"


def testdata_file(name: str) -> Path:
    """Path of a file in the shared test media folder; skips the test when it is absent (a fresh clone)."""
    path = TESTDATA / name
    if not path.is_file():
        pytest.skip(f"test media {name} not available (expected beside the project in shared/testdata)")
    return path


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """One intra-op thread for torch: the tiny test models gain nothing from a second thread, and on a busy
    machine threads waiting on each other made them several times slower. Results do not depend on it."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(int(os.environ.get("KEYDUB_TEST_THREADS", "1")))
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def talking_clip() -> Path:
    """10 s, 1080x1920 portrait, 25 fps HEVC + AAC clip of one person speaking to camera."""
    return testdata_file("talking_1080x1920_25fps.mp4")


@pytest.fixture
def dub_speech() -> Path:
    """19.8 s of 16 kHz mono speech by another speaker, used as the dub audio."""
    return testdata_file("speech_16k_mono_b.wav")


@pytest.fixture(scope="session")
def analysis_cache_dir(tmp_path_factory) -> Path:
    """One Keydub cache folder for the whole session, so tests on the same real clip share its landmark pass
    (a whole-clip analysis of the 10 s test clip takes over a minute with dlib on a CPU)."""
    return tmp_path_factory.mktemp("keydub-cache")


# The Resolve versions Keydub writes to, each with its own measured behaviour (tests/fake_resolve): 19.1.x takes
# AppendToTimeline's endFrame as inclusive, 21.1 documents the dict calling conventions.
WRITABLE_RESOLVE_PROFILES = ("19.1.3", "20.3", "21.1")


@pytest.fixture(params=WRITABLE_RESOLVE_PROFILES)
def resolve_profile(request) -> str:
    """Each Resolve version the bridge supports, by the fake's profile name."""
    return request.param
