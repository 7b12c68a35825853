"""The one validation loop (mattinglib.train.validation) and the stages that use it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mattinglib.data.bgm import BGMSyntheticDataset
from mattinglib.data.composition import SyntheticMattingDataset
from mattinglib.data.target_domain import TargetDomainDataset
from mattinglib.metrics import evaluate, mean_metrics
from mattinglib.models.bgm import bgm_generator
from mattinglib.models.mnet import MNet
from mattinglib.train import adversarial, bgm_recipes, recipes, validation
from mattinglib.train.validation import evaluate_dataset, model_device, region_errors


def _ramp_samples(n, size=8):
    """Samples whose alpha is a horizontal ramp; sample k's trimap is all-known when k is odd."""
    ramp = np.tile(np.linspace(0, 1, size, dtype=np.float32), (size, 1))
    out = []
    for k in range(n):
        trimap = np.full((size, size), 255 if k % 2 else 128, np.uint8)
        out.append({"alpha": torch.from_numpy(ramp)[None], "trimap": torch.from_numpy(trimap)[None],
                    "offset": torch.tensor(0.1 * k)})
    return out


def _shifted(batch, indices):
    truth = batch["alpha"][:, 0].numpy()
    pred = np.clip(truth + batch["offset"].numpy()[:, None, None], 0, 1)
    return pred, truth, batch["trimap"][:, 0].numpy()


class TestEvaluateDataset:
    def test_means_of_the_official_metrics_over_the_scored_samples(self):
        data = _ramp_samples(5)
        scores = evaluate_dataset(_shifted, data, batch_size=2)
        # Samples 0, 2, 4 have an unknown band; 1 and 3 are all known, so not scored.
        rows = [evaluate(*(x[0] for x in _shifted(
            {k: v[None] for k, v in data[k].items()}, [k]))) for k in (0, 2, 4)]
        expected = mean_metrics(rows)
        assert {k: scores[k] for k in expected} == pytest.approx(expected, rel=1e-12)
        assert scores["count"] == 3.0
        # ...but every prediction counts in the mean alpha.
        preds = np.asarray([_shifted({k: v[None] for k, v in s.items()}, [0])[0] for s in data],
                           np.float64)
        assert scores["mean_alpha"] == pytest.approx(float(preds.mean()), rel=1e-12)

    def test_the_batch_size_does_not_change_the_scores(self):
        data = _ramp_samples(5)
        one, three = (evaluate_dataset(_shifted, data, batch_size=b) for b in (1, 3))
        assert one == pytest.approx(three, rel=1e-12)

    def test_predict_sees_the_indices_in_order_and_runs_without_gradients(self):
        seen = []

        def predict(batch, indices):
            seen.append(list(indices))
            assert not torch.is_grad_enabled()
            return _shifted(batch, indices)

        evaluate_dataset(predict, _ramp_samples(5), batch_size=2)
        assert seen == [[0, 1], [2, 3], [4]]

    def test_whole_image_adds_the_regions_which_sum_to_the_image(self):
        scores = evaluate_dataset(_shifted, _ramp_samples(3), whole_image=True)
        parts = scores["sad_band"] + scores["sad_background"] + scores["sad_foreground"]
        assert scores["sad_image"] == pytest.approx(parts, rel=1e-12)
        assert "sad_image" not in evaluate_dataset(_shifted, _ramp_samples(3))

    def test_whole_image_errors_count_every_frame_even_without_a_band(self):
        # An empty frame (no unknown band) is where alpha = 1 would show as background error.
        data = _ramp_samples(4)  # frames 1 and 3 have no unknown band
        scores = evaluate_dataset(_shifted, data, whole_image=True)
        per_frame = [region_errors(*(x[0] for x in _shifted(
            {k: v[None] for k, v in data[k].items()}, [k]))) for k in range(4)]
        assert scores["sad_image"] == pytest.approx(
            np.mean([e["sad_image"] for e in per_frame]), rel=1e-12)
        assert scores["count"] == 2.0
        no_band = evaluate_dataset(_shifted, [data[1], data[3]], whole_image=True)
        assert np.isnan(no_band["sad"]) and no_band["count"] == 0.0
        assert no_band["sad_image"] > 0

    def test_bad_input_is_named(self):
        with pytest.raises(ValueError, match="^val_data: expected a non-empty map-style dataset"):
            evaluate_dataset(_shifted, [])
        with pytest.raises(ValueError, match="^dataset: expected a non-empty"):
            evaluate_dataset(_shifted, [], name="dataset")
        with pytest.raises(ValueError, match="^val_data: no sample has unknown pixels"):
            evaluate_dataset(_shifted, _ramp_samples(2)[1:])
        with pytest.raises(ValueError, match="^batch_size: expected an integer >= 1, got 0"):
            evaluate_dataset(_shifted, _ramp_samples(2), batch_size=0)


def test_region_errors_split_the_whole_image():
    rng = np.random.default_rng(0)
    pred, truth = rng.random((6, 6)), rng.random((6, 6))
    trimap = rng.choice(np.array([0, 128, 255], np.uint8), size=(6, 6))
    errors = region_errors(pred, truth, trimap)
    assert errors["sad_image"] == pytest.approx(np.abs(pred - truth).sum() / 1000)
    assert errors["sad_band"] == pytest.approx(np.abs(pred - truth)[trimap == 128].sum() / 1000)


def test_model_device():
    assert model_device(torch.nn.Conv2d(1, 1, 1)) == torch.device("cpu")


@pytest.fixture
def spy(monkeypatch):
    """Every stage module's evaluate_dataset, wrapped to record its calls."""
    calls = []

    def recording(*args, **kwargs):
        calls.append(kwargs)
        return validation.evaluate_dataset(*args, **kwargs)

    for module in (recipes, bgm_recipes, adversarial):
        monkeypatch.setattr(module, "evaluate_dataset", recording)
    return calls


class TestTheStagesUseIt:
    def test_matting_val_fn(self, spy):
        model = MNet(width=0.125).eval()
        scores = recipes.matting_val_fn(model, SyntheticMattingDataset(3, 32, seed=0),
                                        batch_size=2)
        assert len(spy) == 1 and spy[0]["batch_size"] == 2
        assert sorted(scores) == ["conn", "grad", "mse", "sad"]

    def test_bgm_val_fn(self, spy):
        model = bgm_generator(ngf=8, nf_part=8, n_blocks1=1, n_blocks2=1, seed=0).eval()
        scores = bgm_recipes.bgm_val_fn(model, BGMSyntheticDataset(2, 32, seed=0))
        assert len(spy) == 1 and sorted(scores) == ["conn", "grad", "mse", "sad"]

    def test_evaluate_on_target(self, spy):
        model = bgm_generator(ngf=8, nf_part=8, n_blocks1=1, n_blocks2=1, seed=0)
        scores = adversarial.evaluate_on_target(model, TargetDomainDataset(2, 32, seed=0),
                                                device="cpu")
        assert len(spy) == 1 and spy[0]["whole_image"] is True
        assert {"sad", "sad_image", "mean_alpha", "count"} <= set(scores)
        assert model.training  # its mode is given back
