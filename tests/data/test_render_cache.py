"""The render cache: same samples as the renderer, reused by key, grown, invalidated by a renderer change,
never left looking complete by a killed render."""
from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import edgedepth.data.render_cache as rc
from edgedepth.data import SyntheticWorld
from edgedepth.errors import DataError

SIZE = (16, 48)


def cached(tmp_path: Path, length: int = 3, *, domain: str = "target", views: str = "both", workers: int = 1):
    return rc.cached_world(domain, size=SIZE, length=length, seed=2, views=views, cache_dir=tmp_path,
                           workers=workers, progress=False)


def eight_bit(image: torch.Tensor) -> torch.Tensor:
    """What an 8-bit store gives back: the nearest of 256 levels (halves round up, as the folder format's PNGs)."""
    return torch.floor(image * 255 + 0.5) / 255


def stores(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "render").glob("*/n*"))


@pytest.fixture
def renders(monkeypatch) -> list[tuple[int, int]]:
    """The (start, stop) ranges rendered in this process."""
    calls: list[tuple[int, int]] = []
    real = rc._render_range

    def counting(key, store, start, stop):
        calls.append((start, stop))
        return real(key, store, start, stop)

    monkeypatch.setattr(rc, "_render_range", counting)
    return calls


@pytest.mark.parametrize("domain", ["source", "target"])
def test_cached_samples_equal_rendered_ones_up_to_8_bit_images(tmp_path, domain):
    world = cached(tmp_path, domain=domain)
    reference = SyntheticWorld(domain, size=SIZE, length=3, seed=2, views="both")
    assert isinstance(world, rc.RenderedWorld) and len(world) == 3
    for i in range(3):
        got, want = world[i], reference[i]
        assert (got.image - want.image).abs().max() <= 0.5 / 255 + 1e-6
        assert torch.equal(got.image, eight_bit(want.image))
        assert torch.equal(got.depth, want.depth) and torch.equal(got.semantics, want.semantics)
        assert torch.equal(got.K, want.K) and got.complexity == want.complexity
        assert got.name == want.name and got.domain == domain
        assert [v.kind for v in got.views] == [v.kind for v in want.views]
        assert all(torch.equal(a.T, b.T) and (a.image - b.image).abs().max() <= 0.5 / 255 + 1e-6
                   for a, b in zip(got.views, want.views))
    assert world.complexities() == reference.complexities()


def test_load_batch_gathers_8_bit_images_and_labels(tmp_path):
    world = cached(tmp_path, views="stereo")
    batch = world.load_batch([2, 0])
    assert batch["image"].dtype == torch.uint8 and batch["image"].shape == (2, 3, *SIZE)
    assert batch["views_image"].shape == (2, 1, 3, *SIZE) and batch["views_T"].shape == (2, 1, 4, 4)
    assert batch["semantics"].dtype == torch.uint8 and batch["depth"].dtype == torch.float32
    assert torch.equal(batch["image"][0].float() / 255, world[2].image)
    assert batch["complexity"].tolist() == pytest.approx([world[2].complexity, world[0].complexity])
    with pytest.raises(IndexError):
        world.load_batch([3])


def test_a_store_is_reused_and_grown_without_rendering_twice(tmp_path, renders):
    first = cached(tmp_path, length=3)
    assert renders == [(0, 3)] and stores(tmp_path) == ["n000003"]
    shorter = cached(tmp_path, length=2)
    assert renders == [(0, 3)] and len(shorter) == 2 and torch.equal(shorter[1].image, first[1].image)
    longer = cached(tmp_path, length=5)
    assert renders == [(0, 3), (3, 5)] and stores(tmp_path) == ["n000005"]  # the smaller store is gone
    assert torch.equal(longer[2].image, first[2].image)  # copied, and still readable through the old map
    assert torch.equal(longer[4].image, eight_bit(SyntheticWorld("target", size=SIZE, length=5, seed=2)[4].image))
    cached(tmp_path, length=3, views="stereo")  # another key: another store
    assert len(stores(tmp_path)) == 2


def test_a_renderer_change_invalidates_the_cache(tmp_path, monkeypatch):
    copies = []
    for path in rc.renderer_files():
        copies.append(tmp_path / "src" / path.name)
        copies[-1].parent.mkdir(exist_ok=True)
        shutil.copy(path, copies[-1])
    before = rc.renderer_version(copies)
    assert before == rc.renderer_version()
    copies[-1].write_text(copies[-1].read_text().replace("0.5 + 0.5 * np.maximum", "0.4 + 0.6 * np.maximum"))
    assert rc.renderer_version(copies) != before

    old = cached(tmp_path / "cache")
    import edgedepth.data.synthetic_world as synthetic_world

    real_version = rc.renderer_version
    monkeypatch.setattr(rc, "renderer_version", lambda files=None: real_version(copies))
    monkeypatch.setattr(synthetic_world, "shade_target", lambda hits, **kw: np.zeros((*hits.cls.shape, 3), np.float32))
    new = cached(tmp_path / "cache")
    assert new.store != old.store and float(new[0].image.max()) == 0.0  # rendered again, not read back
    assert float(old[0].image.max()) > 0  # the old store is left to the old renderer


def _modules_reached(module: str, seen: set[str]) -> set[str]:
    path = Path(rc.__file__).with_name(f"{module}.py")
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("edgedepth.data.synthetic"):
            name = node.module.rsplit(".", 1)[1]
            if name not in seen:
                seen.add(name)
                _modules_reached(name, seen)
    return seen


def test_the_renderer_version_covers_every_module_the_renderer_imports():
    assert _modules_reached("synthetic", {"synthetic"}) == set(rc.RENDERER_MODULES)


def test_a_killed_render_never_leaves_a_store_that_looks_complete(tmp_path):
    """The render process kills itself (SIGKILL, no clean-up) after its first chunk."""
    if not hasattr(os, "fork"):
        pytest.skip("needs POSIX signals")
    script = (
        "import os, signal, edgedepth.data.render_cache as rc\n"
        "real = rc._render_range\n"
        "def dying(key, store, start, stop):\n"
        "    if start > 0: os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return real(key, store, start, stop)\n"
        "rc._render_range = dying\n"
        "rc.CHUNK = 2\n"
        f"rc.cached_world('source', size={SIZE}, length=4, seed=2, cache_dir={str(tmp_path)!r}, workers=1)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(rc.__file__).parents[2]) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, timeout=300)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    key_dir = next((tmp_path / "render").iterdir())
    assert stores(tmp_path) == [] and [p.name[:5] for p in key_dir.glob(".tmp-*")] == [".tmp-"]
    world = rc.cached_world("source", size=SIZE, length=4, seed=2, cache_dir=tmp_path, workers=1, progress=False)
    assert len(world) == 4 and stores(tmp_path) == ["n000004"] and not list(key_dir.glob(".tmp-*"))


def test_a_failed_render_is_cleaned_up_and_a_damaged_store_is_not_used(tmp_path, monkeypatch):
    def broken(key, store, start, stop):
        raise RuntimeError("renderer bug")

    monkeypatch.setattr(rc, "_render_range", broken)
    with pytest.raises(RuntimeError, match="renderer bug"):
        cached(tmp_path)
    assert stores(tmp_path) == [] and not list((tmp_path / "render").glob("*/.tmp-*"))
    monkeypatch.undo()
    world = cached(tmp_path)
    (world.store / "depth.npy").write_bytes(b"\x93NUMPY truncated")
    fresh = cached(tmp_path)
    assert torch.equal(fresh[0].depth, SyntheticWorld("target", size=SIZE, length=3, seed=2)[0].depth)


def test_parallel_render_writes_the_same_store(tmp_path, monkeypatch):
    monkeypatch.setattr(rc, "CHUNK", 2)
    one = cached(tmp_path / "one", length=5, workers=1)
    two = cached(tmp_path / "two", length=5, workers=2)
    for name, array in one.arrays.items():
        assert np.array_equal(array, two.arrays[name]), name


def test_cache_location(tmp_path, monkeypatch):
    monkeypatch.delenv(rc.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert rc.cache_root() == tmp_path / "xdg" / "edgedepth"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert rc.cache_root() == tmp_path / "home" / ".cache" / "edgedepth"
    monkeypatch.setenv(rc.CACHE_ENV, str(tmp_path / "env"))
    assert rc.cache_root() == tmp_path / "env"
    assert rc.cache_root(tmp_path / "configured") == tmp_path / "configured"


def test_an_unwritable_cache_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(DataError) as info:
        cached(tmp_path / "file")
    assert "render cache" in info.value.what and "data.cache_dir" in info.value.fix
