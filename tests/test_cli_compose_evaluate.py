"""The ``compose`` and ``evaluate`` commands of ``python -m mattinglib``."""

from __future__ import annotations

import json

import numpy as np

from mattinglib import io, metrics
from mattinglib.cli import main


def _write_case(folder, name, rng):
    alpha = rng.random((20, 24)).astype(np.float32)
    alpha[:, :6], alpha[:, -6:] = 0.0, 1.0
    tri = np.full(alpha.shape, 128, np.uint8)
    tri[:, :6], tri[:, -6:] = 0, 255
    pred = np.clip(alpha + rng.normal(0, 0.1, alpha.shape), 0, 1).astype(np.float32)
    io.write_alpha(folder / "gt" / name, alpha)
    io.write_trimap(folder / "trimap" / name, tri)
    io.write_alpha(folder / "pred" / name, pred)


def test_compose_writes_the_composite(tmp_path):
    rng = np.random.default_rng(0)
    fg, bg = rng.random((8, 10, 3)), rng.random((8, 10, 3))
    alpha = rng.random((8, 10))
    io.write_image(tmp_path / "fg.png", fg)
    io.write_image(tmp_path / "bg.png", bg)
    io.write_alpha(tmp_path / "a.png", alpha)
    assert main(["compose", "--foreground", str(tmp_path / "fg.png"),
                 "--alpha", str(tmp_path / "a.png"),
                 "--background", str(tmp_path / "bg.png"),
                 "--output", str(tmp_path / "out.png")]) == 0
    a = io.read_alpha(tmp_path / "a.png")[..., None]
    expected = a * io.read_image(tmp_path / "fg.png") + (1 - a) * io.read_image(tmp_path / "bg.png")
    np.testing.assert_allclose(io.read_image(tmp_path / "out.png"), expected, atol=1 / 255 + 1e-6)


def test_evaluate_matches_the_library(tmp_path, capsys):
    rng = np.random.default_rng(1)
    for name in ("a.png", "b.png"):
        _write_case(tmp_path, name, rng)
    out_json = tmp_path / "scores.json"
    assert main(["evaluate", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"),
                 "--trimap", str(tmp_path / "trimap"), "--json", str(out_json)]) == 0
    scores = json.loads(out_json.read_text())
    direct = metrics.evaluate(io.read_alpha(tmp_path / "pred" / "a.png"),
                              io.read_alpha(tmp_path / "gt" / "a.png"),
                              io.read_trimap(tmp_path / "trimap" / "a.png"))
    assert scores["images"]["a.png"] == direct
    assert "mean" in capsys.readouterr().out


def test_evaluate_reports_a_missing_ground_truth(tmp_path, capsys):
    _write_case(tmp_path, "a.png", np.random.default_rng(2))
    (tmp_path / "gt" / "a.png").unlink()
    assert main(["evaluate", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"),
                 "--trimap", str(tmp_path / "trimap")]) == 2
    assert "gt/a.png is missing" in capsys.readouterr().err


def test_bad_trimap_is_a_clear_error(tmp_path, capsys):
    _write_case(tmp_path, "a.png", np.random.default_rng(3))
    import cv2
    cv2.imwrite(str(tmp_path / "trimap" / "a.png"), np.full((20, 24), 127, np.uint8))
    assert main(["evaluate", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"),
                 "--trimap", str(tmp_path / "trimap")]) == 2
    assert "trimap: expected only the values {0, 128, 255}" in capsys.readouterr().err
