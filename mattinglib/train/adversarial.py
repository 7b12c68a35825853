"""The teacher-student adversarial stage of Background Matting (Sengupta et al., CVPR 2020).

The supervised generator (the *teacher*) was trained on clean composites. On
real captures it errs where those differ from its training data, and there
is no ground truth to fix it. The authors' ``train_real_fixed.py`` therefore
trains a *student*, a freshly initialised generator of the same architecture,
on unlabelled captures, with two signals (Sengupta et al., CVPR 2020;
``train_real_fixed.py`` and ``functions.py`` in github.com/senguptaumd/Background-Matting):

* **pseudo-supervision** by the frozen teacher (all in ``[-1, 1]``)::

      alpha       = L1(alpha_s, alpha_t) + 0.5 * gradient(alpha_s, alpha_t)    everywhere
      fg_l1       = L1(fg_s, fg_t)        where alpha_t > -0.98   (> ~0.01 in [0, 1])
      composition = L1(image, alpha_s fg_s + (1 - alpha_s) bg)   where seg_gt > 0.95

  ``seg_gt`` is the segmentation network's own mask (the original's
  ``seg-gt``); the generator is given ``seg``, a softened, eroded guide made
  from it, and the shift below is bounded by that guide, as in the original.

* **an adversarial critic**: the student's alpha and foreground (the image
  replaces the foreground where alpha_s > 0.95) are recomposited, shifted a
  little sideways, over another background: with probability 1/2 the
  captured backgrounds of the batch in a random order, otherwise a separate
  set of random backgrounds. A PatchGAN ``D`` learns to call that composite
  fake and the real frame real, with least squares (LSGAN)::

      loss_G = gan + wt * 0.05 * (composition + alpha + fg_l1)
      loss_D = 0.5 * (MSE(D(image), 1) + MSE(D(fake.detach()), 0))

  ``wt`` starts at 1 and halves every 2 epochs (see below); Adam with lr 1e-4 for G and
  1e-5 for D; D is stepped on iterations ``i`` with ``i % 5 == 0``.

Choices made explicit here
--------------------------
* **Iteration count.** ``i`` is the global step, counting from 0 (D is stepped
  at steps 0, 5, 10, ...). The original's ``i`` is the batch index within an
  epoch, so there the pattern restarts at every epoch; the two agree whenever
  the epoch length is a multiple of ``d_every``.
* **When wt halves.** As in ``train_real_fixed.py``, whose ``if epoch % 2 == 0:
  wt = wt / 2`` runs at the *end* of each epoch: after epochs 0, 2, 4, ... So
  epoch 0 trains at ``wt = 1``, epochs 1-2 at 1/2, epochs 3-4 at 1/4
  (:func:`pseudo_weight`), not epochs 0-1 at 1 as "halved every 2 epochs" might
  suggest.
* **Epoch.** ``len(data) // batch_size`` steps, unless ``steps_per_epoch`` is
  given (the quick profile uses short "epochs" so that ``wt`` visibly decays).
  The data themselves are read in passes of ``len(data) // batch_size``
  batches, each pass in a fresh order drawn from ``(seed, pass)``.
* **The shift.** The original ``compose_image_withshift`` rolls the student's
  alpha and foreground horizontally (with wrap-around) by a random number of
  columns, chosen so that the segmented subject stays inside the frame. Here
  the shift ``n`` (positive: to the right) is uniform over the integers that
  keep every column where ``seg > -0.8`` (0.1 in ``[0, 1]``) inside the frame
  *and* satisfy ``|n| <= max_shift * W`` (default 0.1: a tenth of the width);
  a sample without a segmented subject gets ``|n| <= max_shift * W``. The
  bound keeps the composite plausible at the course's small resolutions.
  ``min_shift`` (default 0, as the original) forces ``|n| >= min_shift * W``
  where the subject allows it. The columns the shift vacates are filled by
  wrap-around (``shift_fill="wrap"``, the original), by the new background
  (``"background"``) or by zeros (``"zeros"``). See :func:`draw_shifts` and
  :func:`compose_with_shift`.
* **Whether the GAN term trains the student** (``gan_gradient``). The
  original's ``compose_image_withshift`` returns ``torch.autograd.Variable(...)``
  of the composite, which detaches it: in the released code the GAN term sends
  no gradient to the student, which learns from the pseudo-supervision alone
  while D still trains (issue #51 of the reference repo). The paper describes
  the attached version. ``"released"`` (the default) detaches the composite
  before ``D`` in the student's GAN term; ``"paper"`` keeps it attached, which is
  what this trainer did before the option existed (checkpoints written before
  it resume as ``"paper"``).
* **The anti-shortcut term** (``anti_shortcut``, off by default; neither the
  paper nor the released code has it). With the wrap-around shift, alpha = 1
  everywhere recomposes the real frame, which ``D`` must call real: the shortcut
  the attached GAN term leads the student to. Borrowed from copy-pasting GANs
  (Arandjelovic & Zisserman, 2019): ``D`` is also shown, as fake, each frame cut
  out with *another* frame's alpha (:func:`anti_shortcut_composite`): the frame's
  own pixels, its old background included, pasted in a region that does not
  follow its subject. A student whose alpha spreads beyond the subject on its way
  to alpha = 1 makes the same kind of composite, so the term teaches ``D`` the cue
  that gives it away before the student gets there. At alpha = 1 exactly it adds
  nothing: the composite is then the student's own fake, which ``D`` already
  sees. ``D``'s fake term becomes the mean of the two fakes; the term is logged
  as ``d_anti``.
* **Gradients.** While the generator's loss is back-propagated, ``D``'s
  parameters do not require gradients (the original let them accumulate and
  cleared them before ``D``'s step; the update is the same). ``D``'s loss is
  computed and logged at every step, under ``no_grad`` when ``D`` is not stepped.
* **Randomness.** Every draw (background permutation, the 50/50 choice,
  which random backgrounds, shifts) comes from the trainer's own CPU
  ``torch.Generator`` seeded with ``seed``; its state is checkpointed, so an
  interrupted and resumed run on CPU repeats the uninterrupted one exactly.

Example (a tiny run on generated captures):

>>> from mattinglib.data.target_domain import TargetDomainDataset
>>> from mattinglib.models.bgm import bgm_generator
>>> teacher = bgm_generator(ngf=8, nf_part=8, n_blocks1=1, n_blocks2=1, seed=1)
>>> trainer = TeacherStudentTrainer(teacher, fresh_student_like(teacher, seed=2),
...                                 fresh_discriminator(ndf=8, seed=3), TargetDomainDataset(4, 32),
...                                 batch_size=2, max_steps=2, device="cpu", progress=False)
>>> history = trainer.fit()
>>> history.train_steps, history.train["d_step"]
([1, 2], [1.0, 0.0])
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Sampler, default_collate

from .._checks import check_bool, check_int, check_number, check_shape
from ..config import get_device
from ..data.pool import prepare_pools
from ..losses.bgm import (
    OPAQUE_THRESHOLD,
    composition_loss,
    gradient_loss,
    lsgan_loss,
    normalized_l1,
    replace_opaque_foreground,
)
from ..models.bgm import (
    GENERATOR_INPUTS,
    BackgroundMattingGenerator,
    bgm_generator,
    from_model_range,
)
from ..models.discriminator import MultiscaleDiscriminator
from ..models.init import init_weights
from ..trimap import trimap_from_alpha
from ..weights import load_into
from .checkpoint import get_rng_state, set_rng_state
from .distributed import all_mean, setup_distributed
from .history import History
from .loop import Callback, NonFiniteLossError, TrainingLoop
from .validation import evaluate_dataset

__all__ = [
    "TeacherStudentTrainer",
    "fresh_student_like",
    "fresh_discriminator",
    "teacher_masks",
    "draw_shifts",
    "vacated_columns",
    "compose_with_shift",
    "anti_shortcut_composite",
    "pseudo_weight",
    "evaluate_on_target",
    "label_free_scores",
    "TEACHER_FG_THRESHOLD",
    "SEG_THRESHOLD",
    "PSEUDO_WEIGHT",
    "SHIFT_FILLS",
    "GAN_GRADIENTS",
]

#: The foreground L1 covers pixels where the teacher's alpha exceeds this (in [-1, 1]).
TEACHER_FG_THRESHOLD = -0.98
#: The composition loss covers pixels where ``seg_gt`` (the segmenter's mask) exceeds this
#: ([-1, 1]).
SEG_THRESHOLD = 0.95
#: Weight of each pseudo-supervised term relative to the GAN term (times ``wt``).
PSEUDO_WEIGHT = 0.05
#: Columns where ``seg`` exceeds this (0.1 in [0, 1]) belong to the subject when bounding the shift.
SHIFT_SEG_THRESHOLD = -0.8
#: What fills the columns a recomposition shift vacates (:func:`compose_with_shift`).
SHIFT_FILLS = ("wrap", "background", "zeros")
#: Whether the GAN term of the student's loss reaches the student (see
#: :class:`TeacherStudentTrainer`).
GAN_GRADIENTS = ("released", "paper")
CHECKPOINT_FORMAT = 2
# Format-2 checkpoints without these keys predate the options and ran these settings.
_LEGACY_CONFIG = {"min_shift": 0.0, "shift_fill": "wrap", "gan_gradient": "paper",
                  "world_size": 1, "anti_shortcut": False}


# --------------------------------------------------------------------------- building blocks


def fresh_student_like(teacher: BackgroundMattingGenerator,
                       seed: int) -> BackgroundMattingGenerator:
    """A newly initialised generator with the teacher's configuration (not a copy of its weights).

    Args:
        teacher: the supervised :class:`~mattinglib.models.bgm.BackgroundMattingGenerator`.
        seed: seed of the initialisation (:func:`mattinglib.models.init.init_weights`).

    Returns:
        A generator in train mode, on the CPU.

    >>> t = bgm_generator(ngf=8, nf_part=8, n_blocks1=1, n_blocks2=1, seed=0)
    >>> s = fresh_student_like(t, seed=1)
    >>> s.config == t.config, bool(torch.equal(s.model_enc1[1].weight, t.model_enc1[1].weight))
    (True, False)
    """
    if not isinstance(teacher, BackgroundMattingGenerator):
        raise ValueError(f"teacher: expected a BackgroundMattingGenerator, "
                         f"got {type(teacher).__name__}")
    return bgm_generator(seed=seed, use_motion_features=teacher.use_motion_features,
                         **teacher.config)


def fresh_discriminator(*, ndf: int = 64, n_layers: int = 3,
                        seed: int = 0) -> MultiscaleDiscriminator:
    """The real-data stage's discriminator: one PatchGAN scale, InstanceNorm, seeded init.

    >>> d = fresh_discriminator(ndf=8, seed=0)
    >>> d.num_D, tuple(d(torch.zeros(1, 3, 32, 32))[0][0].shape)
    (1, (1, 1, 7, 7))
    """
    model = MultiscaleDiscriminator(3, ndf=ndf, n_layers=n_layers, num_D=1, norm="instance")
    return init_weights(model, seed=seed)


def teacher_masks(alpha_teacher: torch.Tensor,
                  seg_gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The two masks of the pseudo-supervision, as float tensors of 0 and 1.

    Args:
        alpha_teacher: ``(B, 1, H, W)`` teacher alpha in ``[-1, 1]``.
        seg_gt: ``(B, 1, H, W)`` the segmentation network's mask in ``[-1, 1]``
            (not the softened guide ``seg`` that the generator is given).

    Returns:
        ``(fg_mask, composition_mask)``: ``alpha_teacher > -0.98`` (where the
        teacher sees any foreground, > ~0.01 in ``[0, 1]``) and ``seg_gt > 0.95``
        (where the segmenter is sure of the subject), both ``(B, 1, H, W)``.

    >>> alpha_t, seg_gt = torch.tensor([[[[-1.0, -0.97]]]]), torch.tensor([[[[0.95, 0.96]]]])
    >>> fg_m, comp_m = teacher_masks(alpha_t, seg_gt)
    >>> fg_m.flatten().tolist(), comp_m.flatten().tolist()
    ([0.0, 1.0], [0.0, 1.0])
    """
    dims = check_shape(alpha_teacher, "B,1,H,W", name="alpha_teacher")
    check_shape(seg_gt, f"{dims['B']},1,{dims['H']},{dims['W']}", name="seg_gt")
    return ((alpha_teacher > TEACHER_FG_THRESHOLD).to(alpha_teacher.dtype),
            (seg_gt > SEG_THRESHOLD).to(seg_gt.dtype))


def draw_shifts(seg: torch.Tensor, generator: torch.Generator, *,
                max_shift: float = 0.1, min_shift: float = 0.0) -> torch.Tensor:
    """Random horizontal shifts that keep the segmented subject inside the frame.

    For each sample, the subject's columns are those where any ``seg > -0.8``
    (0.1 in ``[0, 1]``); the allowed shifts are the integers ``n`` with
    ``-x_first <= n <= W - 1 - x_last`` and ``|n| <= floor(max_shift * W)``
    (only the second bound when no column qualifies; 0 when the subject spans
    the frame). ``n`` is uniform over the allowed shifts with
    ``|n| >= floor(min_shift * W)``. When the subject's bounds leave no such
    shift (a subject too wide to move that far), the sample gets the allowed
    shift of largest magnitude instead (either direction with probability 1/2
    when both reach it; 0 when the subject spans the frame): ``min_shift`` is
    honoured as far as the frame allows, never by pushing the subject out of it.

    Args:
        seg: ``(B, 1, H, W)`` in ``[-1, 1]``.
        generator: a CPU ``torch.Generator`` (one uniform draw per sample).
        max_shift: the largest shift as a fraction of the width, in ``[0, 1]``.
        min_shift: the smallest shift as a fraction of the width, in ``[0, max_shift]``
            (0: any allowed shift, the original's draw; the draws are then those of
            earlier versions of this function, bit for bit).

    Returns:
        int64 ``(B,)`` on the CPU; positive moves right.

    >>> seg = -torch.ones(1, 1, 4, 10); seg[..., 2:4] = 1
    >>> bool(((draw_shifts(seg, torch.Generator().manual_seed(0), max_shift=1.0) + 2) >= 0).all())
    True
    >>> n = draw_shifts(-torch.ones(64, 1, 2, 10), torch.Generator().manual_seed(0),
    ...                 max_shift=0.5, min_shift=0.3)
    >>> sorted(set(n.abs().tolist()))
    [3, 4, 5]
    """
    dims = check_shape(seg, "B,1,H,W", name="seg")
    max_shift = check_number(max_shift, "max_shift", minimum=0, maximum=1)  # of the width
    min_shift = check_number(min_shift, "min_shift", minimum=0, maximum=1)
    if min_shift > max_shift:
        raise ValueError(f"min_shift: expected at most max_shift={max_shift!r}, got {min_shift!r}")
    w = dims["W"]
    limit = int(max_shift * w)
    cols = (seg > SHIFT_SEG_THRESHOLD).any(dim=2)[:, 0].cpu()  # (B, W)
    has = cols.any(dim=1)
    positions = torch.arange(w)
    first = torch.where(cols, positions, w).min(dim=1).values
    last = torch.where(cols, positions, -1).max(dim=1).values
    lo = torch.where(has, torch.clamp(-first, min=-limit), torch.full_like(first, -limit))
    hi = torch.where(has, torch.clamp(w - 1 - last, max=limit), torch.full_like(last, limit))
    u = torch.rand(dims["B"], generator=generator, dtype=torch.float64)
    least = int(min_shift * w)
    if least == 0:
        return lo + torch.floor(u * (hi - lo + 1)).long().clamp(max=hi - lo)
    # The allowed shifts with |n| >= least: [lo, -least] and [least, hi], disjoint.
    n_neg = torch.clamp(-least - lo + 1, min=0)
    n_pos = torch.clamp(hi - least + 1, min=0)
    total = n_neg + n_pos
    k = torch.minimum(torch.floor(u * total).long(), torch.clamp(total - 1, min=0))
    drawn = torch.where(k < n_neg, lo + k, least + k - n_neg)
    # Fallback: the largest shift the bounds allow.
    left_wins = (-lo > hi) | ((-lo == hi) & (u < 0.5))
    largest = torch.where(left_wins, lo, hi)
    return torch.where(total > 0, drawn, largest)


def _roll_columns(x: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    w = x.shape[-1]
    cols = (torch.arange(w, device=x.device)[None, :] - shifts.to(x.device)[:, None]) % w  # (B, W)
    return torch.gather(x, 3, cols[:, None, None, :].expand_as(x))


def vacated_columns(shifts: torch.Tensor, width: int) -> torch.Tensor:
    """Which columns a shift leaves empty: the first ``n`` for ``n > 0``, the last ``|n|`` for
    ``n < 0``.

    Args:
        shifts: int64 ``(B,)``; width: the image width ``W``.

    Returns:
        bool ``(B, W)``.

    >>> vacated_columns(torch.tensor([2, -1, 0]), 4).int().tolist()
    [[1, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
    """
    positions = torch.arange(width, device=shifts.device)[None, :]
    n = shifts[:, None]
    return ((n > 0) & (positions < n)) | ((n < 0) & (positions >= width + n))


def compose_with_shift(alpha: torch.Tensor, fg: torch.Tensor, bg: torch.Tensor,
                       shifts: torch.Tensor, *, fill: str = "wrap") -> torch.Tensor:
    """Move alpha and fg ``shifts[b]`` columns right, then composite over ``bg``.

    What enters the columns the shift vacates (:func:`vacated_columns`) is ``fill``:

    * ``"wrap"``: the columns that leave on the other side (a circular roll),
      as the original's ``compose_image_withshift``. An alpha of 1 everywhere then
      recomposes the whole input frame, rolled.
    * ``"background"``: alpha ``-1`` (transparent) and fg ``0`` there, so the new
      background ``bg`` shows in the vacated strip.
    * ``"zeros"``: alpha and fg hold ``0`` there, literal zeros of the ``[-1, 1]``
      range: alpha 0.5 in ``[0, 1]`` and a mid-grey fg, what zero-padding the
      model-range tensors gives (a half-transparent grey strip).

    Differentiable in ``alpha`` and ``fg`` (whether the GAN's gradient reaches
    the student is the trainer's ``gan_gradient``).

    Args:
        alpha: ``(B, 1, H, W)`` in ``[-1, 1]``.
        fg: ``(B, 3, H, W)``; bg: ``(B, 3, H, W)``, in the same range as each other.
        shifts: int64 ``(B,)`` (e.g. from :func:`draw_shifts`), each in ``(-W, W)``.
        fill: ``"wrap"``, ``"background"`` or ``"zeros"`` (see above).

    Returns:
        ``(B, 3, H, W)`` composite ``a fg' + (1 - a) bg`` with ``a = (alpha' + 1) / 2``,
        in the dtype of the inputs.

    >>> a = -torch.ones(1, 1, 1, 4); a[..., 0] = 1
    >>> fg, bg = torch.ones(1, 3, 1, 4), torch.zeros(1, 3, 1, 4)
    >>> compose_with_shift(a, fg, bg, torch.tensor([2]))[0, 0].tolist()
    [[0.0, 0.0, 1.0, 0.0]]
    >>> full, black = torch.ones(1, 1, 1, 4), -torch.ones(1, 3, 1, 4)
    >>> [compose_with_shift(full, fg, black, torch.tensor([1]), fill=f)[0, 0, 0].tolist()
    ...  for f in ("wrap", "background", "zeros")]
    [[1.0, 1.0, 1.0, 1.0], [-1.0, 1.0, 1.0, 1.0], [-0.5, 1.0, 1.0, 1.0]]
    """
    if fill not in SHIFT_FILLS:
        raise ValueError(f"fill: expected one of {SHIFT_FILLS}, got {fill!r}")
    dims = check_shape(fg, "B,3,H,W", name="fg")
    shape = f"{dims['B']},{{}},{dims['H']},{dims['W']}"
    check_shape(alpha, shape.format(1), name="alpha")
    check_shape(bg, shape.format(3), name="bg")
    check_shape(shifts, str(dims["B"]), name="shifts")
    alpha, fg = _roll_columns(alpha, shifts), _roll_columns(fg, shifts)
    if fill != "wrap":
        if bool((shifts.abs() >= dims["W"]).any()):
            raise ValueError(f"shifts: expected |shift| < W={dims['W']}, got {shifts.tolist()}")
        empty = vacated_columns(shifts.to(alpha.device), dims["W"])[:, None, None, :]
        alpha = alpha.masked_fill(empty, -1.0 if fill == "background" else 0.0)
        fg = fg.masked_fill(empty, 0.0)
    a = (alpha + 1) / 2
    return fg * a + (1 - a) * bg


def anti_shortcut_composite(alpha: torch.Tensor, image: torch.Tensor, bg: torch.Tensor,
                            shifts: torch.Tensor, *, fill: str = "wrap") -> torch.Tensor:
    """Each frame cut out with the *previous* frame's alpha and recomposed: a fake for ``D``.

    Sample ``b`` gets ``alpha[(b - 1) % B]`` (the batch rolled by one, no random draw)
    as its matte, the frame ``image[b]`` itself as the foreground, and is recomposed
    over ``bg[b]`` with ``shifts[b]`` like the student's fake
    (:func:`compose_with_shift`). The pasted region does not follow the frame's subject
    and carries the frame's old background with it, so it should look wrong. (For
    alpha = 1 everywhere it equals the student's own fake, the recomposed frame.)

    Args:
        alpha: ``(B, 1, H, W)`` in ``[-1, 1]``, ``B >= 2`` (the student's, detached).
        image: ``(B, 3, H, W)``, the frames; bg: ``(B, 3, H, W)``, the new backgrounds.
        shifts: int64 ``(B,)``; fill: as :func:`compose_with_shift`.

    >>> alpha = torch.stack([torch.full((1, 1, 2), v) for v in (-1.0, 1.0)])
    >>> image, bg = torch.ones(2, 3, 1, 2), -torch.ones(2, 3, 1, 2)
    >>> anti_shortcut_composite(alpha, image, bg, torch.zeros(2, dtype=torch.long))[:, 0, 0]
    tensor([[ 1.,  1.],
            [-1., -1.]])
    """
    if alpha.shape[0] < 2:
        raise ValueError(f"alpha: needs another frame's alpha, so a batch of at least 2, "
                         f"got {alpha.shape[0]}")
    return compose_with_shift(torch.roll(alpha, 1, dims=0), image, bg, shifts, fill=fill)


def pseudo_weight(step: int, steps_per_epoch: int, halve_every_epochs: int = 2) -> float:
    """``wt`` at (0-based) ``step``: 1, halved at the end of epochs 0, ``h``, ``2h``, ...
    (``h = halve_every_epochs``; an epoch is ``steps_per_epoch`` steps).

    The original's schedule: its halving follows every epoch ``e`` with
    ``e % 2 == 0``, so epoch ``e`` has seen ``ceil(e / h)`` halvings.

    >>> [pseudo_weight(s, 10) for s in (0, 9, 10, 29, 30, 50)]
    [1.0, 1.0, 0.5, 0.5, 0.25, 0.125]
    """
    epoch = step // steps_per_epoch
    return 0.5 ** ((epoch + halve_every_epochs - 1) // halve_every_epochs)


# --------------------------------------------------------------------------- the data stream


def _pass_order(seed: int, n: int, pass_index: int) -> torch.Tensor:
    mixed = int(np.random.SeedSequence([seed, pass_index]).generate_state(1)[0])
    return torch.randperm(n, generator=torch.Generator().manual_seed(mixed))


class _StepBatches(Sampler[list[int]]):
    """The sample indices of steps ``start .. stop - 1``: a pure function of (seed, step).

    ``part=(r, k)``: only the ``r``-th of ``k`` equal slices of each step's batch
    (process ``r`` of ``k`` under ``torchrun``).
    """

    def __init__(self, n: int, batch_size: int, seed: int, start: int, stop: int, *,
                 part: tuple[int, int] = (0, 1)) -> None:
        self.n, self.batch_size, self.seed, self.start, self.stop = n, batch_size, seed, start, stop
        self.per_pass = n // batch_size
        rank, world = part
        share = batch_size // world
        self.slice = slice(rank * share, (rank + 1) * share)

    def __iter__(self):
        order, current = None, -1
        for step in range(self.start, self.stop):
            p, b = divmod(step, self.per_pass)
            if p != current:
                order, current = _pass_order(self.seed, self.n, p), p
            yield order[b * self.batch_size:(b + 1) * self.batch_size][self.slice].tolist()

    def __len__(self) -> int:
        return max(self.stop - self.start, 0)


# --------------------------------------------------------------------------- the trainer


class TeacherStudentTrainer(TrainingLoop):
    """Background Matting's self-supervised adversarial stage (see the module docstring).

    Args:
        teacher: the supervised generator; frozen here (eval mode, no gradients,
            run under ``no_grad``), never modified.
        student: a *fresh* generator of the same configuration
            (:func:`fresh_student_like`); trained.
        discriminator: e.g. :func:`fresh_discriminator`; trained.
        data: a map-style dataset of dicts with ``image (3, H, W)``, ``bg (3, H, W)``,
            ``seg (1, H, W)`` (the generator's soft guide), ``seg_gt (1, H, W)`` (the
            segmenter's mask), ``multi_fr (4, H, W)`` in ``[-1, 1]``, and
            ``back_rnd (3, H, W)`` unless ``random_backgrounds`` is given
            (e.g. :class:`~mattinglib.data.target_domain.TargetDomainDataset`).
        random_backgrounds: the separate random backgrounds, a tensor
            ``(N, 3, H, W)`` in ``[-1, 1]``; each step draws one per sample.
            ``None``: use each sample's ``back_rnd``.
        batch_size: samples per step and process. Under ``torchrun`` (see
            :mod:`mattinglib.train.distributed`) each of the ``N`` processes trains on
            its own slice of a step's ``N * batch_size`` samples; the gradients of the
            student and of ``D`` are averaged over the processes before each update,
            the logged terms too; rank 0 alone validates, writes checkpoints and shows
            the progress bar. A resume needs the same number of processes.
        max_steps: steps of the whole run (a resumed run counts the earlier ones).
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
        lr_g, lr_d: Adam learning rates of the student and the discriminator.
        d_every: ``D`` is stepped at steps ``i`` with ``i % d_every == 0``.
        halve_every_epochs: ``wt`` halves after epoch 0 and then every this many
            epochs (:func:`pseudo_weight`).
        steps_per_epoch: the epoch of the ``wt`` schedule (default ``len(data) // batch_size``).
        max_shift: bound of the recomposition shift, a fraction of the width (:func:`draw_shifts`).
        min_shift: the smallest shift, a fraction of the width, where the subject allows
            it (:func:`draw_shifts`; default 0, the original's draw).
        shift_fill: what enters the columns the shift vacates: ``"wrap"`` (default: the
            original's circular roll), ``"background"`` (the new background shows there)
            or ``"zeros"`` (:func:`compose_with_shift`).
        gan_gradient: ``"released"`` (default) or ``"paper"``. ``"released"`` detaches
            the recomposition before ``D`` in the student's GAN term, as the authors'
            released code does (its ``torch.autograd.Variable`` wrapper): ``gan_g`` is
            still computed and logged and ``D`` still trains, but no gradient of it
            reaches the student, so ``gan_weight`` does not change the student.
            ``"paper"`` keeps the recomposition attached, as the paper describes: the
            student is pushed to fool ``D`` (with a wrap-around shift, alpha = 1
            everywhere recomposes the real frame, which ``D`` must call real).
            The default follows this project's rule for Background Matting: the
            released code's behaviour by default, the paper's behind an option.
            Before this option existed the trainer always ran ``"paper"``;
            checkpoints from then resume only with ``gan_gradient="paper"``.
        gan_weight: multiplies the GAN term of the student's loss. The recipe is 1;
            0 is the ablation "pseudo-supervision only" (``D`` still trains and
            ``gan_g`` is still logged, but it no longer reaches the student), which
            shows how much of the student's result is the teacher's and how much
            the critic's. It matters only with ``gan_gradient="paper"``: with
            ``"released"`` the GAN term never reaches the student, whatever its weight.
        anti_shortcut: also show ``D``, as fake, each frame cut out with another frame's
            alpha (:func:`anti_shortcut_composite`; see the module docstring). Needs
            ``batch_size >= 2``. Default ``False`` (neither the paper nor the released code).
        seed: seeds the data order and the trainer's generator (not the models:
            initialise those with their own seeds).
        checkpoint_dir: where ``step_XXXXXXXX.pt`` files go (``None``: none).
        checkpoint_every: save after every this many steps (and after the last).
        keep_checkpoints: how many recent checkpoints to keep (``None``, the default: all,
            so that the curves of a run can be read back from any of its steps).
        val_data: a dataset with held-out truth (``ground_truth(i)``, e.g. a
            :class:`~mattinglib.data.target_domain.TargetDomainDataset` of other
            captures); the student is scored on it by :func:`evaluate_on_target`
            before the first step, every ``val_every`` steps and after the last.
            ``None``: no validation (a real capture has no truth).
        monitor_data: unlabelled captures (a map-style dataset of the training keys,
            e.g. a held-out :class:`~mattinglib.data.target_domain.CapturedVideoDataset`)
            on which each validation records the label-free scores of
            :func:`label_free_scores` (``alpha_drift``, ``teacher_l1``, ``student_alpha``,
            ``teacher_alpha``). ``None``: they are computed on ``val_data`` when given
            (reading only ``val_data[i]``, never its truth).
        val_every: validate after every this many steps (needs ``val_data`` or
            ``monitor_data``).
        num_workers: ``DataLoader`` worker processes.
        callbacks: functions ``callback(trainer, step, logged)`` called after every step
            (after validation and checkpointing); an exception stops the run.
        progress: show a progress bar.

    The loop around the steps (resume, checkpoints, Ctrl-C, callbacks) is
    :class:`~mattinglib.train.loop.TrainingLoop`'s, the same as the supervised
    :class:`~mattinglib.train.trainer.Trainer`'s; this class provides the step with its
    two optimisers, its data order and what its checkpoints hold.

    Attributes:
        step: steps done; history: a :class:`~mattinglib.train.history.History` with
            the terms ``gan_g, alpha, fg_l1, composition, total_g, d_real, d_fake,
            d_total, wt, d_step`` (1 where ``D`` was stepped), ``random_bg`` (1 where
            the random backgrounds were used), ``d_anti`` with ``anti_shortcut``, per
            step, and with ``val_data`` the
            student's ``sad, mse, grad, conn`` per validation (step 0 = the fresh
            student) beside the frozen teacher's, ``teacher_sad, teacher_mse, ...``
            (the same at every validation: the teacher does not change), and the
            label-free ``alpha_drift, teacher_l1, student_alpha, teacher_alpha``
            (with ``val_data`` or ``monitor_data``).
        optimizer_g, optimizer_d: the two Adam optimisers.
    """

    def __init__(self, teacher: nn.Module, student: nn.Module, discriminator: nn.Module,
                 data: Any, *,
                 random_backgrounds: torch.Tensor | None = None, batch_size: int, max_steps: int,
                 device: str | torch.device = "auto", lr_g: float = 1e-4, lr_d: float = 1e-5,
                 d_every: int = 5, halve_every_epochs: int = 2, steps_per_epoch: int | None = None,
                 max_shift: float = 0.1, min_shift: float = 0.0, shift_fill: str = "wrap",
                 gan_gradient: str = "released", gan_weight: float = 1.0,
                 anti_shortcut: bool = False, seed: int = 0,
                 checkpoint_dir: str | os.PathLike | None = None,
                 checkpoint_every: int | None = None, keep_checkpoints: int | None = None,
                 val_data: Any = None, monitor_data: Any = None,
                 val_every: int | None = None, num_workers: int = 0,
                 callbacks: Sequence[Callback] = (), progress: bool = True) -> None:
        for name, module in (("teacher", teacher), ("student", student),
                             ("discriminator", discriminator)):
            if not isinstance(module, nn.Module):
                raise ValueError(f"{name}: expected a torch.nn.Module, got {type(module).__name__}")
        if student is teacher:
            raise ValueError("student: must be a separate, freshly initialised model "
                             "(see fresh_student_like), not the teacher itself")
        teacher_storage = {p.data_ptr() for p in teacher.parameters()}
        if any(p.data_ptr() in teacher_storage for p in student.parameters()):
            raise ValueError("student: shares parameters with the teacher; "
                             "build it with fresh_student_like")
        if not (hasattr(data, "__len__") and hasattr(data, "__getitem__")):
            raise ValueError(f"data: expected a map-style dataset, got {type(data).__name__}")
        check_int(batch_size, "batch_size", minimum=1)
        check_int(max_steps, "max_steps", minimum=1)
        check_int(d_every, "d_every", minimum=1)
        check_int(halve_every_epochs, "halve_every_epochs", minimum=1)
        check_int(steps_per_epoch, "steps_per_epoch", minimum=1, optional=True)
        check_int(checkpoint_every, "checkpoint_every", minimum=1, optional=True)
        check_int(keep_checkpoints, "keep_checkpoints", minimum=1, optional=True)
        if not all(callable(cb) for cb in callbacks):
            raise ValueError("callbacks: expected functions (trainer, step, logged) -> None")
        check_int(val_every, "val_every", minimum=1, optional=True)
        if val_every is not None and val_data is None and monitor_data is None:
            raise ValueError("val_data: val_every given but no data to validate on "
                             "(give val_data or monitor_data)")
        if monitor_data is not None and not (hasattr(monitor_data, "__getitem__")
                                             and hasattr(monitor_data, "__len__")
                                             and len(monitor_data)):
            raise ValueError(f"monitor_data: expected a non-empty map-style dataset, "
                             f"got {type(monitor_data).__name__}")
        if val_data is not None and not (hasattr(val_data, "ground_truth")
                                         and hasattr(val_data, "__len__") and len(val_data)):
            raise ValueError(f"val_data: expected a non-empty dataset with ground_truth(i), "
                             f"got {type(val_data).__name__}")
        check_int(num_workers, "num_workers", minimum=0)
        check_int(seed, "seed", minimum=0)
        lr_g = check_number(lr_g, "lr_g", minimum=0, min_open=True)
        lr_d = check_number(lr_d, "lr_d", minimum=0, min_open=True)
        gan_weight = check_number(gan_weight, "gan_weight", minimum=0)
        max_shift = check_number(max_shift, "max_shift", minimum=0, maximum=1)  # of the width
        min_shift = check_number(min_shift, "min_shift", minimum=0, maximum=1)
        if min_shift > max_shift:
            raise ValueError(f"min_shift: expected at most max_shift={max_shift!r}, "
                             f"got {min_shift!r}")
        if not isinstance(shift_fill, str):
            raise TypeError(f"shift_fill: expected a str, got {type(shift_fill).__name__}")
        if shift_fill not in SHIFT_FILLS:
            raise ValueError(f"shift_fill: expected one of {SHIFT_FILLS}, got {shift_fill!r}")
        if not isinstance(gan_gradient, str):
            raise TypeError(f"gan_gradient: expected a str, got {type(gan_gradient).__name__}")
        if gan_gradient not in GAN_GRADIENTS:
            raise ValueError(f"gan_gradient: expected one of {GAN_GRADIENTS}, "
                             f"got {gan_gradient!r}")
        if checkpoint_every is not None and checkpoint_dir is None:
            raise ValueError("checkpoint_dir: checkpoint_every given but no folder to write to")
        if len(data) < batch_size:
            raise ValueError(f"data: {len(data)} samples cannot fill one batch of "
                             f"batch_size={batch_size}")
        if random_backgrounds is not None:
            check_shape(random_backgrounds, "N,3,H,W", name="random_backgrounds")

        self.dist, self.device = setup_distributed(get_device(device))
        if len(data) < batch_size * self.dist.world_size:
            raise ValueError(f"data: {len(data)} samples cannot fill one batch of "
                             f"batch_size={batch_size} in each of {self.dist.world_size} processes")
        self.teacher = teacher.to(self.device).eval().requires_grad_(False)
        self.student = student.to(self.device).train()
        self.discriminator = discriminator.to(self.device).train()
        self.random_backgrounds = random_backgrounds
        self.data, self.batch_size, self.max_steps = data, batch_size, max_steps
        self.d_every, self.halve_every_epochs = d_every, halve_every_epochs
        self.max_shift, self.min_shift, self.shift_fill = max_shift, min_shift, shift_fill
        self.gan_gradient = gan_gradient
        self.gan_weight = float(gan_weight)
        self.anti_shortcut = check_bool(anti_shortcut, "anti_shortcut")
        if self.anti_shortcut and batch_size < 2:
            raise ValueError(f"anti_shortcut: needs another frame's alpha in the batch, so "
                             f"batch_size >= 2 per process; got batch_size={batch_size}")
        self.steps_per_epoch = steps_per_epoch or len(data) // (batch_size * self.dist.world_size)
        self.seed, self.num_workers, self.progress = seed, num_workers, progress
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self.checkpoint_every, self.keep_checkpoints = checkpoint_every, keep_checkpoints
        self.callbacks = list(callbacks)
        self.val_data, self.val_every, self.monitor_data = val_data, val_every, monitor_data
        self._teacher_val: dict[str, float] | None = None
        self.optimizer_g = torch.optim.Adam(self.student.parameters(), lr=lr_g)
        self.optimizer_d = torch.optim.Adam(self.discriminator.parameters(), lr=lr_d)
        self.generator = torch.Generator().manual_seed(seed)
        self.step = 0
        self.history = History()

    # -- settings ---------------------------------------------------------------------------
    @property
    def wt(self) -> float:
        """The weight of the pseudo-supervision at the next step."""
        return pseudo_weight(self.step, self.steps_per_epoch, self.halve_every_epochs)

    @property
    def config(self) -> dict[str, Any]:
        """Settings saved with each checkpoint; those that fix the run are checked on resume."""
        return {"seed": self.seed, "batch_size": self.batch_size, "num_samples": len(self.data),
                "d_every": self.d_every, "halve_every_epochs": self.halve_every_epochs,
                "steps_per_epoch": self.steps_per_epoch, "max_shift": self.max_shift,
                "min_shift": self.min_shift, "shift_fill": self.shift_fill,
                "gan_gradient": self.gan_gradient,
                "gan_weight": self.gan_weight, "anti_shortcut": self.anti_shortcut,
                "max_steps": self.max_steps,
                "world_size": self.dist.world_size}

    # -- one step ---------------------------------------------------------------------------
    def _random_backgrounds(self, batch: Mapping[str, torch.Tensor], b: int) -> torch.Tensor:
        if self.random_backgrounds is None:
            if "back_rnd" not in batch:
                raise ValueError("data: samples carry no 'back_rnd' and no "
                                 "random_backgrounds were given")
            return batch["back_rnd"]
        pick = torch.randint(len(self.random_backgrounds), (b,), generator=self.generator)
        return self.random_backgrounds[pick].to(self.device)

    def train_step(self, batch: Mapping[str, torch.Tensor]) -> dict[str, float]:
        """One iteration on a batch (a dict of ``(B, C, H, W)`` tensors); returns the logged terms.

        Raises:
            NonFiniteLossError: a loss term is NaN or infinite (before any update).
        """
        missing = [k for k in (*GENERATOR_INPUTS, "seg_gt") if k not in batch]
        if missing:
            raise ValueError(f"batch: missing the keys {missing} (TargetDomainDataset and "
                             "CapturedVideoDataset provide them all)")
        batch = {k: v.to(self.device) for k, v in batch.items()}
        image, bg, seg, multi = (batch[k] for k in GENERATOR_INPUTS)
        i, wt = self.step, self.wt
        b = image.shape[0]

        with torch.no_grad():
            alpha_t, fg_t = self.teacher(image, bg, seg, multi)
        alpha_s, fg_s = self.student(image, bg, seg, multi)
        fg_mask, comp_mask = teacher_masks(alpha_t, batch["seg_gt"])
        terms = {
            "alpha": normalized_l1(alpha_t, alpha_s) + 0.5 * gradient_loss(alpha_t, alpha_s),
            "fg_l1": normalized_l1(fg_t, fg_s, fg_mask),
            "composition": composition_loss(image, alpha_s, fg_s, bg, comp_mask),
        }

        # The adversarial composite; all draws from the trainer's generator, in a fixed order.
        perm = torch.randperm(b, generator=self.generator)
        use_random = bool(torch.rand((), generator=self.generator) < 0.5)
        target_bg = self._random_backgrounds(batch, b) if use_random else bg[perm.to(self.device)]
        shifts = draw_shifts(seg, self.generator, max_shift=self.max_shift,
                             min_shift=self.min_shift)
        fg_rep = replace_opaque_foreground(fg_s, image, alpha_s, threshold=OPAQUE_THRESHOLD)
        fake = compose_with_shift(alpha_s, fg_rep, target_bg, shifts, fill=self.shift_fill)

        self.discriminator.requires_grad_(False)
        # "released": the original's Variable(...) wrapper cuts the student out of this term.
        judged = fake.detach() if self.gan_gradient == "released" else fake
        terms["gan_g"] = lsgan_loss(self.discriminator(judged), True)
        terms["total_g"] = self.gan_weight * terms["gan_g"] + wt * PSEUDO_WEIGHT * (
            terms["composition"] + terms["alpha"] + terms["fg_l1"])
        g_values = self._check_finite(terms)
        self.optimizer_g.zero_grad(set_to_none=True)
        terms["total_g"].backward()
        self._average_gradients(self.student)
        self.optimizer_g.step()

        self.discriminator.requires_grad_(True)
        d_step = i % self.d_every == 0
        with torch.set_grad_enabled(d_step):
            d_fake = lsgan_loss(self.discriminator(fake.detach()), False)
            d_real = lsgan_loss(self.discriminator(image), True)
            d_terms = {"d_real": d_real, "d_fake": d_fake}
            if self.anti_shortcut:
                anti = anti_shortcut_composite(alpha_s.detach(), image, target_bg, shifts,
                                               fill=self.shift_fill)
                d_terms["d_anti"] = lsgan_loss(self.discriminator(anti), False)
                d_fake = 0.5 * (d_fake + d_terms["d_anti"])
            d_total = 0.5 * (d_real + d_fake)
        d_terms["d_total"] = d_total
        d_values = self._check_finite(d_terms)
        if d_step:
            self.optimizer_d.zero_grad(set_to_none=True)
            d_total.backward()
            self._average_gradients(self.discriminator)
            self.optimizer_d.step()

        names = [*terms, *d_terms]
        logged = dict(zip(names, torch.cat([g_values, d_values]).tolist()))
        logged.update(wt=wt, d_step=float(d_step), random_bg=float(use_random))
        return logged

    def _check_finite(self, terms: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The terms averaged over the processes; raises (in every process) if one is not finite."""
        values = all_mean(torch.stack([t.detach().float().reshape(()) for t in terms.values()]))
        finite = values.isfinite()
        if not bool(finite.all()):
            bad = [n for n, ok in zip(terms, finite.tolist()) if not ok]
            raise NonFiniteLossError(
                f"step {self.step}: non-finite loss terms {bad}; no update was applied and no "
                "checkpoint written (lower the learning rates or check the inputs)")
        return values

    def _average_gradients(self, module: nn.Module) -> None:
        """Under ``torchrun``: every process gets the mean of the processes' gradients."""
        if not self.dist.is_distributed:
            return
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        flat = torch.cat([g.reshape(-1) for g in grads])
        torch.distributed.all_reduce(flat)
        flat /= self.dist.world_size
        for g, avg in zip(grads, torch.split(flat, [g.numel() for g in grads])):
            g.copy_(avg.view_as(g))

    def _broadcast_weights(self) -> None:
        """Under ``torchrun``: every process starts from rank 0's student and discriminator."""
        if not self.dist.is_distributed:
            return
        for module in (self.student, self.discriminator):
            for tensor in [*module.parameters(), *module.buffers()]:
                torch.distributed.broadcast(tensor.data, src=0)

    # -- validation -------------------------------------------------------------------------
    def validate(self) -> dict[str, float]:
        """Score the student (and, once, the teacher); record and return the scores.

        Returns:
            With ``val_data``: ``{"sad", "mse", "grad", "conn", "mean_alpha",
            "sad_image", "sad_background"}`` of the student and the same keys with a
            ``teacher_`` prefix (see
            :func:`evaluate_on_target`). With ``monitor_data``, or else ``val_data``:
            the label-free ``{"alpha_drift", "teacher_l1", "student_alpha",
            "teacher_alpha"}`` of :func:`label_free_scores`.
        """
        if self.val_data is None and self.monitor_data is None:
            raise ValueError("val_data: no validation data was given to the trainer "
                             "(give val_data or monitor_data)")
        metrics: dict[str, float] = {}
        if self.val_data is not None:
            keys = ("sad", "mse", "grad", "conn", "mean_alpha", "sad_image", "sad_background")
            if self._teacher_val is None:
                scores = evaluate_on_target(self.teacher, self.val_data, device=self.device)
                self._teacher_val = {f"teacher_{k}": scores[k] for k in keys}
            scores = evaluate_on_target(self.student, self.val_data, device=self.device)
            metrics = {k: scores[k] for k in keys} | self._teacher_val
        unlabelled = self.monitor_data if self.monitor_data is not None else self.val_data
        metrics |= label_free_scores(self.student, self.teacher, unlabelled, device=self.device)
        self.history.log_val(self.step, metrics)
        return metrics

    def validation_due(self) -> bool:
        """Validate now? Before the first step, every ``val_every`` steps, after the last."""
        if not self.dist.is_main or (self.val_data is None and self.monitor_data is None) or (
                self.history.val_steps and self.history.val_steps[-1] == self.step):
            return False
        return (self.step == 0 or self.step == self.max_steps
                or bool(self.val_every and self.step % self.val_every == 0))

    # -- checkpoints ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything a resume needs (the teacher is an input of the run, not part of it)."""
        return {"format": CHECKPOINT_FORMAT, "kind": self.checkpoint_kind, "step": self.step,
                "wt": self.wt,
                "student": self.student.state_dict(),
                "discriminator": self.discriminator.state_dict(),
                "optimizer_g": self.optimizer_g.state_dict(),
                "optimizer_d": self.optimizer_d.state_dict(),
                "generator": self.generator.get_state(), "rng": get_rng_state(),
                "history": self.history.to_dict(), "config": self.config}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a checkpoint made by :meth:`state_dict`."""
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"state: checkpoint format {state.get('format')!r}, this trainer "
                             f"reads format {CHECKPOINT_FORMAT} (format 1 predates the "
                             "original's wt schedule and the seg_gt composition mask); "
                             "train again in a new checkpoint folder")
        # Checkpoints written before these options existed ran the values below.
        saved, mine = {**_LEGACY_CONFIG, **state["config"]}, self.config
        for key in ("seed", "batch_size", "num_samples", "d_every", "halve_every_epochs",
                    "steps_per_epoch", "max_shift", "min_shift", "shift_fill", "gan_gradient",
                    "gan_weight", "anti_shortcut", "world_size"):
            if saved[key] != mine[key]:
                raise ValueError(f"state: the checkpoint was written with {key}={saved[key]!r}, "
                                 f"this trainer has {key}={mine[key]!r}; resuming needs the "
                                 "same run")
        for key in ("student", "discriminator"):
            load_into(getattr(self, key), state[key], name="state",
                      source=f"the checkpoint's {key}", model_desc=f"this trainer's {key}",
                      hint="resuming needs the networks the checkpoint was written with")
        self.optimizer_g.load_state_dict(state["optimizer_g"])
        self.optimizer_d.load_state_dict(state["optimizer_d"])
        self.generator.set_state(state["generator"].cpu())
        set_rng_state(state["rng"])
        self.history = History.from_dict(state["history"])
        self.step = int(state["step"])

    # -- the parts of the loop (mattinglib.train.loop) ---------------------------------------
    progress_desc = "teacher-student"
    checkpoint_kind = "teacher-student"

    def trained_modules(self) -> dict[str, nn.Module]:
        return {"student": self.student, "discriminator": self.discriminator}

    def before_steps(self) -> None:
        self.teacher.eval()
        self.student.train()
        self.discriminator.train()
        if self.validation_due():  # the fresh student, the baseline of the curves
            self.validate()
        self._broadcast_weights()

    def batch_stream(self) -> Iterator[dict[str, torch.Tensor]]:
        world, rank = self.dist.world_size, self.dist.rank
        # Each step takes world * batch_size samples; process r trains on the r-th slice.
        order = _StepBatches(len(self.data), self.batch_size * world, self.seed, self.step,
                             self.max_steps, part=(rank, world))
        if self.num_workers:  # pooled captures are made here, shared by the forked workers
            prepare_pools(self.data, self.num_workers)
        # A generator: the loop's close() at the end (or on an error) stops the workers.
        yield from DataLoader(self.data, batch_sampler=order, num_workers=self.num_workers,
                              collate_fn=default_collate)

    def bar_terms(self, logged: Mapping[str, float]) -> dict[str, str]:
        return {"g": f"{logged['total_g']:.4g}", "d": f"{logged['d_total']:.4g}"}

    def report_validation(self, bar: Any, metrics: Mapping[str, float]) -> dict[str, str]:
        if self.progress and "sad" in metrics:
            bar.write(f"step {self.step}: student SAD {metrics['sad']:.4g}, "
                      f"teacher {metrics['teacher_sad']:.4g}")
        return {}


# --------------------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate_on_target(model: nn.Module, dataset: Any, *, device: str | torch.device = "auto",
                       batch_size: int = 8, kernel_size: int = 3,
                       iterations: int = 5) -> dict[str, float]:
    """The official matting errors of a generator on a target domain with held-out truth.

    Each sample's inputs (``dataset[i]``, ``[-1, 1]``) go through ``model`` in
    eval mode; its alpha, mapped to ``[0, 1]``, is compared with
    ``dataset.ground_truth(i)["alpha"]`` by :func:`mattinglib.metrics.evaluate`
    inside a trimap made from the true alpha
    (:func:`mattinglib.trimap.trimap_from_alpha` with ``kernel_size`` and ``iterations``).

    Args:
        model: a Background Matting generator (teacher or student); its train/eval
            mode is restored afterwards.
        dataset: e.g. :class:`~mattinglib.data.target_domain.TargetDomainDataset`
            (it needs ``ground_truth(i)``).
        device: where to run the model.
        batch_size: samples per forward pass.

    Returns:
        ``{"sad", "mse", "grad", "conn"}``, the mean over the dataset (units as in
        :func:`mattinglib.metrics.evaluate`), ``"count"``, and ``"mean_alpha"``, the
        model's mean alpha over all pixels in ``[0, 1]`` (compare it with the truth's:
        a student drifting towards "everything is foreground", the GAN's trivial
        answer, shows here first).

        Also the **whole-image** errors ``"sad_image"`` (sum of ``|pred - truth|`` over
        every pixel, / 1000, as SAD) and ``"mse_image"``, with ``sad_image`` split by
        the trimap's regions: ``"sad_band"`` (its unknown band, the official SAD's
        region), ``"sad_background"`` and ``"sad_foreground"`` (its definite regions),
        so ``sad_image = sad_band + sad_background + sad_foreground`` per sample. The
        official SAD scores only the band, where a trimap-based method has work to do;
        Background Matting gets no trimap, and the errors a capture causes it (a
        misaligned plate, the subject's shadow, a plate exposed differently) lie mostly
        in the background, which only ``sad_image`` sees.
    """
    if not hasattr(dataset, "ground_truth"):
        raise ValueError(f"dataset: expected a dataset with ground_truth(i), "
                         f"got {type(dataset).__name__}")
    check_int(batch_size, "batch_size", minimum=1)  # before the model is moved
    dev = get_device(device)
    was_training = model.training
    model.to(dev).eval()

    def predict(batch, indices):
        alpha, _ = model(*(batch[k].to(dev) for k in GENERATOR_INPUTS))
        truths = np.stack([dataset.ground_truth(i)["alpha"][0].numpy() for i in indices])
        trimaps = np.stack([trimap_from_alpha(t, kernel_size=kernel_size, iterations=iterations)
                            for t in truths])
        return from_model_range(alpha.float()).cpu().numpy()[:, 0], truths, trimaps

    try:
        return evaluate_dataset(predict, dataset, batch_size=batch_size, whole_image=True,
                                name="dataset")
    finally:
        model.train(was_training)


@torch.no_grad()
def label_free_scores(student: nn.Module, teacher: nn.Module, dataset: Any, *,
                      device: str | torch.device = "auto",
                      batch_size: int = 8) -> dict[str, float]:
    """How far the student's mattes have moved from the teacher's, without any ground truth.

    An early-stopping signal for real captures, which have no truth to score.
    Only ``dataset[i]`` (the inputs ``image, bg, seg, multi_fr``) is read: never
    ``ground_truth``, ``alpha`` or ``fg``. Both generators run in eval mode (their
    modes are restored).

    The choice: the student's **mean alpha drift** from the teacher's. The GAN's
    trivial answer is alpha = 1 everywhere (with the original's wrap-around
    shift, that recomposes the real frame itself), and a student heading there
    shows it as a mean alpha that rises above the teacher's on the same frames,
    while the teacher, frozen, is a fixed reference. A discriminator's score gap
    was not chosen: it is relative to a D that changes during training, and the
    collapse is exactly the case where D cannot tell fake from real, which a
    closing gap would report as success.

    Args:
        student, teacher: Background Matting generators.
        dataset: a map-style dataset of dicts with the generator's inputs in ``[-1, 1]``.
        device: where to run the models.
        batch_size: samples per forward pass.

    Returns:
        All in ``[0, 1]`` alpha units, means over every pixel of every sample:
        ``student_alpha`` and ``teacher_alpha`` (mean alphas), ``alpha_drift``
        (``student_alpha - teacher_alpha``: positive means the student calls more
        of the frame foreground; a collapse to alpha = 1 drives it towards
        ``1 - teacher_alpha``) and ``teacher_l1`` (mean ``|alpha_s - alpha_t|``).

    >>> from mattinglib.data.target_domain import TargetDomainDataset
    >>> t = bgm_generator(ngf=8, nf_part=8, n_blocks1=1, n_blocks2=1, seed=1)
    >>> scores = label_free_scores(t, t, TargetDomainDataset(2, 32), device="cpu")
    >>> scores["alpha_drift"], scores["teacher_l1"]
    (0.0, 0.0)
    """
    if not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__") and len(dataset)):
        raise ValueError(f"dataset: expected a non-empty map-style dataset, "
                         f"got {type(dataset).__name__}")
    check_int(batch_size, "batch_size", minimum=1)
    dev = get_device(device)
    modes = [(m, m.training) for m in (student, teacher)]
    sums = torch.zeros(3, dtype=torch.float64)  # student alpha, teacher alpha, |difference|
    pixels = 0
    try:
        for m in (student, teacher):
            m.to(dev).eval()
        for start in range(0, len(dataset), batch_size):
            batch = default_collate([dataset[i] for i in
                                     range(start, min(start + batch_size, len(dataset)))])
            inputs = [batch[k].to(dev) for k in GENERATOR_INPUTS]
            a_s = from_model_range(student(*inputs)[0].float()).double()
            a_t = from_model_range(teacher(*inputs)[0].float()).double()
            sums += torch.stack([a_s.sum(), a_t.sum(), (a_s - a_t).abs().sum()]).cpu()
            pixels += a_s.numel()
    finally:
        for m, mode in modes:
            m.train(mode)
    student_alpha, teacher_alpha, l1 = (sums / pixels).tolist()
    return {"alpha_drift": student_alpha - teacher_alpha, "teacher_l1": l1,
            "student_alpha": student_alpha, "teacher_alpha": teacher_alpha}
