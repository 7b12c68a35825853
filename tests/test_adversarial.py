"""The teacher-student adversarial stage (mattinglib.train.adversarial)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from mattinglib.data.target_domain import TargetDomainDataset
from mattinglib.losses.bgm import pseudo_supervised_loss
from mattinglib.models.bgm import bgm_generator
from mattinglib.train import adversarial
from mattinglib.train.adversarial import (
    TeacherStudentTrainer,
    compose_with_shift,
    draw_shifts,
    evaluate_on_target,
    fresh_discriminator,
    fresh_student_like,
    label_free_scores,
    pseudo_weight,
    teacher_masks,
    vacated_columns,
)
from mattinglib.train.checkpoint import checkpoint_path, load_checkpoint
from mattinglib.train.loop import checkpoint_kind
from mattinglib.train.trainer import NonFiniteLossError, Trainer

TINY = dict(ngf=8, nf_part=8, n_blocks1=1, n_blocks2=1)
SIZE = 32
STEPS = 11


def make_trainer(data, max_steps, **kwargs):
    teacher = bgm_generator(**TINY, seed=1)
    options = dict(batch_size=2, max_steps=max_steps, device="cpu", progress=False,
                   steps_per_epoch=2, seed=5)
    options.update(kwargs)
    return TeacherStudentTrainer(teacher, fresh_student_like(teacher, seed=2),
                                 fresh_discriminator(ndf=8, seed=3), data, **options)


@pytest.fixture(scope="module")
def data():
    return TargetDomainDataset(6, SIZE, seed=0)


@pytest.fixture(scope="module")
def run(data, tmp_path_factory):
    """One 11-step run shared by several tests, with its teacher's state before training."""
    folder = tmp_path_factory.mktemp("full")
    trainer = make_trainer(data, STEPS, checkpoint_dir=folder, checkpoint_every=6)
    before = {k: v.clone() for k, v in trainer.teacher.state_dict().items()}
    d_steps = []
    original_step = trainer.optimizer_d.step

    def counting_step(*args, **kwargs):
        d_steps.append(trainer.step)
        return original_step(*args, **kwargs)

    trainer.optimizer_d.step = counting_step
    history = trainer.fit()
    return trainer, history, before, d_steps, folder


class TestRun:
    def test_teacher_never_changes(self, run):
        trainer, _, before, _, _ = run
        after = trainer.teacher.state_dict()
        assert any("running_mean" in k for k in before)  # BatchNorm statistics are covered
        for key, value in before.items():
            assert torch.equal(after[key], value), key
        assert not trainer.teacher.training
        assert not any(p.requires_grad for p in trainer.teacher.parameters())

    def test_student_and_discriminator_are_trained(self, run):
        trainer, _, _, _, _ = run
        fresh = fresh_student_like(trainer.teacher, seed=2)
        changed = [not torch.equal(a, b.to(a.device)) for a, b in
                   zip(trainer.student.parameters(), fresh.parameters())]
        assert sum(changed) > len(changed) // 2
        assert not torch.equal(trainer.discriminator.layer0[0].weight,
                               fresh_discriminator(ndf=8, seed=3).layer0[0].weight)

    def test_discriminator_stepped_every_fifth_iteration(self, run):
        _, history, _, d_steps, _ = run
        assert d_steps == [0, 5, 10]
        assert history.train["d_step"] == [1.0 if i % 5 == 0 else 0.0 for i in range(STEPS)]

    def test_weight_halves_every_two_epochs(self, run):
        _, history, _, _, _ = run
        # steps_per_epoch=2: epoch 0 (steps 0-1) wt 1, epochs 1-2 (steps 2-5) 0.5, 3-4 0.25
        assert history.train["wt"] == [1.0] * 2 + [0.5] * 4 + [0.25] * 4 + [0.125]

    def test_stays_finite_and_logs_every_term(self, run):
        _, history, _, _, _ = run
        assert history.train_steps == list(range(1, STEPS + 1))
        for name in ("gan_g", "alpha", "fg_l1", "composition", "total_g", "d_real", "d_fake",
                     "d_total", "random_bg"):
            assert len(history.train[name]) == STEPS
            assert all(math.isfinite(v) for v in history.train[name]), name
        # total_g = gan + wt * 0.05 * (composition + alpha + fg)
        t = history.train
        for i in range(STEPS):
            expected = t["gan_g"][i] + t["wt"][i] * 0.05 * (t["composition"][i] + t["alpha"][i]
                                                             + t["fg_l1"][i])
            assert t["total_g"][i] == pytest.approx(expected, rel=1e-5)
            d_mean = 0.5 * (t["d_real"][i] + t["d_fake"][i])
            assert t["d_total"][i] == pytest.approx(d_mean, rel=1e-5)
        assert 0 < sum(t["random_bg"]) < STEPS  # both background sources were used

    def test_resume_repeats_the_uninterrupted_run(self, run, data, tmp_path):
        _, history, _, _, folder = run
        first = make_trainer(data, 3, checkpoint_dir=tmp_path, checkpoint_every=3)
        first.fit()
        second = make_trainer(data, 6, checkpoint_dir=tmp_path, checkpoint_every=3)
        second.fit(resume=True)
        assert second.step == 6
        for name, values in second.history.train.items():
            assert values == history.train[name][:6], name
        reference = load_checkpoint(checkpoint_path(folder, 6))
        for key, value in second.student.state_dict().items():
            assert torch.equal(value, reference["student"][key]), key
        for key, value in second.discriminator.state_dict().items():
            assert torch.equal(value, reference["discriminator"][key]), key
        assert reference["wt"] == pseudo_weight(6, 2) and reference["step"] == 6


def test_pseudo_terms_follow_the_teacher(data):
    trainer = make_trainer(data, 1)
    batch = {k: torch.stack([data[i][k] for i in (0, 1)]) for k in data[0]}
    inputs = [batch[k] for k in ("image", "bg", "seg", "multi_fr")]
    with torch.no_grad():
        alpha_t, fg_t = trainer.teacher(*inputs)
        alpha_s, fg_s = trainer.student(*inputs)
    expected = pseudo_supervised_loss(alpha_s, fg_s, alpha_t, fg_t, batch["image"], batch["bg"],
                                      batch["seg_gt"])
    # The composition mask is the segmenter's mask seg_gt, not the generator's soft guide seg.
    with_guide = pseudo_supervised_loss(alpha_s, fg_s, alpha_t, fg_t, batch["image"], batch["bg"],
                                        batch["seg"])
    assert float(with_guide["composition"]) != pytest.approx(float(expected["composition"]),
                                                             rel=1e-3)
    logged = trainer.train_step(batch)
    for name in ("alpha", "fg_l1", "composition"):
        assert logged[name] == pytest.approx(float(expected[name]), rel=1e-5), name
    del batch["seg_gt"]
    with pytest.raises(ValueError, match="^batch: missing the keys \\['seg_gt'\\]"):
        trainer.train_step(batch)


def test_masks_on_hand_made_tensors():
    alpha_t = torch.tensor([-1.0, -0.99, -0.98, -0.979, 0.0, 1.0]).view(1, 1, 1, 6)
    seg_gt = torch.tensor([-1.0, 0.5, 0.95, 0.951, 0.99, 1.0]).view(1, 1, 1, 6)
    fg_mask, comp_mask = teacher_masks(alpha_t, seg_gt)
    assert fg_mask.flatten().tolist() == [0, 0, 0, 1, 1, 1]
    assert comp_mask.flatten().tolist() == [0, 0, 0, 1, 1, 1]
    with pytest.raises(ValueError, match="^seg_gt:"):
        teacher_masks(alpha_t, seg_gt[..., :5])


def test_fresh_student_is_not_the_teacher():
    teacher = bgm_generator(**TINY, seed=1)
    student = fresh_student_like(teacher, seed=2)
    assert student.config == teacher.config and student is not teacher
    assert not torch.equal(student.model_enc1[1].weight, teacher.model_enc1[1].weight)
    data = TargetDomainDataset(2, SIZE)
    with pytest.raises(ValueError, match="^student:"):
        TeacherStudentTrainer(teacher, teacher, fresh_discriminator(ndf=8), data, batch_size=1,
                              max_steps=1, device="cpu")


def test_pseudo_weight_schedule():
    # the original: wt halves at the end of epochs 0, 2, 4, ...
    assert [pseudo_weight(s, 3) for s in range(16)] == [1.0] * 3 + [0.5] * 6 + [0.25] * 6 + [0.125]
    assert pseudo_weight(9, 3, halve_every_epochs=1) == 0.125
    assert [pseudo_weight(e, 1, halve_every_epochs=3) for e in range(8)] == [1, .5, .5, .5, .25,
                                                                             .25, .25, .125]


class TestShift:
    def test_zero_shift_is_plain_composition(self):
        g = torch.Generator().manual_seed(0)
        alpha = torch.rand(2, 1, 4, 6, generator=g) * 2 - 1
        fg, bg = torch.rand(2, 3, 4, 6, generator=g), torch.rand(2, 3, 4, 6, generator=g)
        a = (alpha + 1) / 2
        out = compose_with_shift(alpha, fg, bg, torch.zeros(2, dtype=torch.long))
        torch.testing.assert_close(out, a * fg + (1 - a) * bg)

    def test_each_sample_rolls_by_its_own_shift(self):
        alpha = torch.ones(2, 1, 1, 5)
        fg = torch.arange(5.0).expand(2, 3, 1, 5).clone()
        out = compose_with_shift(alpha, fg, torch.zeros(2, 3, 1, 5), torch.tensor([1, -2]))
        assert out[0, 0, 0].tolist() == [4, 0, 1, 2, 3]
        assert out[1, 0, 0].tolist() == [2, 3, 4, 0, 1]

    def test_gradient_reaches_alpha_and_foreground(self):
        alpha = torch.zeros(1, 1, 4, 4, requires_grad=True)
        fg = torch.rand(1, 3, 4, 4, requires_grad=True)
        compose_with_shift(alpha, fg, torch.zeros(1, 3, 4, 4), torch.tensor([1])).sum().backward()
        assert alpha.grad.abs().sum() > 0 and fg.grad.abs().sum() > 0

    def test_subject_stays_inside_and_shift_bounded(self):
        g = torch.Generator().manual_seed(1)
        width = 40
        seg = -torch.ones(64, 1, 3, width)
        starts = torch.randint(0, 30, (64,), generator=g)
        for b, s in enumerate(starts.tolist()):
            seg[b, :, 1, s:s + 10] = 1.0
        shifts = draw_shifts(seg, g, max_shift=0.2)
        assert shifts.abs().max() <= 8
        assert (starts + shifts >= 0).all() and (starts + 9 + shifts <= width - 1).all()
        assert len(set(shifts.tolist())) > 5  # it is random
        assert (draw_shifts(seg, g, max_shift=0.0) == 0).all()


def test_non_finite_loss_raises_before_any_update(data):
    class Broken(torch.utils.data.Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            sample = data[i]
            sample["image"] = torch.full_like(sample["image"], float("nan"))
            return sample

    trainer = make_trainer(Broken(), 2)
    # The generators would refuse the NaN input themselves; switched off, the NaN reaches
    # the loss, whose guard is what this test is about.
    trainer.teacher.check_values = trainer.student.check_values = False
    before = [p.detach().clone() for p in trainer.student.parameters()]
    with pytest.raises(NonFiniteLossError, match="step 0: non-finite loss terms"):
        trainer.fit()
    assert trainer.step == 0
    assert all(torch.equal(a, b) for a, b in zip(before, trainer.student.parameters()))


class TestSharedLoop:
    """What the teacher-student trainer inherits from mattinglib.train.loop.TrainingLoop."""

    def test_callbacks_see_every_step_and_can_stop_the_run(self, data):
        seen = []

        def callback(trainer, step, logged):
            seen.append((step, sorted(logged)[:2]))
            if step == 3:
                raise RuntimeError("stop here")

        trainer = make_trainer(data, 5, callbacks=[callback])
        with pytest.raises(RuntimeError, match="stop here"):
            trainer.fit()
        assert [s for s, _ in seen] == [1, 2, 3] and trainer.step == 3
        assert seen[0][1] == ["alpha", "composition"]

    def test_keep_checkpoints_prunes_the_oldest(self, data, tmp_path):
        trainer = make_trainer(data, 5, checkpoint_dir=tmp_path, checkpoint_every=1,
                               keep_checkpoints=2)
        trainer.fit()
        assert sorted(p.name for p in tmp_path.glob("*.pt")) == [
            checkpoint_path(tmp_path, 4).name, checkpoint_path(tmp_path, 5).name]
        kept_all = make_trainer(data, 3, checkpoint_dir=tmp_path / "all", checkpoint_every=1)
        kept_all.fit()  # the default keeps every checkpoint
        assert len(list((tmp_path / "all").glob("*.pt"))) == 3

    def test_non_finite_weights_are_never_saved(self, data, tmp_path):
        trainer = make_trainer(data, 2, checkpoint_dir=tmp_path)
        with torch.no_grad():
            next(trainer.discriminator.parameters()).fill_(float("nan"))
        with pytest.raises(NonFiniteLossError, match=r"parameters became non-finite .*"
                                                     r"\(the discriminator\)"):
            trainer.save()
        assert not list(tmp_path.glob("*.pt"))

    def test_a_checkpoint_of_the_other_trainer_is_refused_by_name(self, data, tmp_path):
        make_trainer(data, 1, checkpoint_dir=tmp_path / "ts").fit()
        model = nn.Conv2d(3, 1, 1)
        pairs = torch.utils.data.TensorDataset(torch.rand(4, 3, 4, 4), torch.rand(4, 1, 4, 4))

        def loss_fn(model, batch):
            l1 = (model(batch[0]) - batch[1]).abs().mean()
            return {"total": l1}

        supervised = Trainer(model, torch.optim.SGD(model.parameters(), 0.1), loss_fn, pairs,
                             batch_size=2, max_steps=1, device="cpu", progress=False,
                             checkpoint_dir=tmp_path / "sup")
        with pytest.raises(ValueError, match=r"is a checkpoint of TeacherStudentTrainer .*not of "
                                             r"Trainer \(supervised\)"):
            supervised.fit(resume=checkpoint_path(tmp_path / "ts", 1))
        supervised.fit()
        with pytest.raises(ValueError, match=r"is a checkpoint of Trainer .*not of "
                                             r"TeacherStudentTrainer \(teacher-student\)"):
            make_trainer(data, 1).fit(resume=checkpoint_path(tmp_path / "sup", 1))
        # A checkpoint saved before the kind was recorded is told by its networks.
        state = load_checkpoint(checkpoint_path(tmp_path / "ts", 1))
        assert state.pop("kind") == "teacher-student"
        assert checkpoint_kind(state) == "teacher-student"

    @pytest.mark.parametrize("options, message", [
        (dict(keep_checkpoints=0), "keep_checkpoints"),
        (dict(callbacks=[3]), "callbacks: expected functions"),
    ])
    def test_bad_loop_options_are_named(self, data, options, message):
        with pytest.raises((ValueError, TypeError), match=message):
            make_trainer(data, 2, **options)


def test_separate_random_backgrounds(data):
    backgrounds = torch.zeros(3, 3, SIZE, SIZE)
    trainer = make_trainer(data, 2, random_backgrounds=backgrounds)
    assert len(trainer.fit()) == 2
    with pytest.raises(ValueError, match="^random_backgrounds:"):
        make_trainer(data, 2, random_backgrounds=torch.zeros(3, SIZE, SIZE))


def test_evaluate_on_target(data):
    teacher = bgm_generator(**TINY, seed=1)
    teacher.train()
    result = evaluate_on_target(teacher, TargetDomainDataset(3, SIZE, seed=4), device="cpu",
                                batch_size=2)
    assert set(result) == {"sad", "mse", "grad", "conn", "count", "mean_alpha", "sad_image",
                           "mse_image", "sad_band", "sad_background", "sad_foreground"}
    assert result["count"] == 3
    assert result["sad_band"] == pytest.approx(result["sad"])
    assert result["sad_image"] == pytest.approx(
        result["sad_band"] + result["sad_background"] + result["sad_foreground"])
    assert result["sad_image"] > result["sad"]  # an untrained net errs outside the band too
    assert all(math.isfinite(v) and v >= 0 for v in result.values())
    data3 = TargetDomainDataset(3, SIZE, seed=4)
    with torch.no_grad():
        teacher.eval()
        alphas = [teacher(*(data3[i][k][None] for k in ("image", "bg", "seg", "multi_fr")))[0]
                  for i in range(3)]
        teacher.train()
    expected = float(torch.cat(alphas).add(1).div(2).mean())
    assert result["mean_alpha"] == pytest.approx(expected, rel=1e-5)
    assert teacher.training  # mode restored
    with pytest.raises(ValueError, match="^dataset:"):
        evaluate_on_target(teacher, [data[0]], device="cpu")


def test_validation_curves_score_student_and_teacher(data):
    held_out = TargetDomainDataset(3, SIZE, seed=9)
    trainer = make_trainer(data, 5, val_data=held_out, val_every=2)
    history = trainer.fit()
    # the fresh student (step 0), every 2nd step, and the last step
    assert history.val_steps == [0, 2, 4, 5]
    teacher = evaluate_on_target(trainer.teacher, held_out, device="cpu")
    student = evaluate_on_target(trainer.student, held_out, device="cpu")
    for key in ("sad", "mse", "grad", "conn", "mean_alpha"):
        assert history.val[f"teacher_{key}"] == [teacher[key]] * 4
        assert history.val[key][-1] == student[key]
    fresh = evaluate_on_target(fresh_student_like(trainer.teacher, seed=2), held_out, device="cpu")
    assert history.val["sad"][0] == fresh["sad"]
    assert history.val["sad"][0] != history.val["sad"][-1]  # the student moved
    assert trainer.student.training  # validation left it in train mode


def test_validation_resumes_without_repeating(data, tmp_path):
    held_out = TargetDomainDataset(2, SIZE, seed=9)
    first = make_trainer(data, 2, val_data=held_out, val_every=2, checkpoint_dir=tmp_path)
    first.fit()
    second = make_trainer(data, 4, val_data=held_out, val_every=2, checkpoint_dir=tmp_path)
    second.fit(resume=True)
    assert second.history.val_steps == [0, 2, 4]
    uninterrupted = make_trainer(data, 4, val_data=held_out, val_every=2).fit()
    assert second.history.val == uninterrupted.val


def test_validation_arguments_are_checked(data):
    with pytest.raises(ValueError, match="^val_data: val_every given"):
        make_trainer(data, 2, val_every=2)
    with pytest.raises(ValueError, match="^val_data: expected a non-empty dataset"):
        make_trainer(data, 2, val_data=[data[0]])
    with pytest.raises(ValueError, match="^val_every:"):
        make_trainer(data, 2, val_data=TargetDomainDataset(2, SIZE, seed=9), val_every=0)
    with pytest.raises(ValueError, match="^val_data: no validation data"):
        make_trainer(data, 2).validate()


def test_gan_weight_zero_keeps_the_critic_out_of_the_student(data):
    """The ablation: the student's loss is the pseudo-supervision alone."""
    trainer = make_trainer(data, 3, gan_weight=0.0, gan_gradient="paper")
    history = trainer.fit()
    t = history.train
    for i in range(3):
        pseudo = t["wt"][i] * 0.05 * (t["composition"][i] + t["alpha"][i] + t["fg_l1"][i])
        assert t["total_g"][i] == pytest.approx(pseudo, rel=1e-5)
        assert t["gan_g"][i] > 0  # still measured
    # with the paper's attached GAN term, the recipe's student differs from the ablation's
    recipe = make_trainer(data, 3, gan_gradient="paper")
    recipe.fit()
    assert not torch.equal(recipe.student.model_enc1[1].weight,
                           trainer.student.model_enc1[1].weight)
    # with the released detached one, the GAN weight cannot change the student at all
    released = [make_trainer(data, 3, gan_weight=w) for w in (0.0, 1.0)]
    for t in released:
        t.fit()
    for a, b in zip(released[0].student.state_dict().values(),
                    released[1].student.state_dict().values()):
        assert torch.equal(a, b)
    assert released[0].history.train["gan_g"] == released[1].history.train["gan_g"]
    with pytest.raises(ValueError, match="^gan_weight:"):
        make_trainer(data, 1, gan_weight=-1.0)


def test_resume_refuses_another_run(data, tmp_path):
    make_trainer(data, 1, checkpoint_dir=tmp_path).fit()
    with pytest.raises(ValueError, match="^state: the checkpoint was written with gan_weight=1.0"):
        make_trainer(data, 2, checkpoint_dir=tmp_path, gan_weight=0.5).fit(resume=True)
    state = load_checkpoint(checkpoint_path(tmp_path, 1))
    state["format"] = 1
    with pytest.raises(ValueError, match="^state: checkpoint format 1"):
        make_trainer(data, 2).load_state_dict(state)


# --------------------------------------------------------------------------- gan_gradient


def _student_grads_of_gan_term(data, monkeypatch, gan_gradient):
    """The student's gradients of one train_step whose loss is the GAN term alone."""
    monkeypatch.setattr(adversarial, "PSEUDO_WEIGHT", 0.0)  # total_g = gan_g, exactly
    trainer = make_trainer(data, 1, gan_gradient=gan_gradient)
    grads = []

    def spy_step(*args, **kwargs):
        grads.extend(None if p.grad is None else p.grad.clone()
                     for p in trainer.student.parameters())

    trainer.optimizer_g.step = spy_step
    batch = {k: torch.stack([data[i][k] for i in (0, 1)]) for k in data[0]}
    logged = trainer.train_step(batch)
    assert logged["total_g"] == logged["gan_g"] > 0
    return grads


def test_released_gan_term_sends_no_gradient_to_the_student(data, monkeypatch):
    grads = _student_grads_of_gan_term(data, monkeypatch, "released")
    assert grads and all(g is None or not g.any() for g in grads)


def test_paper_gan_term_reaches_the_student(data, monkeypatch):
    grads = _student_grads_of_gan_term(data, monkeypatch, "paper")
    nonzero = [g is not None and bool(g.any()) for g in grads]
    assert sum(nonzero) > len(nonzero) // 2


def test_gan_gradient_default_is_the_released_code():
    import inspect
    assert inspect.signature(TeacherStudentTrainer).parameters["gan_gradient"].default == "released"


@pytest.mark.parametrize("options, error, message", [
    (dict(gan_gradient="attached"), ValueError, "^gan_gradient: expected one of"),
    (dict(gan_gradient=True), TypeError, "^gan_gradient: expected a str"),
    (dict(shift_fill="mirror"), ValueError, "^shift_fill: expected one of"),
    (dict(shift_fill=None), TypeError, "^shift_fill: expected a str"),
    (dict(min_shift=-0.1), ValueError,
     r"^min_shift: expected a finite number in \[0, 1\], got -0.1$"),
    (dict(max_shift=True), TypeError,
     r"^max_shift: expected a finite number in \[0, 1\], got bool True$"),
    (dict(lr_g=True), TypeError, "^lr_g: expected a finite number > 0, got bool True$"),
    (dict(lr_d=float("inf")), ValueError, "^lr_d: expected a finite number > 0, got inf$"),
    (dict(min_shift=0.2, max_shift=0.1), ValueError, "^min_shift: expected at most max_shift"),
    (dict(monitor_data=[]), ValueError, "^monitor_data: expected a non-empty"),
    (dict(anti_shortcut=1), TypeError, "^anti_shortcut: expected True or False, got 1"),
    (dict(anti_shortcut=True, batch_size=1), ValueError,
     "^anti_shortcut: needs another frame's alpha in the batch, so batch_size >= 2"),
])
def test_new_options_are_checked(data, options, error, message):
    with pytest.raises(error, match=message):
        make_trainer(data, 1, **options)


# --------------------------------------------------------------------------- shift fill


def _old_compose(alpha, fg, bg, shifts):
    """The recomposition before shift_fill existed: a circular roll per sample."""
    a = torch.stack([torch.roll(x, int(n), dims=-1) for x, n in zip(alpha, shifts)])
    f = torch.stack([torch.roll(x, int(n), dims=-1) for x, n in zip(fg, shifts)])
    a = (a + 1) / 2
    return f * a + (1 - a) * bg


def _old_draw(seg, generator, max_shift):
    """draw_shifts before min_shift existed."""
    w = seg.shape[-1]
    limit = int(max_shift * w)
    cols = (seg > -0.8).any(dim=2)[:, 0]
    has = cols.any(dim=1)
    pos = torch.arange(w)
    first = torch.where(cols, pos, w).min(dim=1).values
    last = torch.where(cols, pos, -1).max(dim=1).values
    lo = torch.where(has, torch.clamp(-first, min=-limit), torch.full_like(first, -limit))
    hi = torch.where(has, torch.clamp(w - 1 - last, max=limit), torch.full_like(last, limit))
    u = torch.rand(seg.shape[0], generator=generator, dtype=torch.float64)
    return lo + torch.floor(u * (hi - lo + 1)).long().clamp(max=hi - lo)


class TestShiftFill:
    W = 7

    def tensors(self, dtype=torch.float32):
        g = torch.Generator().manual_seed(3)
        alpha = (torch.rand(3, 1, 2, self.W, generator=g) * 2 - 1).to(dtype)
        fg = (torch.rand(3, 3, 2, self.W, generator=g) * 2 - 1).to(dtype)
        bg = (torch.rand(3, 3, 2, self.W, generator=g) * 2 - 1).to(dtype)
        return alpha, fg, bg, torch.tensor([2, -3, 0])

    def test_wrap_is_the_old_roll_bit_for_bit(self):
        alpha, fg, bg, shifts = self.tensors()
        assert torch.equal(compose_with_shift(alpha, fg, bg, shifts),
                           _old_compose(alpha, fg, bg, shifts))
        assert torch.equal(compose_with_shift(alpha, fg, bg, shifts, fill="wrap"),
                           _old_compose(alpha, fg, bg, shifts))

    def test_vacated_columns(self):
        empty = vacated_columns(torch.tensor([2, -3, 0]), self.W)
        assert empty.int().tolist() == [[1, 1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1, 1], [0] * 7]

    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_background_shows_in_the_vacated_columns(self, dtype):
        alpha, fg, bg, shifts = self.tensors(dtype)
        out = compose_with_shift(alpha, fg, bg, shifts, fill="background")
        assert out.shape == bg.shape and out.dtype == dtype
        wrapped = compose_with_shift(alpha, fg, bg, shifts)
        empty = vacated_columns(shifts, self.W)[:, None, None, :].expand_as(out)
        assert torch.equal(out[empty], bg[empty])       # alpha 0 there: the new background
        assert torch.equal(out[~empty], wrapped[~empty])  # elsewhere the roll's result

    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_zeros_in_the_vacated_columns(self, dtype):
        alpha, fg, bg, shifts = self.tensors(dtype)
        out = compose_with_shift(alpha, fg, bg, shifts, fill="zeros")
        assert out.shape == bg.shape and out.dtype == dtype
        empty = vacated_columns(shifts, self.W)[:, None, None, :].expand_as(out)
        # alpha 0 and fg 0 in [-1, 1]: a = 0.5, so the composite is 0.5 * 0 + 0.5 * bg
        torch.testing.assert_close(out[empty], 0.5 * bg[empty], rtol=0, atol=0)
        wrapped = compose_with_shift(alpha, fg, bg, shifts)
        assert torch.equal(out[~empty], wrapped[~empty])

    def test_alpha_one_recomposes_the_frame_only_with_wrap(self):
        image = torch.rand(1, 3, 2, self.W) * 2 - 1
        ones, other = torch.ones(1, 1, 2, self.W), torch.zeros(1, 3, 2, self.W)
        shifts = torch.tensor([2])
        rolled = torch.roll(image, 2, dims=-1)
        assert torch.equal(compose_with_shift(ones, image, other, shifts), rolled)
        assert not torch.equal(compose_with_shift(ones, image, other, shifts, fill="background"),
                               rolled)

    def test_gradient_stops_at_the_filled_columns(self):
        alpha = torch.zeros(1, 1, 2, self.W, requires_grad=True)
        fg = torch.rand(1, 3, 2, self.W, requires_grad=True)
        compose_with_shift(alpha, fg, torch.rand(1, 3, 2, self.W), torch.tensor([2]),
                           fill="background").sum().backward()
        # the columns that would wrap around (the last two) no longer reach the composite
        assert not alpha.grad[..., -2:].any() and alpha.grad[..., :-2].abs().sum() > 0

    def test_bad_fill_and_shift(self):
        alpha, fg, bg, _ = self.tensors()
        with pytest.raises(ValueError, match="^fill: expected one of"):
            compose_with_shift(alpha, fg, bg, torch.zeros(3, dtype=torch.long), fill="mirror")
        with pytest.raises(ValueError, match="^shifts: expected \\|shift\\| < W"):
            compose_with_shift(alpha, fg, bg, torch.tensor([0, self.W, 0]), fill="zeros")


class TestMinShift:
    def test_zero_min_shift_draws_as_before(self):
        g = torch.Generator().manual_seed(1)
        seg = -torch.ones(32, 1, 3, 40)
        for b, s in enumerate(torch.randint(0, 30, (32,), generator=g).tolist()):
            seg[b, :, 1, s:s + 10] = 1.0
        new = draw_shifts(seg, torch.Generator().manual_seed(7), max_shift=0.3)
        old = _old_draw(seg, torch.Generator().manual_seed(7), max_shift=0.3)
        assert torch.equal(new, old)

    def test_min_shift_respected_and_subject_kept_inside(self):
        g = torch.Generator().manual_seed(2)
        width, least = 40, 6                               # floor(0.15 * 40)
        seg = -torch.ones(200, 1, 3, width)
        starts = torch.randint(0, 21, (200,), generator=g)  # room for >= 6 columns one way
        for b, s in enumerate(starts.tolist()):
            seg[b, :, 1, s:s + 14] = 1.0
        shifts = draw_shifts(seg, g, max_shift=0.3, min_shift=0.15)
        assert (shifts.abs() >= least).all() and (shifts.abs() <= 12).all()
        assert (starts + shifts >= 0).all() and (starts + 13 + shifts <= width - 1).all()
        assert (shifts > 0).any() and (shifts < 0).any() and len(set(shifts.tolist())) > 8

    def test_no_room_gives_the_largest_allowed_shift(self):
        seg = -torch.ones(4, 1, 1, 20)
        seg[0, ..., 1:18] = 1   # columns 1..17 may move -1..+2, none by 4: the largest, +2
        seg[1, ..., 4:19] = 1   # columns 4..18 may move -4..+1: -4 is the one shift >= 4
        seg[2, ..., 0:20] = 1   # spans the frame: 0
        seg[3, ..., 3:19] = 1   # columns 3..18 may move -3..+1: the largest, -3
        shifts = draw_shifts(seg, torch.Generator().manual_seed(0), max_shift=0.5, min_shift=0.2)
        assert shifts.tolist() == [2, -4, 0, -3]

    def test_ties_go_either_way(self):
        seg = -torch.ones(64, 1, 1, 20)
        seg[..., 2:18] = 1      # -2..+2, both short of 4
        shifts = draw_shifts(seg, torch.Generator().manual_seed(0), max_shift=0.5, min_shift=0.2)
        assert set(shifts.tolist()) == {-2, 2}

    @pytest.mark.parametrize("kwargs, message", [
        (dict(min_shift=-0.1), r"^min_shift: expected a finite number in \[0, 1\], got -0.1$"),
        (dict(min_shift=1.5), r"^min_shift: expected a finite number in \[0, 1\], got 1.5$"),
        (dict(max_shift=0.1, min_shift=0.2), "^min_shift: expected at most max_shift=0.1"),
        (dict(max_shift=2.0), r"^max_shift: expected a finite number in \[0, 1\], got 2.0$"),
        (dict(max_shift=True), r"^max_shift: expected a finite number in \[0, 1\], got bool True$"),
    ])
    def test_bad_values_are_named(self, kwargs, message):
        with pytest.raises(ValueError, match=message):
            draw_shifts(-torch.ones(1, 1, 2, 10), torch.Generator(), **kwargs)


# --------------------------------------------------------------------------- resume, truth


@pytest.mark.parametrize("options", [
    dict(gan_gradient="paper"),
    dict(gan_gradient="released", shift_fill="background", min_shift=0.1),
    dict(gan_gradient="paper", shift_fill="zeros", min_shift=0.05),
    dict(gan_gradient="paper", anti_shortcut=True),
], ids=["paper", "released-background", "paper-zeros", "paper-anti-shortcut"])
def test_resume_is_bit_exact_with_each_switch(data, tmp_path, options):
    options = dict(options, d_every=2)
    whole = make_trainer(data, 4, **options)
    whole.fit()
    make_trainer(data, 2, checkpoint_dir=tmp_path, **options).fit()
    resumed = make_trainer(data, 4, checkpoint_dir=tmp_path, **options)
    resumed.fit(resume=True)
    assert resumed.step == 4 and resumed.history.train == whole.history.train
    for key, value in resumed.student.state_dict().items():
        assert torch.equal(value, whole.student.state_dict()[key]), key
    for key, value in resumed.discriminator.state_dict().items():
        assert torch.equal(value, whole.discriminator.state_dict()[key]), key


def test_resume_refuses_another_anti_shortcut(data, tmp_path):
    make_trainer(data, 1, checkpoint_dir=tmp_path, anti_shortcut=True).fit()
    with pytest.raises(ValueError, match="^state: the checkpoint was written with "
                                         "anti_shortcut=True"):
        make_trainer(data, 2, checkpoint_dir=tmp_path).fit(resume=True)


class TestAntiShortcut:
    def test_alpha_one_makes_the_real_frame_a_fake(self):
        # The shortcut: a student at alpha = 1 recomposes the frame itself (wrap-around
        # shift); the anti-shortcut composite of that student is the same frame, shown as fake.
        image = torch.rand(3, 3, 4, 6) * 2 - 1
        bg, ones = torch.rand(3, 3, 4, 6) * 2 - 1, torch.ones(3, 1, 4, 6)
        shifts = torch.tensor([1, -2, 0])
        anti = adversarial.anti_shortcut_composite(ones, image, bg, shifts)
        assert torch.allclose(anti, compose_with_shift(ones, image, bg, shifts))
        assert torch.allclose(anti[2], image[2])

    def test_each_frame_gets_the_previous_frames_alpha(self):
        alpha = torch.stack([torch.full((1, 2, 2), v) for v in (-1.0, 1.0, -1.0)])
        image, bg = torch.ones(3, 3, 2, 2), -torch.ones(3, 3, 2, 2)
        anti = adversarial.anti_shortcut_composite(alpha, image, bg, torch.zeros(3, dtype=int))
        # frame 1 gets frame 0's transparent alpha (background), frame 2 gets frame 1's opaque one
        assert anti[:, 0, 0, 0].tolist() == [-1.0, -1.0, 1.0]
        with pytest.raises(ValueError, match="^alpha: needs another frame's alpha"):
            adversarial.anti_shortcut_composite(alpha[:1], image[:1], bg[:1],
                                                torch.zeros(1, dtype=int))

    def test_it_trains_the_critic_only(self, data):
        runs = {flag: make_trainer(data, 1, gan_gradient="paper", anti_shortcut=flag)
                for flag in (False, True)}
        for trainer in runs.values():
            trainer.fit()
        assert "d_anti" in runs[True].history.train and "d_anti" not in runs[False].history.train
        # Step 0's student update comes before the critic's: identical with and without.
        for (name, a), b in zip(runs[False].student.named_parameters(),
                                runs[True].student.parameters()):
            assert torch.equal(a, b), name
        # The critic's update (stepped at step 0) saw the extra fake.
        assert any(not torch.equal(a, b) for a, b in zip(
            runs[False].discriminator.parameters(), runs[True].discriminator.parameters()))
        logged = runs[True].history.train
        expected = 0.5 * (logged["d_real"][0] + 0.5 * (logged["d_fake"][0] + logged["d_anti"][0]))
        assert logged["d_total"][0] == pytest.approx(expected, rel=1e-6)


def test_resume_refuses_another_switch(data, tmp_path):
    make_trainer(data, 1, checkpoint_dir=tmp_path, shift_fill="background").fit()
    with pytest.raises(ValueError, match="^state: the checkpoint was written with "
                                         "shift_fill='background'"):
        make_trainer(data, 2, checkpoint_dir=tmp_path).fit(resume=True)


def test_checkpoints_from_before_the_switches_resume_as_paper(data, tmp_path):
    make_trainer(data, 1, checkpoint_dir=tmp_path, gan_gradient="paper").fit()
    path = checkpoint_path(tmp_path, 1)
    state = load_checkpoint(path)
    for key in ("gan_gradient", "shift_fill", "min_shift"):
        del state["config"][key]                      # as written before the options existed
    with pytest.raises(ValueError, match="^state: the checkpoint was written with "
                                         "gan_gradient='paper', this trainer has "
                                         "gan_gradient='released'"):
        make_trainer(data, 2).load_state_dict(state)
    resumed = make_trainer(data, 2, gan_gradient="paper")
    resumed.load_state_dict(state)
    assert resumed.step == 1


class NoTruth(torch.utils.data.Dataset):
    """Training keys only; reading any ground truth fails the test."""

    TRUTH = ("alpha", "fg", "trimap")

    def __init__(self, base):
        self.base, self.reads = base, 0

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        self.reads += 1
        return _Guarded(self.base[i])

    def ground_truth(self, i):
        raise AssertionError("ground truth was read")

    def arrays(self, i):
        raise AssertionError("the arrays, ground truth included, were read")


class _Guarded(dict):
    def __getitem__(self, key):
        if key in NoTruth.TRUTH:
            raise AssertionError(f"ground-truth key {key!r} was read")
        return super().__getitem__(key)

    def get(self, key, default=None):
        if key in NoTruth.TRUTH:
            raise AssertionError(f"ground-truth key {key!r} was read")
        return super().get(key, default)


def test_ground_truth_never_reaches_training(data):
    train = NoTruth(data)
    trainer = make_trainer(train, 3)
    trainer.fit()
    assert trainer.step == 3 and train.reads == 6
    # a sample that does carry the truth: its keys are collated, never used by the step
    leaky = {k: torch.stack([data[i][k] for i in (0, 1)]) for k in data[0]}
    leaky["alpha"] = torch.full((2, 1, SIZE, SIZE), float("nan"))
    logged = trainer.train_step(leaky)
    assert all(math.isfinite(v) for v in logged.values())


# --------------------------------------------------------------------------- label-free scores


def test_label_free_scores_need_no_truth_and_match_a_direct_computation(data):
    teacher = bgm_generator(**TINY, seed=1)
    student = fresh_student_like(teacher, seed=2)
    student.train()
    monitor = NoTruth(TargetDomainDataset(3, SIZE, seed=9))
    scores = label_free_scores(student, teacher, monitor, device="cpu", batch_size=2)
    assert monitor.reads == 3 and student.training  # mode restored
    batch = {k: torch.stack([monitor.base[i][k] for i in range(3)]) for k in monitor.base[0]}
    inputs = [batch[k] for k in ("image", "bg", "seg", "multi_fr")]
    with torch.no_grad():
        student.eval()
        a_s = (student(*inputs)[0].double() + 1) / 2
        a_t = (teacher.eval()(*inputs)[0].double() + 1) / 2
    assert scores["student_alpha"] == pytest.approx(float(a_s.mean()), rel=1e-6)
    assert scores["teacher_alpha"] == pytest.approx(float(a_t.mean()), rel=1e-6)
    assert scores["alpha_drift"] == pytest.approx(float(a_s.mean() - a_t.mean()), abs=1e-7)
    assert scores["teacher_l1"] == pytest.approx(float((a_s - a_t).abs().mean()), rel=1e-6)
    assert scores["alpha_drift"] != 0  # a fresh student is not the teacher


def test_label_free_scores_see_a_collapse_to_alpha_one():
    class AllForeground(torch.nn.Module):
        def forward(self, image, bg, seg, multi):
            return torch.ones_like(seg), image

    teacher = bgm_generator(**TINY, seed=1)
    scores = label_free_scores(AllForeground(), teacher, TargetDomainDataset(2, SIZE, seed=3),
                               device="cpu")
    assert scores["student_alpha"] == 1.0
    assert scores["alpha_drift"] == pytest.approx(1 - scores["teacher_alpha"])
    with pytest.raises(ValueError, match="^dataset: expected a non-empty"):
        label_free_scores(teacher, teacher, [], device="cpu")


def test_trainer_logs_the_label_free_scores_on_unlabelled_data(data):
    monitor = NoTruth(TargetDomainDataset(2, SIZE, seed=9))
    trainer = make_trainer(NoTruth(data), 3, monitor_data=monitor, val_every=2)
    history = trainer.fit()
    assert history.val_steps == [0, 2, 3]
    assert set(history.val) == {"alpha_drift", "teacher_l1", "student_alpha", "teacher_alpha"}
    last = label_free_scores(trainer.student, trainer.teacher, monitor.base, device="cpu")
    assert history.val["alpha_drift"][-1] == last["alpha_drift"]
    assert history.val["alpha_drift"][0] != history.val["alpha_drift"][-1]
