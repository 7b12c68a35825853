"""One process of the two-process CPU DistributedDataParallel test (``tests/test_distributed.py``).

Run by ``torchrun --nproc_per_node=2 tests/ddp_worker.py --out DIR`` (or with the same
environment variables set by hand, as the test does). Each rank
builds the model from a *different* seed (DDP must broadcast rank 0's weights),
trains a few SGD steps with the library's Trainer, and writes to
``DIR/rank<r>.pt`` its initial and final weights, the sample indices of every
step and its history.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn

from mattinglib.train.distributed import dist_info_from_env, shutdown_distributed
from mattinglib.train.trainer import Trainer

NUM_SAMPLES, BATCH_SIZE, LR = 12, 2, 0.1


def dataset() -> torch.utils.data.Dataset:
    g = torch.Generator().manual_seed(0)
    images = torch.rand(NUM_SAMPLES, 3, 6, 6, generator=g)
    alphas = images.mean(dim=1, keepdim=True)
    return torch.utils.data.TensorDataset(images, alphas, torch.arange(NUM_SAMPLES))


def model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 1, 1))


def l2(net: nn.Module, images: torch.Tensor, alphas: torch.Tensor) -> torch.Tensor:
    return ((net(images) - alphas) ** 2).mean()


def main(args: argparse.Namespace) -> None:
    rank = dist_info_from_env().rank
    net = model(seed=100 + rank)
    initial = [p.detach().clone() for p in net.parameters()]
    seen: list[list[int]] = []

    def loss_fn(wrapped, batch):
        images, alphas, index = batch
        seen.append(index.tolist())
        loss = l2(wrapped, images, alphas)
        return {"l2": loss, "total": loss}

    def val_fn(bare, data):
        images, alphas, _ = data[:]
        return {"l2": float(l2(bare, images, alphas))}

    trainer = Trainer(net, torch.optim.SGD(net.parameters(), lr=LR), loss_fn, dataset(),
                      batch_size=BATCH_SIZE, max_steps=args.steps, val_fn=val_fn,
                      val_data=dataset(), val_every=2, checkpoint_dir=Path(args.out) / "ckpt",
                      checkpoint_every=2, device="cpu", seed=7)
    trainer.fit()
    torch.save({
        "rank": rank,
        "world_size": trainer.dist.world_size,
        "initial": initial,
        "final": [p.detach().clone() for p in trainer.model.parameters()],
        "indices": seen,
        "history": trainer.history.to_dict(),
        "wrapped": type(trainer._forward_model).__name__,
    }, Path(args.out) / f"rank{rank}.pt")
    shutdown_distributed()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=5)
    main(parser.parse_args())
