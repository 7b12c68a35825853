"""One process of the two-process CPU teacher-student test (``tests/test_distributed.py``).

Started with the environment ``torchrun`` gives its workers. Each rank builds its student
and discriminator from a *different* seed (the trainer must start every process from rank
0's), trains ``--steps`` steps on a small generated target domain, and writes to
``DIR/student_rank<r>.pt`` its final weights, the sample indices of every step and its
history; rank 0 also writes the checkpoints.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from mattinglib.data.target_domain import TargetDomainDataset
from mattinglib.models.bgm import bgm_generator
from mattinglib.train.adversarial import (
    TeacherStudentTrainer,
    fresh_discriminator,
    fresh_student_like,
)
from mattinglib.train.distributed import dist_info_from_env, shutdown_distributed

SIZE, SAMPLES, BATCH = 32, 8, 1


class Recording(TeacherStudentTrainer):
    """The trainer, remembering the first pixel of every image it trained on."""

    seen: list[list[float]]

    def train_step(self, batch):
        self.seen.append(batch["image"][:, 0, 0, 0].tolist())
        return super().train_step(batch)


def main(args: argparse.Namespace) -> None:
    rank = dist_info_from_env().rank
    teacher = bgm_generator(ngf=8, nf_part=8, n_blocks1=1, n_blocks2=1, seed=0)
    trainer = Recording(
        teacher, fresh_student_like(teacher, seed=1 + 100 * rank),
        fresh_discriminator(ndf=8, seed=2 + 100 * rank), TargetDomainDataset(SAMPLES, SIZE, seed=3),
        batch_size=BATCH, max_steps=args.steps, device="cpu", seed=5, d_every=1,
        checkpoint_dir=Path(args.out) / "ckpt", checkpoint_every=2, progress=False)
    trainer.seen = []
    trainer.fit(resume=args.resume)
    torch.save({"final": [p.detach().clone() for p in trainer.student.parameters()],
                "discriminator": [p.detach().clone() for p in trainer.discriminator.parameters()],
                "seen": trainer.seen, "history": trainer.history.to_dict(),
                "world_size": trainer.dist.world_size},
               Path(args.out) / f"student_rank{rank}.pt")
    shutdown_distributed()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--resume", action="store_true")
    main(parser.parse_args())
