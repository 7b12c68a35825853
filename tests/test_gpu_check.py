"""``benchmarks/gpu_check.py --device cpu --tiny`` runs, so ``make gpu-check`` cannot rot on
CPU-only CI."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_check  # noqa: E402
from _stages import STAGES  # noqa: E402


@pytest.mark.parametrize("name, gpu, tflops", [
    ("NVIDIA H100 80GB HBM3", "H100 SXM", 989.0),
    ("NVIDIA H100 PCIe", "H100 PCIe", 756.0),
    ("NVIDIA H100 NVL", "H100 NVL", 835.0),
    ("NVIDIA H200", "H200 (also GH200)", 989.0),
    ("NVIDIA A100-SXM4-40GB", "A100 (SXM and PCIe)", 312.0),
    ("NVIDIA L40S", "L40S", 362.0),
    ("NVIDIA L4", "L4", 121.0),
    ("NVIDIA A10", "A10", 125.0),
])
def test_bf16_peak_by_device_name(name, gpu, tflops):
    peak = gpu_check.bf16_peak(name)
    assert (peak["gpu"], peak["tflops"]) == (gpu, tflops)
    assert "datasheet" in peak["source"] or "whitepaper" in peak["source"]


def test_unknown_gpu_has_no_peak():
    assert gpu_check.bf16_peak("Tesla T4") is None
    assert gpu_check.bf16_peak(None) is None


@pytest.mark.slow
def test_tiny_cpu_run_covers_every_stage_and_variant(tmp_path):
    path = gpu_check.main(["--device", "cpu", "--tiny", "--results-dir", str(tmp_path)])
    assert path == tmp_path / "gpu_check_cpu_tiny.json"
    doc = json.loads(path.read_text())
    res = doc["results"]
    assert doc["machine"]["cpu_count"] >= 1 and res["device_name"] == "cpu"
    assert [(r["stage"], r["variant"]) for r in res["steps"]] == [
        (s, v) for s in STAGES for v in gpu_check.VARIANTS]
    for row in res["steps"]:
        assert row["flops_per_step"] > 0, row["stage"]
        assert row["compute"]["images_per_s"] > 0 and row["pipeline"]["images_per_s"] > 0
        assert row["compute"]["mfu"] is None  # no peak for a CPU
        assert math.isfinite(row["loss_start"]) and math.isfinite(row["loss_end"])
        assert row["amp_bf16"] == (row["variant"] == "bf16_cl")
    assert set(res["loaders"]) == set(STAGES)
    assert all(v["samples_per_s"] > 0 for v in res["loaders"].values())
    table = path.with_suffix(".txt").read_text()
    assert all(s in table for s in STAGES) and "MFU" in table
