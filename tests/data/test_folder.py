"""The synth folder format: exact round trip, domain selection, and check_folder naming every bad file."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from edgedepth.data import SyntheticWorld
from edgedepth.data.folder import (
    DEPTH_SCALE,
    FolderDataset,
    check_folder,
    count_samples,
    write_dataset,
    write_domain_index,
)
from edgedepth.data.preview import preview_grid
from edgedepth.errors import DataError

SIZE = (32, 96)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """A two-domain folder with 2 samples per domain and all three views; (root, worlds)."""
    root = tmp_path_factory.mktemp("synth")
    worlds = {d: SyntheticWorld(d, size=SIZE, length=2, seed=5, views="both") for d in ("source", "target")}
    for domain, world in worlds.items():
        write_dataset(root / domain, world, progress=False, info={"seed": 5})
    write_domain_index(root, list(worlds))
    return root, worlds


@pytest.fixture
def copy(written, tmp_path):
    """A private copy of the source-domain folder that a test may damage."""
    root, _ = written
    return Path(shutil.copytree(root / "source", tmp_path / "source"))


@pytest.mark.parametrize("domain", ["source", "target"])
def test_round_trip_is_exact_up_to_quantisation(written, domain):
    root, worlds = written
    dataset = FolderDataset(root, domain=domain)
    assert len(dataset) == 2 and dataset.domain == domain
    for i in range(2):
        a, b = worlds[domain][i], dataset[i]
        assert (a.image - b.image).abs().max() <= 0.5 / 255 + 1e-6
        assert (a.depth - b.depth).abs().max() <= 0.5 / DEPTH_SCALE + 1e-6
        assert torch.equal((a.depth == 0), (b.depth == 0))
        assert torch.equal(a.semantics, b.semantics) and b.semantics.dtype == torch.int64
        assert torch.equal(a.K, b.K)
        assert [v.kind for v in a.views] == [v.kind for v in b.views]
        for va, vb in zip(a.views, b.views):
            assert torch.equal(va.T, vb.T)
            assert (va.image - vb.image).abs().max() <= 0.5 / 255 + 1e-6
        assert a.complexity == b.complexity and a.name == b.name and b.domain == domain


def test_domain_selection(written):
    root, _ = written
    with pytest.raises(DataError, match="several domains"):
        FolderDataset(root)
    with pytest.raises(DataError, match="no domain"):
        FolderDataset(root, domain="real")
    with pytest.raises(DataError, match="holds domain"):
        FolderDataset(root / "source", domain="target")
    assert len(FolderDataset(root / "target")) == 2
    assert count_samples(root) == 4


def test_check_accepts_a_good_folder(written):
    assert check_folder(written[0], progress=False) == []


def _problems(root: Path, expected_file: str) -> list[str]:
    problems = check_folder(root, progress=False)
    assert problems, "the damage went unnoticed"
    assert any(expected_file in p and "fix:" in p for p in problems), problems
    return problems


def test_check_names_a_truncated_png(copy):
    path = copy / "image" / "000001.png"
    path.write_bytes(path.read_bytes()[:100])
    assert "not a readable PNG" in _problems(copy, "image/000001.png")[0]


def test_check_names_every_missing_file(copy):
    (copy / "depth" / "000000.png").unlink()
    (copy / "views" / "000001_2.png").unlink()
    problems = check_folder(copy, progress=False)
    assert len(problems) == 2
    assert any("depth/000000.png" in p and "missing" in p for p in problems)
    assert any("views/000001_2.png" in p and "missing" in p for p in problems)


def test_check_names_a_size_mismatch(copy):
    Image.fromarray(np.zeros((16, 48), dtype=np.uint16)).save(copy / "depth" / "000001.png")
    assert "16x48" in _problems(copy, "depth/000001.png")[0]


def test_check_names_missing_calibration_entries(copy):
    path = copy / "calib" / "000000.json"
    calib = json.loads(path.read_text())
    del calib["K"]
    path.write_text(json.dumps(calib))
    assert "'K'" in _problems(copy, "calib/000000.json")[0]
    path.write_text("{not json")
    assert "cannot read" in _problems(copy, "calib/000000.json")[0]


def test_check_names_bad_labels_and_wrong_modes(copy):
    Image.fromarray(np.full(SIZE, 77, dtype=np.uint8)).save(copy / "semantics" / "000000.png")
    assert "77" in _problems(copy, "semantics/000000.png")[0]
    Image.fromarray(np.zeros(SIZE, dtype=np.uint8)).save(copy / "depth" / "000000.png")
    assert "mode L" in _problems(copy, "depth/000000.png")[0]


def test_check_names_a_bad_or_missing_meta(copy, tmp_path):
    (copy / "meta.yaml").write_text("format: edgedepth-synth\nversion: 1\nsize: [32]\ncount: 2\n")
    assert "size" in _problems(copy, "meta.yaml")[0]
    (copy / "meta.yaml").unlink()
    assert "meta.yaml is missing" in check_folder(copy, progress=False)[0]
    assert "does not exist" in check_folder(tmp_path / "nowhere", progress=False)[0]


def test_reading_a_damaged_sample_raises_data_error(copy):
    path = copy / "image" / "000000.png"
    path.write_bytes(path.read_bytes()[:100])
    dataset = FolderDataset(copy)
    with pytest.raises(DataError, match="000000.png"):
        dataset[0]
    assert dataset[1].image.shape == (3, *SIZE)


def test_preview_grid_writes_image_depth_and_semantics_columns(written, tmp_path):
    samples = [written[1]["target"][i] for i in range(2)]
    samples[0].depth[0, 0, :] = 0  # a row of unknown depth
    out = tmp_path / "preview.png"
    grid = preview_grid(samples, out)
    h, w = SIZE
    assert grid.shape == (2 * h + 2, 3 * w + 4, 3)
    assert np.array_equal(np.asarray(Image.open(out)), grid)
    ys, xs = np.nonzero(samples[0].semantics.numpy() == 0)  # road is drawn in its Cityscapes colour
    assert tuple(grid[ys[0], 2 * (w + 2) + xs[0]]) == (128, 64, 128)
    assert (grid[0, w + 2:2 * w + 2] == 0).all()  # unknown depth is black
    assert grid[1:h, w + 2:2 * w + 2].max() > 0
