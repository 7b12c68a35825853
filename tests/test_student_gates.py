"""Gate measurements before a teacher-student run (mattinglib.train.student_gates)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mattinglib.data.target_domain import TargetDomainDataset
from mattinglib.models.bgm import bgm_generator
from mattinglib.train.adversarial import evaluate_on_target
from mattinglib.train.student_gates import gate0_domain_gap, gate1_discriminator_probe, roc_auc

TINY = dict(ngf=8, nf_part=8, n_blocks1=1, n_blocks2=1)
SIZE = 32


@pytest.fixture(scope="module")
def teacher():
    return bgm_generator(**TINY, seed=1)


class TestRocAuc:
    def test_matches_the_pairwise_definition(self):
        rng = np.random.default_rng(0)
        pos = rng.integers(0, 6, 40).astype(float)   # many ties
        neg = rng.integers(0, 5, 30).astype(float)
        pairs = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        assert roc_auc(pos, neg) == pytest.approx(float(pairs.mean()), abs=1e-12)

    def test_is_symmetric_and_bounded(self):
        assert roc_auc([5, 6], [1]) == 1.0 and roc_auc([1], [5, 6]) == 0.0
        assert roc_auc([1, 2, 3], [2]) + roc_auc([2], [1, 2, 3]) == pytest.approx(1.0)

    @pytest.mark.parametrize("pos, neg, message", [
        ([], [1.0], "^positive: expected at least one score"),
        ([1.0], [], "^negative: expected at least one score"),
        ([float("nan")], [1.0], "^positive: expected finite scores"),
    ])
    def test_bad_scores_are_named(self, pos, neg, message):
        with pytest.raises(ValueError, match=message):
            roc_auc(pos, neg)


def test_gate0_ratios_are_the_teachers_sad_per_effect(teacher):
    gap = gate0_domain_gap(teacher, 2, SIZE, seed=3, effects=["shadow", "noise"], device="cpu")
    assert set(gap) == {"metric", "clean_sad", "sad", "ratio", "regions"}
    assert list(gap["sad"]) == ["shadow", "noise"]
    off = {e: 0.0 for e in ("noise", "blur", "colour_cast", "misalignment", "exposure", "shadow",
                            "jpeg")}
    clean = evaluate_on_target(teacher, TargetDomainDataset(2, SIZE, seed=3, strengths=off),
                               device="cpu")["sad"]
    shadow = evaluate_on_target(teacher, TargetDomainDataset(2, SIZE, seed=3,
                                                             strengths={**off, "shadow": 1.0}),
                                device="cpu")["sad"]
    assert gap["clean_sad"] == clean and gap["sad"]["shadow"] == shadow
    assert gap["ratio"]["shadow"] == pytest.approx(shadow / clean)
    assert gap["ratio"]["shadow"] != gap["ratio"]["noise"]


@pytest.mark.parametrize("kwargs, message", [
    (dict(effects=["fog"]), "^effects: expected a non-empty list"),
    (dict(effects=[]), "^effects: expected a non-empty list"),
    (dict(strength=0.0), "^strength:"),
    (dict(num_samples=0), "^num_samples:"),
    (dict(metric="sad_everywhere"), "^metric: expected one of"),
    (dict(domain={"fog": 1.0}), "^strengths: unknown effects"),
])
def test_gate0_bad_arguments(teacher, kwargs, message):
    args = dict(num_samples=1, size=SIZE, device="cpu") | kwargs
    with pytest.raises(ValueError, match=message):
        gate0_domain_gap(teacher, **args)


def test_gate0_whole_image_metric_regions_and_domain(teacher):
    off = {e: 0.0 for e in ("noise", "blur", "colour_cast", "misalignment", "exposure", "shadow",
                            "jpeg")}
    domain = {"shadow": 1.0, "misalignment": 0.5}
    gap = gate0_domain_gap(teacher, 2, SIZE, seed=3, effects=["shadow"], metric="sad_image",
                           domain=domain, device="cpu")
    data = TargetDomainDataset(2, SIZE, seed=3, strengths={**off, **domain})
    whole = evaluate_on_target(teacher, data, device="cpu")
    assert gap["metric"] == "sad_image" and gap["domain_sad"] == whole["sad_image"]
    assert gap["domain_ratio"] == pytest.approx(whole["sad_image"] / gap["clean_sad"])
    assert set(gap["regions"]) == {"clean", "shadow", "domain"}
    # The three regions add up to the whole image (per sample, so also on average).
    for name in ("clean", "shadow", "domain"):
        parts = gap["regions"][name]
        total = parts["sad_band"] + parts["sad_background"] + parts["sad_foreground"]
        assert total == pytest.approx(gap["sad"]["shadow"] if name == "shadow" else
                                      gap["clean_sad"] if name == "clean" else gap["domain_sad"])
    assert gap["regions"]["domain"]["sad_band"] == pytest.approx(whole["sad"])


def test_gate1_probe_runs_and_reports_aucs(teacher):
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    train, held_out = TargetDomainDataset(3, SIZE, seed=0), TargetDomainDataset(3, SIZE, seed=1)
    result = gate1_discriminator_probe(teacher, train, held_out, steps=2, batch_size=2, ndf=8,
                                       device="cpu")
    assert len(result["d_loss"]) == 2 and all(math.isfinite(v) for v in result["d_loss"])
    assert set(result["scores"]) == {"real", "truth", "teacher", "alpha1"}
    assert all(len(v) == 3 for v in result["scores"].values())
    s = result["scores"]
    assert result["auc_teacher_vs_truth"] == roc_auc(s["truth"], s["teacher"])
    assert result["auc_alpha1_vs_truth"] == roc_auc(s["truth"], s["alpha1"])
    assert result["auc_real_vs_truth"] == roc_auc(s["real"], s["truth"])
    for key, value in teacher.state_dict().items():   # the generator stays frozen
        assert torch.equal(value, before[key]), key
    # the same seed repeats the probe exactly
    again = gate1_discriminator_probe(teacher, train, held_out, steps=2, batch_size=2, ndf=8,
                                      device="cpu")
    assert again["d_loss"] == result["d_loss"]


def test_gate1_alpha_one_with_wrap_and_no_shift_is_the_real_frame(teacher):
    """With wrap-around and no shift, alpha = 1 recomposes the frame: D scores it as real."""
    data = TargetDomainDataset(2, SIZE, seed=0)
    result = gate1_discriminator_probe(teacher, data, steps=1, batch_size=2, ndf=8, max_shift=0.0,
                                       device="cpu")
    np.testing.assert_array_equal(result["scores"]["alpha1"], result["scores"]["real"])
    background = gate1_discriminator_probe(teacher, data, steps=1, batch_size=2, ndf=8,
                                           max_shift=0.5, min_shift=0.25,
                                           shift_fill="background", device="cpu")
    assert not np.array_equal(background["scores"]["alpha1"], background["scores"]["real"])


@pytest.mark.parametrize("kwargs, message", [
    (dict(steps=0), "^steps:"),
    (dict(shift_fill="mirror"), "^shift_fill: expected one of"),
    (dict(eval_data=[1]), "^eval_data: expected a non-empty dataset with ground_truth"),
])
def test_gate1_bad_arguments(teacher, kwargs, message):
    args = dict(train_data=TargetDomainDataset(1, SIZE), steps=1, ndf=8, device="cpu") | kwargs
    with pytest.raises(ValueError, match=message):
        gate1_discriminator_probe(teacher, **args)
