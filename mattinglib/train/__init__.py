"""Training: the supervised trainer every chapter uses, checkpoints, history, DDP.

``Trainer(model, optimizer, loss_fn, train_data, ...)`` takes any model whose
``loss_fn(model, batch)`` returns a dict of named scalar terms with a
``"total"`` key; see :mod:`mattinglib.train.trainer`.
"""

from .checkpoint import (
    checkpoint_path,
    get_rng_state,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
    set_rng_state,
)
from .distributed import DistInfo, setup_distributed, shutdown_distributed
from .history import History
from .interrupt import TrainingInterrupted
from .trainer import NonFiniteLossError, Trainer, seed_everything

__all__ = [
    "Trainer",
    "NonFiniteLossError",
    "TrainingInterrupted",
    "seed_everything",
    "History",
    "save_checkpoint",
    "load_checkpoint",
    "latest_checkpoint",
    "list_checkpoints",
    "checkpoint_path",
    "get_rng_state",
    "set_rng_state",
    "DistInfo",
    "setup_distributed",
    "shutdown_distributed",
]
