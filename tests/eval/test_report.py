import json

import numpy as np
import torch
from PIL import Image

from edgedepth.data import Sample
from edgedepth.eval import evaluate, save_grid_png, write_eval_json, write_eval_markdown
from edgedepth.eval.report import grid_image, text_table
from edgedepth.imaging import colorize


def _result():
    """Three 16x24 frames: road 60 m (top) to 30 m (bottom), a car at 8 m; prediction 10 % too far."""
    h, w = 16, 24
    depth = torch.linspace(60.0, 30.0, h)[:, None].repeat(1, w)
    depth[6:12, 4:12] = 8.0
    sem = torch.zeros(h, w, dtype=torch.int64)
    sem[6:12, 4:12] = 13
    samples = [Sample(image=torch.rand(3, h, w), K=torch.eye(3), depth=depth[None], semantics=sem) for _ in range(3)]
    logits = torch.nn.functional.one_hot(sem, 19).permute(2, 0, 1).float()
    return evaluate(lambda x: 1.1 * depth.expand(len(x), 1, h, w), samples, median_scaling=True, progress=False,
                    semantic_fn=lambda x: logits.expand(len(x), 19, h, w), grid_samples=2)


def test_json_and_markdown_written(tmp_path):
    result = _result()
    write_eval_json(tmp_path / "out" / "eval.json", result)
    data = json.loads((tmp_path / "out" / "eval.json").read_text())
    assert set(data["metrics"]) == {"abs_rel", "sq_rel", "rmse", "rmse_log", "a1", "a2", "a3"}
    assert data["metrics"]["abs_rel"] == result["metrics"]["abs_rel"]
    assert "grid" not in data and data["bins"]["10-20"] is None and data["num_images"] == 3
    assert data["miou"] == result["miou"] and data["per_class_iou"]["sky"] is None
    assert not list((tmp_path / "out").glob("*.tmp"))  # atomic write left no temp file

    write_eval_markdown(tmp_path / "eval.md", result)
    md = (tmp_path / "eval.md").read_text()
    assert "| all images |" in md and "| 40-80 m |" in md and "| boundary |" in md and "mIoU" in md
    assert f"{result['metrics']['rmse']:.4f}" in md
    table = text_table(result)
    assert "boundary" in table and "mIoU" in table


def test_json_turns_nan_into_null(tmp_path):
    write_eval_json(tmp_path / "e.json", {"metrics": {"abs_rel": float("nan"), "a1": np.float32(0.5)}, "grid": {}})
    assert json.loads((tmp_path / "e.json").read_text()) == {"metrics": {"abs_rel": None, "a1": 0.5}}


def test_grid_png_layout(tmp_path):
    result = _result()
    g = result["grid"]
    save_grid_png(tmp_path / "grid.png", g["image"], g["gt"], g["pred"])
    img = np.asarray(Image.open(tmp_path / "grid.png"))
    n, _, h, w = g["image"].shape
    assert img.shape == (n * (h + 2) - 2, 4 * (w + 2) - 2, 3)
    # first tile is the input image itself
    assert np.array_equal(img[:h, :w], (g["image"][0].transpose(1, 2, 0) * 255).round().astype(np.uint8))
    # with a perfect prediction the gt and prediction tiles match and the error tile is all zero-error colour
    gt = torch.from_numpy(g["gt"])
    canvas = grid_image(torch.from_numpy(g["image"]), gt, gt[:, None])
    assert np.array_equal(canvas[:h, w + 2:2 * w + 2], canvas[:h, 2 * (w + 2):3 * w + 4])
    assert (canvas[:h, 3 * (w + 2):] == [0, 0, 4]).all()  # magma's lowest colour


def test_colorize_ends_and_mask():
    rgb = colorize(np.array([[0.0, 1.0, 2.0]]), 0.0, 1.0, mask=np.array([[True, True, False]]))
    assert rgb[0, 0].tolist() == [0, 0, 4] and rgb[0, 1].tolist() == [252, 253, 191] and rgb[0, 2].tolist() == [0, 0, 0]
