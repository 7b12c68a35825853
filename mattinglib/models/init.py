"""Weight initialisation of the Background Matting networks.

Background Matting (Sengupta et al., CVPR 2020) initialises its generator and
discriminator with one rule applied to every layer (``conv_init`` in the
authors' ``networks.py``):

- convolution weights: Xavier-uniform with gain ``sqrt(2)`` (the ReLU gain),
  convolution biases: 0;
- BatchNorm weights: normal with mean 1 and standard deviation 0.2, biases: 0.

Layers the rule does not name (InstanceNorm without affine parameters,
padding, activations) have nothing to initialise. The running statistics of
BatchNorm layers are reset to their defaults, so that a re-initialised model
does not carry statistics that belong to other weights.

All random draws come from one CPU ``torch.Generator`` in the order of
``model.modules()`` and are then copied to the parameter's device and dtype:
the same seed gives the same weights on CPU and on a GPU.

>>> import torch
>>> from torch import nn
>>> net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))
>>> _ = init_weights(net, seed=0)
>>> float(net[0].bias.detach().abs().sum()), float(net[1].bias.detach().abs().sum())
(0.0, 0.0)
>>> a = init_weights(nn.Conv2d(3, 8, 3), seed=1).weight
>>> b = init_weights(nn.Conv2d(3, 8, 3), seed=1).weight
>>> bool(torch.equal(a, b))
True
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd

from .._checks import check_int

__all__ = ["init_weights", "CONV_GAIN", "BN_WEIGHT_MEAN", "BN_WEIGHT_STD"]

#: Xavier gain of the convolutions (the gain recommended for ReLU).
CONV_GAIN = math.sqrt(2.0)
#: Mean and standard deviation of the BatchNorm scale at initialisation.
BN_WEIGHT_MEAN = 1.0
BN_WEIGHT_STD = 0.2


def _as_generator(generator: torch.Generator | None, seed: int | None) -> torch.Generator:
    if generator is not None and seed is not None:
        raise ValueError("seed: give either seed or generator, not both")
    if generator is not None:
        if not isinstance(generator, torch.Generator):
            raise ValueError(f"generator: expected a torch.Generator, "
                             f"got {type(generator).__name__}")
        if generator.device.type != "cpu":
            raise ValueError(f"generator: expected a CPU torch.Generator, "
                             f"got one on {generator.device}")
        return generator
    if seed is None:
        raise ValueError("seed: expected an int seed or a torch.Generator, got neither "
                         "(initialisation never draws from the global random state)")
    return torch.Generator().manual_seed(check_int(seed, "seed"))


@torch.no_grad()
def _fill(param: torch.Tensor, values: torch.Tensor) -> None:
    param.copy_(values.to(device=param.device, dtype=param.dtype))


def init_weights(module: nn.Module, *, seed: int | None = None,
                 generator: torch.Generator | None = None) -> nn.Module:
    """Initialise ``module`` in place with the Background Matting rule.

    Args:
        module: any ``nn.Module``; every convolution (``Conv1d/2d/3d`` and
            transposed) and every BatchNorm layer inside it is initialised.
        seed: an int seed for a fresh CPU generator.
        generator: a CPU ``torch.Generator`` to draw from instead (its state
            advances). Give exactly one of ``seed`` and ``generator``.

    Returns:
        ``module`` itself, for chaining.

    Raises:
        ValueError: neither or both of ``seed`` and ``generator``, or a
            generator that is not on the CPU.
    """
    gen = _as_generator(generator, seed)
    for m in module.modules():
        if isinstance(m, _ConvNd):
            w = torch.empty(m.weight.shape, dtype=torch.float32)
            nn.init.xavier_uniform_(w, gain=CONV_GAIN, generator=gen)
            _fill(m.weight, w)
            if m.bias is not None:
                with torch.no_grad():
                    m.bias.zero_()
        elif isinstance(m, _BatchNorm):
            if m.weight is not None:
                w = torch.empty(m.weight.shape, dtype=torch.float32)
                nn.init.normal_(w, BN_WEIGHT_MEAN, BN_WEIGHT_STD, generator=gen)
                _fill(m.weight, w)
            if m.bias is not None:
                with torch.no_grad():
                    m.bias.zero_()
            m.reset_running_stats()
    return module
