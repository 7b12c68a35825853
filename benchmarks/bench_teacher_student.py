"""Does the student beat its teacher? Background Matting's two stages, end to end.

Stage 1 trains the *teacher* on generated composites
(:func:`mattinglib.train.bgm_recipes.build_bgm_trainer`). Stage 2 trains a
fresh *student* on unlabelled captures of the offline target domain
(:class:`mattinglib.data.target_domain.TargetDomainDataset`, every effect at its
default strength) with the teacher's pseudo-labels and the discriminator
(:class:`mattinglib.train.adversarial.TeacherStudentTrainer`, the recipe of
FACTS section 1). Both are scored on held-out captures of the same domain,
whose truth neither stage ever sees, with the official metrics
(:func:`mattinglib.train.adversarial.evaluate_on_target`).

Recorded: the teacher's scores; the student's curve (SAD, MSE, Grad, Conn at
step 0, every ``val_every`` steps and at the end) with the loss terms averaged
over each interval; the final scores per target-domain effect (each alone at
strength 1) for both models; the mean predicted alpha beside the truth's (a
student sliding to the critic's trivial answer, "everything is foreground",
shows there); seconds per step of each stage; and the verdict,
``student_beats_teacher`` (final held-out SAD below the teacher's).

``--gan-weight 0`` runs the ablation "pseudo-supervision only" (the recipe is 1):
the same student, data and schedule without the critic's gradient, in its own
checkpoint folder and result file (``..._gan0``); ``--max-shift 1`` lets the
recomposition shift reach as far as the subject's margin allows, as the
original's does (``..._shift1``).

In the ``cpu`` preset the student's GAN term is attached (``gan_gradient="paper"``,
the paper's description) unless ``--gan-gradient released`` is given: the recorded
runs were made that way, before the trainer had the switch, and this benchmark asks
what the critic adds, which the released code's detached term cannot show (with
``released`` the student learns as in the ``--gan-weight 0`` ablation; its files
get ``_released``; a gradient other than the preset's names its files).

Presets are :class:`~mattinglib.train.bgm_recipes.StudentRecipe` presets (every
number of both stages, the teacher's recipe included; the options below change them):

* ``cpu`` (:meth:`StudentRecipe.cpu`): 64 px, the course's quick generator (0.47 M
  parameters), a teacher of 1,500 steps and a student of 3,000, batch 4; about an
  hour on 2 CPU cores.
* ``full`` (:meth:`StudentRecipe.full`): the paper's sizes, 512 px, the 17.9
  M-parameter generator, batch 4; for a GPU.

Both stages checkpoint into ``--run-dir`` (default ``runs/bench_teacher_student_<preset>``,
plus the settings changed from the preset, e.g. ``..._cpu_size128``): an
interrupted run continues where it stopped when started again with the same
arguments, and a run with more ``--student-steps`` extends the previous one.

Usage::

    python benchmarks/bench_teacher_student.py --preset cpu
    python benchmarks/bench_teacher_student.py --preset cpu --gan-weight 0   # the ablation
    python benchmarks/bench_teacher_student.py --preset full --device cuda

Results go to ``benchmarks/results/teacher_student_<preset>[<changes>]_<device>.json`` (and a
``.png`` of the curves) with the machine described.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import RESULTS_DIR, write_result  # noqa: E402

from mattinglib.config import REPO_ROOT, get_device  # noqa: E402
from mattinglib.data.target_domain import EFFECTS, TargetDomainDataset  # noqa: E402
from mattinglib.train import bgm_recipes  # noqa: E402
from mattinglib.train.adversarial import evaluate_on_target  # noqa: E402
from mattinglib.train.bgm_recipes import StudentRecipe  # noqa: E402

#: The benchmark's presets: StudentRecipe presets.
PRESETS = ("cpu", "full")
METRICS = ("sad", "mse", "grad", "conn", "mean_alpha")


def options_of(recipe: StudentRecipe) -> dict[str, int]:
    """The recipe's numbers under this benchmark's option names (they also name the files)."""
    t = recipe.teacher
    return {"size": recipe.image_size, "batch_size": recipe.batch_size,
            "teacher_steps": t.train_steps, "teacher_samples": t.num_train_samples,
            "student_steps": recipe.train_steps, "num_train": recipe.num_train_samples,
            "num_test": recipe.num_val_samples, "ndf": recipe.ndf, "val_every": recipe.val_every,
            "workers": recipe.num_workers}


def with_options(recipe: StudentRecipe, o: dict[str, int]) -> StudentRecipe:
    """The recipe with the benchmark's options ``o`` (all of :func:`options_of`'s keys) applied:
    both stages train at ``size`` with ``batch_size`` and ``workers``; the teacher validates
    six times; the student validates and checkpoints every ``val_every`` steps."""
    teacher = recipe.teacher.replace(
        image_size=o["size"], batch_size=o["batch_size"], train_steps=o["teacher_steps"],
        num_train_samples=o["teacher_samples"], num_workers=o["workers"],
        val_every=max(o["teacher_steps"] // 6, 1))
    return recipe.replace(teacher=teacher, image_size=o["size"], batch_size=o["batch_size"],
                          train_steps=o["student_steps"], num_train_samples=o["num_train"],
                          num_val_samples=o["num_test"], ndf=o["ndf"], val_every=o["val_every"],
                          checkpoint_every=o["val_every"], num_workers=o["workers"])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=PRESETS, default="cpu")
    defaults = {name: options_of(StudentRecipe.preset(name)) for name in PRESETS}
    for name, value in defaults["cpu"].items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=None,
                            help=f"default: the preset's ({value} for cpu, "
                                 f"{defaults['full'][name]} for full)")
    parser.add_argument("--gan-weight", type=float, default=None,
                        help="weight of the GAN term in the student's loss (recipe: 1; 0: the "
                             "pseudo-supervision-only ablation)")
    parser.add_argument("--max-shift", type=float, default=None,
                        help="bound of the recomposition shift, a fraction of the width (the "
                             "presets' 0.1; 1: only the subject's margin bounds it, as in "
                             "the original)")
    parser.add_argument("--gan-gradient", choices=("paper", "released"), default=None,
                        help="paper (the cpu preset's: the GAN term trains the student, as the "
                             "recorded runs did) or released (detached, as the authors' code; "
                             "the full preset's)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--run-dir", type=Path, default=None,
                        help="checkpoint folder (default: runs/bench_teacher_student_<preset>)")
    parser.add_argument("--name", default=None,
                        help="stem of the result files "
                             "(default: teacher_student_<preset>_<device>)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    preset = StudentRecipe.preset(args.preset)
    base = options_of(preset)
    options = dict(base)
    for name in options:
        value = getattr(args, name, None)
        if value is not None:
            if value < (0 if name == "workers" else 1):
                parser.error(f"--{name.replace('_', '-')}: expected a positive integer, "
                             f"got {value}")
            options[name] = value
    switches = {"gan_weight": args.gan_weight, "max_shift": args.max_shift,
                "gan_gradient": args.gan_gradient}
    try:
        recipe = with_options(preset, options).replace(
            **{k: v for k, v in switches.items() if v is not None})
    except ValueError as err:  # the recipe names the field and what was wrong
        parser.error(str(err))
    args.recipe = recipe
    args.arm = (("" if recipe.gan_weight == 1 else f"_gan{recipe.gan_weight:g}")
                + ("" if recipe.max_shift == 0.1 else f"_shift{recipe.max_shift:g}")
                + ("" if recipe.gan_gradient == preset.gan_gradient else f"_{recipe.gan_gradient}"))
    # Settings changed from the preset name the run, so that another size never resumes
    # (or overwrites) the preset's checkpoints and results. More student steps extend a run.
    args.variant = "".join(f"_{k.replace('_', '-')}{v}" for k, v in options.items()
                           if k not in ("student_steps", "workers") and v != base[k])
    if args.run_dir is None:
        args.run_dir = REPO_ROOT / "runs" / f"bench_teacher_student_{args.preset}{args.variant}"
    return args


def train_teacher(recipe: bgm_recipes.BGMRecipe, run_dir: Path, device: torch.device,
                  progress: bool):
    """Stage 1 (load it when the run folder already holds the finished teacher)."""
    trainer = bgm_recipes.build_bgm_trainer(recipe, checkpoint_dir=run_dir / "teacher",
                                            device=str(device), progress=progress)
    trainer.resume()
    start, t0 = trainer.step, time.perf_counter()
    history = trainer.fit()
    info = {"steps": trainer.step, "parameters": sum(p.numel() for p in trainer.model.parameters()),
            "generator": {k: getattr(recipe, k)
                          for k in ("ngf", "nf_part", "n_blocks1", "n_blocks2",
                                    "use_motion_features")},
            "synthetic_val_last": {k: v[-1] for k, v in history.val.items()},
            **timing(start, trainer.step, time.perf_counter() - t0)}
    return trainer.model.eval(), info


def timing(start: int, stop: int, seconds: float) -> dict[str, Any]:
    """Seconds per step of the steps this invocation trained (None when it only loaded them)."""
    done = stop - start
    return {"steps_trained_here": done, "seconds_per_step": seconds / done if done else None}


def interval_means(history, steps: list[int]) -> dict[str, list[float]]:
    """Mean of every loss term over the steps since the previous validation."""
    train_steps = np.asarray(history.train_steps)
    out: dict[str, list[float]] = {}
    for name, values in history.train.items():
        values = np.asarray(values)
        column = []
        for lo, hi in zip([0, *steps[:-1]], steps):
            picked = values[(train_steps > lo) & (train_steps <= hi)]
            column.append(float(picked.mean()) if picked.size else float("nan"))
        out[name] = column
    return out


def per_effect(models: dict[str, torch.nn.Module], recipe: StudentRecipe,
               device: torch.device) -> dict[str, dict[str, float]]:
    """Held-out SAD of each model with one effect at strength 1 (the others off), and clean."""
    off = {e: 0.0 for e in EFFECTS}
    conditions = {"clean": off} | {e: {**off, e: 1.0} for e in EFFECTS}
    table = {}
    for name, strengths in conditions.items():
        data = TargetDomainDataset(recipe.num_val_samples, recipe.image_size, seed=recipe.val_seed,
                                   strengths=strengths)
        table[name] = {m: evaluate_on_target(model, data, device=device)["sad"]
                       for m, model in models.items()}
    return table


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve, teacher = result["student_curve"], result["teacher"]["target"]
    fig, axes = plt.subplots(1, 4, figsize=(19, 4))
    for ax, key in zip(axes[:3], ("sad", "mse", "mean_alpha")):
        ax.plot(curve["step"], curve[key], marker="o", label="student")
        ax.axhline(teacher[key], color="k", linestyle="--", label="teacher (frozen)")
        if key == "mean_alpha":
            ax.axhline(result["truth_mean_alpha"], color="g", linestyle=":", label="truth")
            ax.set(xlabel="student step", ylabel="mean alpha", title="mean predicted alpha")
        else:
            ax.set(xlabel="student step", ylabel=key.upper(),
                   title=f"held-out target {key.upper()} (lower is better)")
        ax.legend()
    for name in ("gan_g", "alpha", "fg_l1", "composition", "d_total"):
        axes[3].plot(curve["step"][1:], curve["loss"][name][1:], marker=".", label=name)
    axes[3].set(xlabel="student step", ylabel="mean over the interval", yscale="log",
                title="loss terms")
    axes[3].legend()
    fig.suptitle(f"teacher and student (GAN weight {result['settings']['gan_weight']:g}), "
                 f"preset {result['preset']} on {result['device']}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    recipe, device, progress = args.recipe, get_device(args.device), not args.quiet
    print(f"preset {args.preset} on {device}: {recipe}", flush=True)

    teacher, teacher_info = train_teacher(recipe.teacher, args.run_dir, device, progress)
    trainer = bgm_recipes.build_student_trainer(
        recipe, teacher, checkpoint_dir=args.run_dir / f"student{args.arm}", device=device,
        progress=progress)
    test = trainer.val_data
    trainer.resume()
    start, t0 = trainer.step, time.perf_counter()
    history = trainer.fit()
    student_timing = timing(start, trainer.step, time.perf_counter() - t0)

    val = history.val
    teacher_scores = {k: val[f"teacher_{k}"][-1] for k in METRICS}
    curve = {"step": list(history.val_steps), **{k: val[k] for k in METRICS},
             "loss": interval_means(history, list(history.val_steps))}
    best = int(np.argmin(val["sad"]))
    final_sad = val["sad"][-1]
    result = {
        "description": "Background Matting: a teacher trained on generated composites, then a "
                       "fresh student trained by the teacher-student adversarial recipe on "
                       "unlabelled target-domain captures; both scored on held-out captures "
                       "(SAD, Grad, Conn /1000, MSE raw; alpha in [0, 1])",
        "preset": args.preset, "device": str(device),
        "settings": {**options_of(recipe), "gan_weight": recipe.gan_weight,
                     "max_shift": recipe.max_shift, "gan_gradient": recipe.gan_gradient},
        "recipe": recipe.settings(),
        "teacher": {**teacher_info, "target": teacher_scores},
        "truth_mean_alpha": float(np.mean([test.ground_truth(i)["alpha"].mean().item()
                                           for i in range(len(test))])),
        "student": {"steps": trainer.step, "steps_per_epoch": trainer.steps_per_epoch,
                    **student_timing,
                    "note_seconds": "includes the validations inside the run; null when this "
                                    "invocation loaded finished checkpoints",
                    "final": {k: val[k][-1] for k in METRICS},
                    "best_sad": val["sad"][best], "best_step": history.val_steps[best]},
        "student_curve": curve,
        "per_effect_sad": per_effect({"teacher": teacher, "student": trainer.student},
                                     recipe, device),
        "student_beats_teacher": bool(final_sad < teacher_scores["sad"]),
        "final_sad_ratio_student_to_teacher": final_sad / teacher_scores["sad"],
    }
    name = args.name or f"teacher_student_{args.preset}{args.variant}_{device.type}{args.arm}"
    path = write_result(name, result)
    plot(result, RESULTS_DIR / f"{name}.png")
    print(f"teacher SAD {teacher_scores['sad']:.4f}; student SAD {final_sad:.4f} after "
          f"{trainer.step} steps (best {val['sad'][best]:.4f} at step {history.val_steps[best]}); "
          f"student beats teacher: {result['student_beats_teacher']}")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
