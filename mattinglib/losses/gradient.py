"""Sobel image gradients with fixed filter buffers.

The filters live in registered buffers, so they move with ``.to(device)`` and
are never rebuilt on every call (the original Background Matting code created
two new CUDA tensors in every loss evaluation).

>>> import torch
>>> x = torch.zeros(1, 1, 5, 5); x[..., 2:] = 1.0
>>> gx, gy = sobel(x)
>>> gx[0, 0, 2, 1:4].tolist(), float(gy[0, 0, 1:4, 1:4].abs().sum())  # interior: no border effect
([-4.0, -4.0, 0.0], 0.0)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["sobel", "Sobel", "SOBEL_X", "SOBEL_Y"]

# Correlation kernels as used by Background Matting (F.conv2d, zero padding 1):
# positive response where the image *decreases* to the right / downwards.
SOBEL_X = ((1.0, 0.0, -1.0), (2.0, 0.0, -2.0), (1.0, 0.0, -1.0))
SOBEL_Y = ((1.0, 2.0, 1.0), (0.0, 0.0, 0.0), (-1.0, -2.0, -1.0))


def _kernels(dtype=torch.float32, device=None) -> torch.Tensor:
    return torch.tensor((SOBEL_X, SOBEL_Y), dtype=dtype, device=device).unsqueeze(1)


def sobel(x: torch.Tensor,
          kernels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Horizontal and vertical Sobel responses of every channel, zero padding.

    Args:
        x: ``(B, C, H, W)`` tensor.
        kernels: optional ``(2, 1, 3, 3)`` filter bank (``Sobel`` passes its buffer).

    Returns:
        ``(gx, gy)``, each ``(B, C, H, W)``.
    """
    if x.ndim != 4:
        raise ValueError(f"x: expected shape (B,C,H,W), got {tuple(x.shape)}")
    if kernels is None:
        kernels = _kernels(x.dtype, x.device)
    b, c, h, w = x.shape
    out = F.conv2d(x.reshape(b * c, 1, h, w), kernels.to(x.dtype), padding=1)
    out = out.reshape(b, c, 2, h, w)
    return out[:, :, 0], out[:, :, 1]


class Sobel(nn.Module):
    """Module form of :func:`sobel`, holding the filters as a buffer."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("kernels", _kernels(), persistent=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return sobel(x, self.kernels)
