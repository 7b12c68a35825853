"""Two measurements to make before a long teacher-student run (no training of the generators).

The adversarial stage of Background Matting
(:class:`~mattinglib.train.adversarial.TeacherStudentTrainer`) is worth running
only if two things hold, and each can be measured in minutes:

* **Gate 0, a domain gap** (:func:`gate0_domain_gap`): the teacher must be
  worse on the target domain than on clean captures, or there is nothing for
  the student to fix. The teacher's SAD on captures with one effect switched on,
  divided by its SAD on the same captures with every effect off.
* **Gate 1, a critic that can see the teacher's errors**
  (:func:`gate1_discriminator_probe`): with the generators frozen, a fresh
  discriminator is trained for a few steps on real frames against three kinds
  of recomposition, made as the trainer makes them (shift, other background,
  the frame replacing the foreground where alpha > 0.95): from (a) the true
  alpha, (b) the teacher's alpha, (c) alpha = 1 everywhere. The ROC AUC of its
  scores separating (b) from (a) says whether a critic can tell the teacher's
  mattes from true ones; (c) from (a) whether it can tell the collapse to
  "everything is foreground" from a true matte. An AUC near 0.5 means it cannot,
  and then the GAN term has nothing to teach the student there.

Both need captures with held-out truth
(:class:`~mattinglib.data.target_domain.TargetDomainDataset`). :func:`roc_auc`
is the rank statistic both report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import default_collate

from .._checks import check_int, check_number
from ..config import get_device
from ..data.target_domain import EFFECTS, TargetDomainDataset
from ..losses.bgm import OPAQUE_THRESHOLD, lsgan_loss, replace_opaque_foreground
from ..models.bgm import GENERATOR_INPUTS
from .adversarial import (
    SHIFT_FILLS,
    compose_with_shift,
    draw_shifts,
    evaluate_on_target,
    fresh_discriminator,
)

__all__ = ["roc_auc", "GATE0_METRICS", "gate0_domain_gap", "gate1_discriminator_probe"]



def roc_auc(positive: Any, negative: Any) -> float:
    """Area under the ROC curve of scores meant to be higher for ``positive`` than ``negative``.

    The rank (Mann-Whitney) form: the probability that a random positive scores
    above a random negative, ties counting 1/2. 1: every positive above every
    negative; 0.5: no separation; 0: every positive below.

    Args:
        positive, negative: 1-D sequences of finite scores, each non-empty.

    >>> roc_auc([3, 4], [1, 2])
    1.0
    >>> roc_auc([1, 2], [3, 4])
    0.0
    >>> roc_auc([1, 3], [2, 2])
    0.5
    >>> roc_auc([2.0, 2.0, 5.0], [2.0, 1.0])  # 2 vs 2 ties count 1/2: (1.5 + 1.5 + 2) / 6
    0.8333333333333334
    """
    pos = np.asarray(positive, dtype=np.float64).ravel()
    neg = np.asarray(negative, dtype=np.float64).ravel()
    for name, x in (("positive", pos), ("negative", neg)):
        if x.size == 0:
            raise ValueError(f"{name}: expected at least one score, got none")
        if not np.isfinite(x).all():
            raise ValueError(f"{name}: expected finite scores, got {x[~np.isfinite(x)][:3]}")
    scores = np.concatenate([pos, neg])
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(scores.size, dtype=np.float64)
    ranks[order] = np.arange(1, scores.size + 1)
    # tied scores share the mean of their ranks
    values, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    if values.size < scores.size:
        sums = np.zeros(values.size)
        np.add.at(sums, inverse, ranks)
        ranks = (sums / counts)[inverse]
    u = ranks[:pos.size].sum() - pos.size * (pos.size + 1) / 2
    return float(u / (pos.size * neg.size))


#: The errors of :func:`~mattinglib.train.adversarial.evaluate_on_target` gate 0 can compare.
GATE0_METRICS = ("sad", "sad_image", "mse", "mse_image", "grad", "conn")
_REGIONS = ("sad_band", "sad_background", "sad_foreground")


def gate0_domain_gap(teacher: nn.Module, num_samples: int, size: int, *, seed: int = 0,
                     effects: Sequence[str] = EFFECTS, strength: float = 1.0,
                     metric: str = "sad", domain: Mapping[str, float] | None = None,
                     device: str | torch.device = "auto") -> dict[str, Any]:
    """The teacher's error on the target domain relative to clean captures, per effect.

    The same ``num_samples`` captures (``TargetDomainDataset(num_samples, size,
    seed=seed)``) are scored with every effect off ("clean") and with each
    effect alone at ``strength``, by :func:`~mattinglib.train.adversarial.evaluate_on_target`;
    with ``domain``, also with every effect at the strengths of ``domain`` (the
    target domain a student trains on).

    Args:
        teacher: a Background Matting generator.
        num_samples, size, seed: the captures.
        effects: which effects of :data:`~mattinglib.data.target_domain.EFFECTS` to measure.
        strength: each effect's strength, in ``(0, 1]``.
        metric: the error compared, one of :data:`GATE0_METRICS`: ``"sad"`` (the
            official one, the trimap's unknown band only) or ``"sad_image"`` (every
            pixel: where a misaligned plate or a shadow misleads the teacher).
        domain: effect -> strength of the whole target domain (missing effects: 0), or
            ``None`` to skip it.
        device: where to run the teacher.

    Returns:
        ``{"metric", "clean_sad", "sad": {effect: float}, "ratio": {effect: float}}``
        (``clean_sad`` and ``sad`` hold ``metric``, whatever its name) with ``ratio =
        sad / clean_sad`` (> 1: the effect costs the teacher; ``inf`` when the clean
        error is 0 and the effect's is not, 1 when both are 0); ``"regions"``:
        condition -> the whole-image SAD split by the true trimap's regions
        (``sad_band, sad_background, sad_foreground``), which says where an effect's
        errors lie; with ``domain``, ``"domain_sad"`` and ``"domain_ratio"`` too.
    """
    check_int(num_samples, "num_samples", minimum=1)
    check_number(strength, "strength", minimum=0, min_open=True, maximum=1)
    if metric not in GATE0_METRICS:
        raise ValueError(f"metric: expected one of {GATE0_METRICS}, got {metric!r}")
    effects = list(effects)
    unknown = [e for e in effects if e not in EFFECTS]
    if unknown or not effects:
        raise ValueError(f"effects: expected a non-empty list from {EFFECTS}, got {effects!r}")
    off = {e: 0.0 for e in EFFECTS}
    if domain is not None:
        if not isinstance(domain, Mapping):
            raise TypeError(f"domain: expected a dict effect -> strength or None, "
                            f"got {type(domain).__name__}")
        domain = {**off, **domain}  # TargetDomainDataset checks names and values

    def scores(strengths: Mapping[str, float]) -> dict[str, float]:
        data = TargetDomainDataset(num_samples, size, seed=seed, strengths=strengths)
        return evaluate_on_target(teacher, data, device=device)

    def ratio(value: float, clean: float) -> float:
        return value / clean if clean > 0 else (1.0 if value == 0 else float("inf"))

    conditions = {"clean": off} | {e: {**off, e: strength} for e in effects}
    if domain is not None:
        conditions["domain"] = domain
    measured = {name: scores(s) for name, s in conditions.items()}
    clean = measured["clean"][metric]
    per_effect = {e: measured[e][metric] for e in effects}
    out: dict[str, Any] = {
        "metric": metric, "clean_sad": clean, "sad": per_effect,
        "ratio": {e: ratio(v, clean) for e, v in per_effect.items()},
        "regions": {name: {r: m[r] for r in _REGIONS} for name, m in measured.items()}}
    if domain is not None:
        out["domain_sad"] = measured["domain"][metric]
        out["domain_ratio"] = ratio(out["domain_sad"], clean)
    return out


@torch.no_grad()
def _recompositions(teacher: nn.Module, data: Any, generator: torch.Generator, dev: torch.device,
                    **shift: Any) -> dict[str, torch.Tensor]:
    """Real frames and the three recompositions of every sample of ``data`` (on the CPU)."""
    was_training = teacher.training
    teacher.to(dev).eval()
    out: dict[str, list[torch.Tensor]] = {"real": [], "truth": [], "teacher": [], "alpha1": []}
    fill = shift.pop("fill")
    try:
        for i in range(len(data)):
            sample = default_collate([data[i]])
            truth = data.ground_truth(i)
            image, seg, other = sample["image"], sample["seg"], sample["back_rnd"]
            alpha_t, fg_t = teacher(*(sample[k].to(dev) for k in GENERATOR_INPUTS))
            shifts = draw_shifts(seg, generator, **shift)
            mattes = {"truth": (truth["alpha"][None] * 2 - 1, truth["fg"][None] * 2 - 1),
                      "teacher": (alpha_t.float().cpu(), fg_t.float().cpu()),
                      "alpha1": (torch.ones_like(seg), image)}
            out["real"].append(image)
            for name, (alpha, fg) in mattes.items():
                fg = replace_opaque_foreground(fg, image, alpha, threshold=OPAQUE_THRESHOLD)
                out[name].append(compose_with_shift(alpha, fg, other, shifts, fill=fill))
    finally:
        teacher.train(was_training)
    return {k: torch.cat(v) for k, v in out.items()}


def _scores(d: nn.Module, x: torch.Tensor, dev: torch.device, batch_size: int) -> np.ndarray:
    """D's mean score per image (higher: more real)."""
    rows = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            maps = d(x[start:start + batch_size].to(dev))
            rows.append(torch.stack([m[-1].float().mean(dim=(1, 2, 3)) for m in maps]).mean(0))
    return torch.cat(rows).cpu().numpy()


def gate1_discriminator_probe(teacher: nn.Module, train_data: Any, eval_data: Any = None, *,
                              steps: int = 200, batch_size: int = 4, ndf: int = 64,
                              lr: float = 1e-4, seed: int = 0, max_shift: float = 0.1,
                              min_shift: float = 0.0, shift_fill: str = "wrap",
                              device: str | torch.device = "auto") -> dict[str, Any]:
    """Can a fresh discriminator tell the teacher's (or a collapsed) matte from a true one?

    With the teacher frozen, every sample's frame is recomposed (as
    :class:`~mattinglib.train.adversarial.TeacherStudentTrainer` does: a shift drawn
    by :func:`~mattinglib.train.adversarial.draw_shifts`, the sample's ``back_rnd``
    as the new background, the frame replacing the foreground where alpha > 0.95)
    from (a) the true alpha and foreground, (b) the teacher's, (c) alpha = 1
    everywhere. A fresh discriminator (:func:`~mattinglib.train.adversarial.fresh_discriminator`)
    is trained for ``steps`` Adam steps with LSGAN, real frames as real and all
    three recompositions as fake, on minibatches of ``train_data``. It then
    scores ``eval_data`` (its mean patch score per image; higher = more real).

    Args:
        teacher: a Background Matting generator (not modified).
        train_data, eval_data: datasets with held-out truth (``ground_truth(i)``), e.g.
            :class:`~mattinglib.data.target_domain.TargetDomainDataset`; ``eval_data``
            ``None``: score ``train_data`` itself (separability of what D was trained on).
        steps, batch_size, ndf, lr: D's training.
        seed: D's initialisation, the minibatches and the shifts.
        max_shift, min_shift, shift_fill: the recomposition, as in the trainer.
        device: where to run.

    Returns:
        ``{"auc_teacher_vs_truth", "auc_alpha1_vs_truth"}`` (:func:`roc_auc` of D's scores
        with the truth's recompositions as the positives: 1 = D scores every true
        recomposition as more real than every teacher / alpha = 1 one, 0.5 = it cannot
        tell them apart), ``"auc_real_vs_truth"`` (real frames as the positives: whether
        D learned anything that holds on ``eval_data`` at all), ``"d_loss"`` (D's loss per
        step) and ``"scores"`` (the per-image scores of ``real, truth, teacher, alpha1`` on
        ``eval_data``).
    """
    for name, data in (("train_data", train_data), ("eval_data", eval_data)):
        if data is None and name == "eval_data":
            continue
        if not (hasattr(data, "ground_truth") and hasattr(data, "__len__") and len(data)):
            raise ValueError(f"{name}: expected a non-empty dataset with ground_truth(i), "
                             f"got {type(data).__name__}")
    check_int(steps, "steps", minimum=1)
    check_int(batch_size, "batch_size", minimum=1)
    check_int(seed, "seed", minimum=0)
    check_number(lr, "lr", minimum=0, min_open=True)
    if shift_fill not in SHIFT_FILLS:
        raise ValueError(f"shift_fill: expected one of {SHIFT_FILLS}, got {shift_fill!r}")
    dev = get_device(device)
    generator = torch.Generator().manual_seed(seed)
    shift = dict(max_shift=max_shift, min_shift=min_shift, fill=shift_fill)
    train = _recompositions(teacher, train_data, generator, dev, **shift)
    scored = train if eval_data is None else _recompositions(teacher, eval_data, generator, dev,
                                                             **shift)

    d = fresh_discriminator(ndf=ndf, seed=seed).to(dev).train()
    optimizer = torch.optim.Adam(d.parameters(), lr=lr)
    n, losses = len(train["real"]), []
    for _ in range(steps):
        pick = torch.randint(n, (min(batch_size, n),), generator=generator)
        fakes = torch.cat([train[k][pick] for k in ("truth", "teacher", "alpha1")]).to(dev)
        loss = 0.5 * (lsgan_loss(d(train["real"][pick].to(dev)), True)
                      + lsgan_loss(d(fakes), False))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    d.eval()
    scores = {k: _scores(d, v, dev, batch_size) for k, v in scored.items()}
    return {"auc_teacher_vs_truth": roc_auc(scores["truth"], scores["teacher"]),
            "auc_alpha1_vs_truth": roc_auc(scores["truth"], scores["alpha1"]),
            "auc_real_vs_truth": roc_auc(scores["real"], scores["truth"]),
            "d_loss": losses, "scores": scores}
