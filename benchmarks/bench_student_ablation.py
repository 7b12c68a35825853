"""What does Background Matting's adversarial stage teach? Gates, then an ablation over seeds.

One teacher (the ``cpu`` preset's, :meth:`StudentRecipe.cpu`, trained once and shared) and a
target domain of generated captures whose segmentation guide is coarser than in the teacher's
training, with plate misalignment, the subject's shadow and plate exposure beyond its training
augmentation (:data:`DOMAIN`). Three commands:

``gates``
    **Gate 0** (:func:`~mattinglib.train.student_gates.gate0_domain_gap`): the teacher's
    held-out error on the domain against the same captures with every effect off, per effect
    and for the whole domain, over the trimap's band (the official SAD) and over the whole
    image, split by region. **Gate 1**
    (:func:`~mattinglib.train.student_gates.gate1_discriminator_probe`): a fresh critic,
    generators frozen, trained on real frames against recompositions from the truth, the
    teacher and alpha = 1; the ROC AUC of truth against teacher and against alpha = 1, with
    the released code's wrap-around shift and with the exposing shift.

``run --arm ARM --seed S``
    One student of arm ``ARM`` (:data:`ARMS`) with every seed of the student stage derived
    from ``S`` (:meth:`StudentRecipe.with_seed`; the teacher and the held-out captures stay
    the same). Checkpoints in ``runs/student_ablation/<arm>_s<S>`` (an interrupted run resumes).

``summary``
    Reads every run, adds the label-free early-stopping arm (:func:`early_stop`), and writes
    the table: held-out SAD (band and whole image) of the teacher and of every arm, mean over
    seeds, seed spread, per-effect SAD, mean alpha, and the curves as a figure.

Results: ``benchmarks/results/student_gates_cpu.json``, ``student_ablation/<arm>_s<S>.json``
and ``student_ablation_cpu.json`` / ``.png``, each with the commit and command that made it.

Usage::

    python benchmarks/bench_student_ablation.py gates
    python benchmarks/bench_student_ablation.py run --arm paper_expose --seed 0
    python benchmarks/bench_student_ablation.py summary
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import RESULTS_DIR, commit, write_result  # noqa: E402
from bench_teacher_student import train_teacher  # noqa: E402

from mattinglib.config import REPO_ROOT, get_device  # noqa: E402
from mattinglib.data.target_domain import EFFECTS, TargetDomainDataset  # noqa: E402
from mattinglib.train import bgm_recipes  # noqa: E402
from mattinglib.train.adversarial import evaluate_on_target  # noqa: E402
from mattinglib.train.bgm_recipes import StudentRecipe  # noqa: E402
from mattinglib.train.student_gates import (  # noqa: E402
    gate0_domain_gap,
    gate1_discriminator_probe,
)

#: The target domain: a segmentation coarser than the teacher's training guides (6 px of
#: halo at 64 px), the plate effects it never saw in training (misaligned, re-exposed, no
#: shadow) at full strength, and the camera effects it did see (noise, JPEG, white balance)
#: mild. Gate 0 says which of them cost the teacher.
DOMAIN = {"segmentation": 0.75, "misalignment": 1.0, "shadow": 1.0, "exposure": 1.0,
          "noise": 0.25, "jpeg": 0.25, "colour_cast": 0.25, "blur": 0.0}
#: The ablation's arms: recipe changes from :func:`base_recipe`.
ARMS: dict[str, dict[str, Any]] = {
    # The released code: the recomposition is detached, the GAN term trains only D.
    "released": {"gan_gradient": "released"},
    # The paper's description: the GAN term trains the student; wrap-around shift.
    "paper": {"gan_gradient": "paper"},
    # The paper's, with a shift that exposes the new background in the vacated columns,
    # at least 5% of the width: alpha = 1 no longer recomposes a real frame.
    "paper_expose": {"gan_gradient": "paper", "shift_fill": "background", "min_shift": 0.05},
    # The same with the vacated columns filled with zeros of [-1, 1]: a half-transparent grey
    # strip, unlike anything in a real frame.
    "paper_zeros": {"gan_gradient": "paper", "shift_fill": "zeros", "min_shift": 0.05},
    # The paper's, with the anti-shortcut term: D also sees each frame cut out with another
    # frame's alpha as fake (frame pixels pasted where its subject is not, the mistake of an
    # alpha spreading towards 1).
    "paper_anti": {"gan_gradient": "paper", "anti_shortcut": True},
    # The exposing shift and the anti-shortcut term together.
    "paper_expose_anti": {"gan_gradient": "paper", "shift_fill": "background", "min_shift": 0.05,
                          "anti_shortcut": True},
}
SEEDS = (0, 1, 2)
#: Student steps per run and captures per "epoch" (the pseudo-label weight halves every two
#: epochs: 1 until step 150, 0.5 until 450, then 0.25): nine runs fit in about an hour on
#: two cores.
STEPS = 600
NUM_CAPTURES = 600
VAL_EVERY = 50
RUNS_DIR = REPO_ROOT / "runs" / "student_ablation"
OUT_DIR = RESULTS_DIR / "student_ablation"
KEYS = ("sad", "sad_image", "sad_background", "mean_alpha")


def base_recipe() -> StudentRecipe:
    """The ``cpu`` preset on :data:`DOMAIN`: :data:`STEPS` student steps on
    :data:`NUM_CAPTURES` captures."""
    return StudentRecipe.cpu().replace(strengths=DOMAIN, train_steps=STEPS, val_every=VAL_EVERY,
                                       checkpoint_every=VAL_EVERY, num_train_samples=NUM_CAPTURES)


def provenance(argv: list[str]) -> dict[str, str | None]:
    """The commit (``+changes`` if the tree had changes) and the command of this run."""
    return {"commit": commit(),
            "command": "python benchmarks/bench_student_ablation.py " + " ".join(argv)}


def teacher(device: torch.device) -> torch.nn.Module:
    model, _ = train_teacher(base_recipe().teacher, RUNS_DIR, device, progress=False)
    return model


# --------------------------------------------------------------------------- gates
def gates(args: argparse.Namespace, argv: list[str]) -> Path:
    device = get_device(args.device)
    recipe, model = base_recipe(), teacher(device)
    n, size = recipe.num_val_samples, recipe.image_size
    result: dict[str, Any] = {"provenance": provenance(argv), "domain": DOMAIN,
                              "num_samples": n, "size": size, "seed": recipe.val_seed}
    for metric in ("sad", "sad_image"):
        t0 = time.perf_counter()
        result[f"gate0_{metric}"] = gate0_domain_gap(
            model, n, size, seed=recipe.val_seed, metric=metric, domain=DOMAIN, device=device)
        print(f"gate 0 ({metric}): domain ratio {result[f'gate0_{metric}']['domain_ratio']:.2f} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    train = TargetDomainDataset(args.probe_samples, size, seed=recipe.train_seed, strengths=DOMAIN)
    held_out = TargetDomainDataset(n, size, seed=recipe.val_seed, strengths=DOMAIN)
    shifts = {"wrap": {"shift_fill": "wrap", "min_shift": 0.0},
              "expose": {"shift_fill": "background", "min_shift": 0.05}}
    # The recipe's critic learns at lr_d = 1e-5, stepped every 5th iteration: a probe at
    # 10x that rate for 400 steps is more than it learns in a run; 1e-3 for 800 steps is
    # a critic far stronger than any run's.
    critics = {"lr1e-4_400": (recipe.lr_d * 10, args.probe_steps),
               "lr1e-3_800": (1e-3, 2 * args.probe_steps)}
    for name, shift in shifts.items():
        for critic, (lr, steps) in critics.items():
            probe = gate1_discriminator_probe(model, train, held_out, steps=steps,
                                              batch_size=recipe.batch_size, ndf=recipe.ndf,
                                              lr=lr, seed=0, max_shift=recipe.max_shift,
                                              device=device, **shift)
            aucs = {k: probe[k] for k in ("auc_teacher_vs_truth", "auc_alpha1_vs_truth",
                                          "auc_real_vs_truth")}
            result[f"gate1_{name}_{critic}"] = {
                **aucs, "d_loss_first_last": [float(np.mean(probe["d_loss"][:20])),
                                              float(np.mean(probe["d_loss"][-20:]))],
                "mean_score": {k: float(np.mean(v)) for k, v in probe["scores"].items()},
                "shift": shift, "lr": lr, "steps": steps, "train_samples": args.probe_samples,
                "eval_samples": n}
            print(f"gate 1 ({name}, {critic}): AUC truth vs teacher "
                  f"{aucs['auc_teacher_vs_truth']:.3f}, truth vs alpha=1 "
                  f"{aucs['auc_alpha1_vs_truth']:.3f}, real vs truth "
                  f"{aucs['auc_real_vs_truth']:.3f}", flush=True)
    g0 = result["gate0_sad_image"]
    result["gate0_met"] = bool(g0["domain_ratio"] >= 1.5)
    # Gate 1 asks for a critic that ranks true recompositions above the teacher's on
    # held-out captures; 0.6 is a loose bar (0.5 = chance).
    result["gate1_met"] = {k: bool(v["auc_teacher_vs_truth"] >= 0.6)
                           for k, v in result.items() if k.startswith("gate1_")}
    return write_result("student_gates_cpu", result)


# --------------------------------------------------------------------------- one run
def per_effect(models: dict[str, torch.nn.Module], recipe: StudentRecipe,
               device: torch.device) -> dict[str, dict[str, dict[str, float]]]:
    """Held-out errors of each model: clean, each effect alone at strength 1, and the domain."""
    off = {e: 0.0 for e in EFFECTS}
    conditions = {"clean": off, "domain": {**off, **DOMAIN}} | {e: {**off, e: 1.0}
                                                              for e in EFFECTS}
    table: dict[str, dict[str, dict[str, float]]] = {}
    for name, strengths in conditions.items():
        data = TargetDomainDataset(recipe.num_val_samples, recipe.image_size, seed=recipe.val_seed,
                                   strengths=strengths)
        table[name] = {}
        for label, model in models.items():
            scores = evaluate_on_target(model, data, device=device)
            table[name][label] = {k: scores[k] for k in KEYS}
    return table


def run(args: argparse.Namespace, argv: list[str]) -> Path:
    device = get_device(args.device)
    if args.arm not in ARMS:
        raise SystemExit(f"--arm: expected one of {sorted(ARMS)}, got {args.arm!r}")
    base = base_recipe()
    # The student's seeds change with --seed; the held-out captures stay those of the preset.
    seeded = base.with_seed(100 + args.seed).replace(val_seed=base.val_seed)
    recipe = seeded.replace(**ARMS[args.arm])
    model = teacher(device)
    trainer = bgm_recipes.build_student_trainer(
        recipe, model, checkpoint_dir=RUNS_DIR / f"{args.arm}_s{args.seed}", device=device,
        progress=not args.quiet)
    trainer.resume()
    t0, start = time.perf_counter(), trainer.step
    history = trainer.fit()
    seconds = time.perf_counter() - t0
    curve = {"step": list(history.val_steps),
             **{k: list(v) for k, v in history.val.items()}}
    result = {"provenance": provenance(argv), "arm": args.arm, "seed": args.seed,
              "changes": ARMS[args.arm], "recipe": recipe.settings(),
              "seconds_per_step": seconds / max(trainer.step - start, 1),
              "curve": curve,
              "per_effect": per_effect({"teacher": model, "student": trainer.student}, recipe,
                                       device)}
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    return write_result(f"{args.arm}_s{args.seed}", result, directory=OUT_DIR)


# --------------------------------------------------------------------------- summary
def early_stop(curve: dict[str, list[float]]) -> int:
    """The validation index a label-free rule stops at: the smallest ``|alpha_drift|``.

    ``alpha_drift`` is the student's mean alpha minus the teacher's on unlabelled captures
    (:func:`~mattinglib.train.adversarial.label_free_scores`, no truth needed). A student
    sliding towards the critic's trivial answer (alpha = 1) drifts away from its teacher,
    so the run is taken where it was closest to it (after step 0, the fresh student), the
    author's advice for a critic that wins: stop early.

    >>> early_stop({"alpha_drift": [0.6, 0.2, -0.01, 0.05, 0.4]})
    2
    >>> early_stop({"alpha_drift": [0.0, 0.3, 0.2]})
    2
    """
    drift = np.abs(np.asarray(curve["alpha_drift"], dtype=float))
    if len(drift) < 2:
        return len(drift) - 1
    return int(np.argmin(drift[1:]) + 1)


def summary(args: argparse.Namespace, argv: list[str]) -> Path:
    runs = {}
    for path in sorted(OUT_DIR.glob("*_s*.json")):
        r = json.loads(path.read_text(encoding="utf-8"))["results"]
        runs.setdefault(r["arm"], {})[r["seed"]] = r
    if not runs:
        raise SystemExit(f"no runs under {OUT_DIR}: run the 'run' command first")
    any_run = next(iter(next(iter(runs.values())).values()))
    teacher_scores = {k: any_run["curve"][f"teacher_{k}"][-1] for k in KEYS}
    table: dict[str, Any] = {}
    for arm, by_seed in runs.items():
        finals = {s: {k: r["curve"][k][-1] for k in KEYS} for s, r in by_seed.items()}
        stops = {s: early_stop(r["curve"]) for s, r in by_seed.items()}
        stopped = {s: {**{k: by_seed[s]["curve"][k][i] for k in KEYS},
                       "step": by_seed[s]["curve"]["step"][i]} for s, i in stops.items()}
        for name, per_seed in ((arm, finals), (f"{arm}+early_stop", stopped)):
            row = {"seeds": sorted(per_seed), "per_seed": per_seed}
            for k in KEYS:
                values = np.array([per_seed[s][k] for s in sorted(per_seed)])
                row[k] = {"mean": float(values.mean()),
                          "spread": float(values.max() - values.min()),
                          "std": float(values.std(ddof=1)) if len(values) > 1 else None}
                if k.startswith("sad"):
                    ratio = values / teacher_scores[k]
                    row[f"{k}_ratio_to_teacher"] = {
                        "mean": float(ratio.mean()), "spread": float(ratio.max() - ratio.min())}
            row["per_effect_sad_image"] = (None if name.endswith("early_stop") else {
                effect: {"teacher": by_seed[min(by_seed)]["per_effect"][effect]["teacher"]
                         ["sad_image"],
                         "student_mean": float(np.mean(
                             [r["per_effect"][effect]["student"]["sad_image"]
                              for r in by_seed.values()]))}
                for effect in any_run["per_effect"]})
            table[name] = row
    verdict = {}
    for name, row in table.items():
        ratio = row["sad_image_ratio_to_teacher"]
        verdict[name] = {"ratio": ratio["mean"], "spread": ratio["spread"],
                         "beats_teacher": bool(ratio["mean"] < 0.9
                                               and (1 - ratio["mean"]) > 2 * ratio["spread"])}
    recipe = base_recipe()
    held_out = TargetDomainDataset(recipe.num_val_samples, recipe.image_size,
                                   seed=recipe.val_seed, strengths=DOMAIN)
    truth_alpha = float(np.mean([held_out.ground_truth(i)["alpha"].mean().item()
                                 for i in range(len(held_out))]))
    result = {"provenance": provenance(argv), "domain": DOMAIN, "steps": STEPS,
              "teacher": teacher_scores, "truth_mean_alpha": truth_alpha, "arms": table,
              "verdict_sad_image": verdict,
              "rule": "beats_teacher: mean ratio < 0.9 and its gap to 1 more than twice the "
                      "seed spread (max - min over seeds)"}
    path = write_result("student_ablation_cpu", result)
    plot(runs, teacher_scores, RESULTS_DIR / "student_ablation_cpu.png")
    return path


def plot(runs: dict[str, dict[int, Any]], teacher_scores: dict[str, float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(17, 4.2))
    colours = {arm: f"C{i}" for i, arm in enumerate(sorted(runs))}  # one colour per arm
    for arm, by_seed in sorted(runs.items()):
        for seed, r in sorted(by_seed.items()):
            c = r["curve"]
            label = arm if seed == min(by_seed) else None
            for ax, key in zip(axes, ("sad_image", "sad", "mean_alpha")):
                ax.plot(c["step"], c[key], color=colours[arm], alpha=0.8, label=label)
    for ax, key, title in zip(axes, ("sad_image", "sad", "mean_alpha"),
                              ("held-out SAD, whole image", "held-out SAD, trimap band",
                               "mean predicted alpha")):
        ax.axhline(teacher_scores[key], color="k", linestyle="--", label="teacher")
        ax.set(xlabel="student step", title=title)
        if key != "mean_alpha":
            ax.set_yscale("log")
        ax.legend()
    fig.suptitle(f"teacher-student ablation on the CPU preset ({len(SEEDS)} seeds per arm)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("gates", "run", "summary"))
    parser.add_argument("--arm", default="paper_expose")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--probe-steps", type=int, default=400)
    parser.add_argument("--probe-samples", type=int, default=96)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    path = {"gates": gates, "run": run, "summary": summary}[args.command](args, argv)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
