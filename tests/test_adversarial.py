"""The teacher-student adversarial stage (mattinglib.train.adversarial)."""

from __future__ import annotations

import math

import pytest
import torch

from mattinglib.data.target_domain import TargetDomainDataset
from mattinglib.losses.bgm import pseudo_supervised_loss
from mattinglib.models.bgm import bgm_generator
from mattinglib.train.adversarial import (
    TeacherStudentTrainer,
    compose_with_shift,
    draw_shifts,
    evaluate_on_target,
    fresh_discriminator,
    fresh_student_like,
    pseudo_weight,
    teacher_masks,
)
from mattinglib.train.checkpoint import checkpoint_path, load_checkpoint
from mattinglib.train.trainer import NonFiniteLossError

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
    assert set(result) == {"sad", "mse", "grad", "conn", "count", "mean_alpha"}
    assert result["count"] == 3
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
    trainer = make_trainer(data, 3, gan_weight=0.0)
    history = trainer.fit()
    t = history.train
    for i in range(3):
        pseudo = t["wt"][i] * 0.05 * (t["composition"][i] + t["alpha"][i] + t["fg_l1"][i])
        assert t["total_g"][i] == pytest.approx(pseudo, rel=1e-5)
        assert t["gan_g"][i] > 0  # still measured
    # the recipe's student differs from the ablation's after the same steps
    recipe = make_trainer(data, 3)
    recipe.fit()
    assert not torch.equal(recipe.student.model_enc1[1].weight, trainer.student.model_enc1[1].weight)
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
