"""A Ctrl-C at any moment of a render leaves no `keydub-crops-*` scratch folder: not while the crop cache is being
made, not while its crops are being cut (before the render owns it)."""

import tempfile
from pathlib import Path

import numpy as np
import pytest

from keydub.core import files
from keydub.core.compositing import crop_cache
from keydub.core.compositing.crop_cache import SCRATCH_PREFIX, CropCache


def scratch_folders() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*"))


def test_a_ctrl_c_while_the_lock_is_taken_leaves_no_folder(monkeypatch):
    before = scratch_folders()

    def interrupted(handle):
        raise KeyboardInterrupt

    monkeypatch.setattr(files, "_lock", interrupted)
    with pytest.raises(KeyboardInterrupt):
        CropCache(4, 8, np.uint8)
    assert scratch_folders() == before


def test_a_ctrl_c_while_the_cache_files_are_made_leaves_no_folder(monkeypatch):
    before = scratch_folders()
    made = []

    def interrupted(path, *args, **kwargs):
        made.append(Path(path).parent)
        raise KeyboardInterrupt

    monkeypatch.setattr(crop_cache.np.lib.format, "open_memmap", interrupted)
    with pytest.raises(KeyboardInterrupt):
        CropCache(4, 8, np.uint8)
    assert made and not made[0].exists()
    assert scratch_folders() == before


def test_a_ctrl_c_while_crops_are_cut_closes_the_cache(monkeypatch):
    from keydub.core.render import path as render_path

    before = scratch_folders()
    caches = []
    real = render_path.CropCache

    def recorded(*args):
        caches.append(real(*args))
        return caches[-1]

    def interrupted(self, cache, segment, high_bit_depth):
        raise KeyboardInterrupt

    monkeypatch.setattr(render_path, "CropCache", recorded)
    monkeypatch.setattr(render_path.SegmentRenderer, "_fill_crops", interrupted)
    render = object.__new__(render_path.SegmentRenderer)
    render.segments = [(0, 4)]
    render.pipeline = type("Pipeline", (), {"frame_size": (8, 8)})()
    render.info = type("Info", (), {"bit_depth": 8})()
    with pytest.raises(KeyboardInterrupt):
        render._cut_crops(0)
    assert len(caches) == 1 and scratch_folders() == before
