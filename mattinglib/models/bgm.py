"""The Background Matting generator (Sengupta et al., CVPR 2020).

The network predicts an alpha matte and a foreground from four inputs: the
photo, a photo of the same scene without the person (the captured
background), a soft segmentation of the person and a motion cue (four grey
neighbouring frames). Its parameter names and shapes are those of the authors'
``ResnetConditionHR`` (senguptaumd/Background-Matting, ``networks.py``), so the
released checkpoints load with :func:`from_official`.

Data flow, for an input of ``H x W`` (``ngf = 64``)::

    image (3) --model_enc1--> 128 x H/2 --model_enc2--> 256 x H/4 ------------+
    back  (3) --model_enc_back--> 256 x H/4 --+                               |
    seg   (1) --model_enc_seg---> 256 x H/4 --+-- selectors: 1x1 conv on     |
    multi (4) --model_enc_multi-> 256 x H/4 --+   concat(image feat, other)  |
                                                  -> 3 x 64 x H/4 ----------+
    concat (448) --model_res_dec (1x1 conv + 7 ResNet blocks)--> 256 x H/4
      +--model_res_dec_al (3 blocks)--model_al_out (2 x [up x2, conv], 7x7, Tanh)--> alpha (1 x H)
      +--model_res_dec_fg (3 blocks)--model_dec_fg1 (up x2)--> 128 x H/2
                           concat with the H/2 image feature --model_fg_out--> fg (3 x H)

**The motion quirk.** In the released code the third selector,
``comb_multi``, receives concat(image feature, *background* feature): the
motion encoder is built, its output is never used, and the published
checkpoints were trained that way. ``use_motion_features=False`` (the default)
reproduces this, so official weights give the official outputs;
``use_motion_features=True`` feeds the motion feature as the paper describes
(the state dict is the same, but such a model must be trained that way).

With the quirk this implementation does not run the motion encoder at all:
its output cannot reach alpha, fg or the loss, so its weights never receive a
gradient in either version. The one observable difference is that the
original, in train mode, also updates the running statistics of that unused
encoder's BatchNorm layers; those statistics are read by nothing unless the
model is later switched to ``use_motion_features=True``, whose motion encoder
is untrained anyway. Skipping it saves an encoder's worth of compute and
memory. Its parameters are listed by
:meth:`BackgroundMattingGenerator.unused_parameters`, e.g. to freeze them
before wrapping the model in ``DistributedDataParallel`` (which otherwise needs
``find_unused_parameters=True``, as the original would too).

**Value range.** Like the original, the model takes and returns tensors in
``[-1, 1]``: inputs are ``2 x - 1`` of the usual ``[0, 1]`` images, alpha
comes out of a Tanh and the foreground has no activation (it can leave
``[-1, 1]`` slightly). :func:`to_model_range` and :func:`from_model_range`
are the one place where the library converts.

>>> import torch
>>> net = BackgroundMattingGenerator(ngf=8, nf_part=8, n_blocks1=1, n_blocks2=1).eval()
>>> x = torch.rand(1, 3, 32, 24)
>>> image, back = to_model_range(x), to_model_range(x)
>>> seg, multi = to_model_range(torch.rand(1, 1, 32, 24)), to_model_range(torch.rand(1, 4, 32, 24))
>>> alpha, fg = net(image, back, seg, multi)
>>> tuple(alpha.shape), tuple(fg.shape)
((1, 1, 32, 24), (1, 3, 32, 24))
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._checks import (
    InputTypeError,
    check_bool,
    check_finite,
    check_float_input,
    check_int,
    check_range,
    check_shape,
)
from ..weights import load_weights
from .init import init_weights

__all__ = [
    "BackgroundMattingGenerator",
    "ResnetBlock",
    "bgm_generator",
    "from_official",
    "to_model_range",
    "from_model_range",
    "strip_data_parallel_prefix",
    "OFFICIAL_WEIGHTS_HELP",
    "RandomWeightsWarning",
    "GENERATOR_INPUTS",
]

#: A dataset's keys of the generator's four inputs, in its argument order
#: ``generator(image, bg, seg, multi_fr)``.
GENERATOR_INPUTS = ("image", "bg", "seg", "multi_fr")

#: Where the released weights come from (they cannot be downloaded automatically).
OFFICIAL_WEIGHTS_HELP = (
    "The official Background Matting (CVPR 2020) generator checkpoints are published by the "
    "authors through a Google Drive link in the README of their GitHub repository "
    "senguptaumd/Background-Matting. Download the generator checkpoint (a .pth file) manually "
    "and pass its local path."
)


class RandomWeightsWarning(UserWarning):
    """The generator has random weights: the matte only demonstrates the pipeline."""


# --------------------------------------------------------------------------- value range


def to_model_range(x: torch.Tensor, *, check: bool = True) -> torch.Tensor:
    """Map a ``[0, 1]`` tensor to the model's ``[-1, 1]`` range: ``2 x - 1``.

    Args:
        x: any shape, floating point, values in ``[0, 1]``.
        check: validate the range (one device synchronisation on a GPU; turn
            it off inside a training loop whose data is already checked).

    Returns:
        A tensor of the same shape in ``[-1, 1]``.

    Raises:
        ValueError: values outside ``[0, 1]`` or non-finite (when ``check``).
        TypeError: not a floating point tensor.

    >>> to_model_range(torch.tensor([0.0, 0.5, 1.0])).tolist()
    [-1.0, 0.0, 1.0]
    """
    if not isinstance(x, torch.Tensor):
        raise InputTypeError(f"x: expected a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise InputTypeError(f"x: expected a floating point tensor in [0, 1], got dtype {x.dtype} "
                             "(an 8-bit image: x.float() / 255 first)")
    if check:
        check_range(x, 0.0, 1.0, name="x")
    return x * 2 - 1


def _check_model_range(inputs: Mapping[str, torch.Tensor]) -> None:
    """Check that every tensor lies in ``[-1, 1]``, with one device synchronisation in all."""
    if any(x.numel() == 0 for x in inputs.values()):
        return
    extremes = torch.stack([torch.stack(torch.aminmax(x.detach())).double()
                            for x in inputs.values()]).tolist()
    for name, (lo, hi) in zip(inputs, extremes):
        extremes_of = torch.tensor([lo, hi], dtype=torch.float64)
        check_finite(extremes_of, name=name)
        try:
            check_range(extremes_of, -1.0, 1.0, name=name)
        except ValueError as err:
            raise ValueError(f"{err} (the generator takes [-1, 1]: map a [0, 1] tensor "
                             "with to_model_range)") from None


def from_model_range(y: torch.Tensor) -> torch.Tensor:
    """Map the model's ``[-1, 1]`` range back to ``[0, 1]``: ``(y + 1) / 2``.

    Nothing is clipped: the alpha from the Tanh lies inside ``(0, 1)`` after
    the mapping, but the foreground has no output activation and can fall
    slightly outside; clamp it explicitly where a picture needs it.

    Args:
        y: any shape, floating point.

    Returns:
        A tensor of the same shape.

    >>> from_model_range(torch.tensor([-1.0, 0.0, 1.0])).tolist()
    [0.0, 0.5, 1.0]
    """
    return (y + 1) / 2


# --------------------------------------------------------------------------- building blocks


def _norm_factory(norm: str) -> Callable[[int], nn.Module]:
    if norm == "batch":
        return nn.BatchNorm2d
    if norm == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    raise ValueError(f"norm: expected 'batch' or 'instance', got {norm!r}")


def _pad(padding_type: str, size: int) -> tuple[list[nn.Module], int]:
    """Explicit padding layers and the conv's own padding for one 3x3 conv."""
    if padding_type == "reflect":
        return [nn.ReflectionPad2d(size)], 0
    if padding_type == "replicate":
        return [nn.ReplicationPad2d(size)], 0
    if padding_type == "zero":
        return [], size
    raise ValueError(f"padding_type: expected 'reflect', 'replicate' or 'zero', "
                     f"got {padding_type!r}")


class ResnetBlock(nn.Module):
    """Residual block ``x + [pad, conv3x3, norm, ReLU, pad, conv3x3, norm](x)``.

    The layers live in ``conv_block`` (indices 1 and 5 are the convolutions,
    2 and 6 the norms with reflect padding), as in the original, so the
    checkpoint keys match.

    Shape:
        ``(B, dim, H, W) -> (B, dim, H, W)``.
    """

    def __init__(self, dim: int, *, norm: str = "batch", padding_type: str = "reflect") -> None:
        super().__init__()
        norm_layer = _norm_factory(norm)
        layers: list[nn.Module] = []
        for last in (False, True):
            pad, p = _pad(padding_type, 1)
            layers += pad + [nn.Conv2d(dim, dim, kernel_size=3, padding=p, bias=True),
                             norm_layer(dim)]
            if not last:
                layers.append(nn.ReLU(True))
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


def _encoder_layers(in_ch: int, ngf: int,
                    norm_layer: Callable[[int], nn.Module]) -> list[nn.Module]:
    """7x7 conv to ngf, then two stride-2 3x3 convs (ngf -> 2 ngf -> 4 ngf)."""
    layers: list[nn.Module] = [nn.ReflectionPad2d(3),
                               nn.Conv2d(in_ch, ngf, kernel_size=7, bias=True),
                               norm_layer(ngf), nn.ReLU(True)]
    for mult in (1, 2):
        c = ngf * mult
        layers += [nn.Conv2d(c, 2 * c, kernel_size=3, stride=2, padding=1, bias=True),
                   norm_layer(2 * c), nn.ReLU(True)]
    return layers


def _up_conv(in_ch: int, out_ch: int, norm_layer: Callable[[int], nn.Module]) -> list[nn.Module]:
    return [nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
            nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1, bias=True),
            norm_layer(out_ch), nn.ReLU(True)]


# --------------------------------------------------------------------------- generator


class BackgroundMattingGenerator(nn.Module):
    """Background Matting v1 generator (the authors' ``ResnetConditionHR``).

    Args:
        input_nc: channels of (image, background, segmentation, motion cue).
        output_nc: 1 (alpha) + foreground channels.
        ngf: base width; the encoders end at ``4 ngf`` channels at ``H/4``.
        nf_part: output channels of each selector. Must equal ``ngf``: the
            original builds the selectors' norm layers with ``ngf`` channels,
            so it only runs (and its checkpoints only exist) with equal widths.
        n_blocks1: ResNet blocks after the fusion (0 or more).
        n_blocks2: ResNet blocks in each of the alpha and foreground heads (0 or more).
        use_motion_features: ``False`` reproduces the released code, which
            feeds the *background* feature to ``comb_multi``; ``True`` feeds
            the motion feature as the paper describes (module docstring).
        norm: ``"batch"`` (the original) or ``"instance"`` (no affine).
        padding_type: padding inside the ResNet blocks: ``"reflect"`` (the
            original), ``"replicate"`` or ``"zero"``.
        check_values: check that the inputs are finite and in ``[-1, 1]`` (a
            ``[0, 1]`` or ``[0, 255]`` input runs but gives a wrong matte).
            ``None`` (the default): only for inputs on the CPU, where the check
            costs no device synchronisation; ``True``: always (one
            synchronisation per forward on a GPU); ``False``: never. The
            attribute of the same name changes it later. Dtypes and shapes are
            always checked.

    Shape:
        - image: ``(B, input_nc[0], H, W)``, background ``(B, input_nc[1], H, W)``,
          segmentation ``(B, input_nc[2], H, W)``, motion ``(B, input_nc[3], H, W)``,
          all in ``[-1, 1]``; ``H`` and ``W`` divisible by 4.
        - returns ``alpha`` ``(B, 1, H, W)`` in ``(-1, 1)`` (Tanh) and ``fg``
          ``(B, output_nc - 1, H, W)`` in about ``[-1, 1]`` (no activation).

    The default configuration has 17,908,420 parameters. Layers carry the
    original names (``model_enc1``, ``comb_back``, ``model_al_out``, ...), so
    forward hooks can be registered by name; :meth:`forward_features` returns
    every intermediate feature for tracing.
    """

    def __init__(self, input_nc: tuple[int, int, int, int] = (3, 3, 1, 4), output_nc: int = 4,
                 ngf: int = 64, nf_part: int = 64, n_blocks1: int = 7, n_blocks2: int = 3,
                 use_motion_features: bool = False, norm: str = "batch",
                 padding_type: str = "reflect", check_values: bool | None = None) -> None:
        super().__init__()
        self.check_values = check_bool(check_values, "check_values", optional=True,
                                       none_means="only for inputs on the CPU")
        input_nc = tuple(input_nc)
        if len(input_nc) != 4:
            raise ValueError(f"input_nc: expected 4 channel counts (image, back, seg, multi), "
                             f"got {input_nc}")
        input_nc = tuple(check_int(c, f"input_nc[{i}]", minimum=1) for i, c in enumerate(input_nc))
        output_nc = check_int(output_nc, "output_nc", minimum=2)
        ngf = check_int(ngf, "ngf", minimum=1)
        nf_part = check_int(nf_part, "nf_part", minimum=1)
        # Block counts, not widths: 0 leaves the trunk or a head without residual blocks.
        n_blocks1 = check_int(n_blocks1, "n_blocks1", minimum=0)
        n_blocks2 = check_int(n_blocks2, "n_blocks2", minimum=0)
        if nf_part != ngf:
            raise ValueError(
                f"nf_part: must equal ngf because the original builds the selectors' norm layers "
                f"with ngf channels (so only nf_part == ngf runs and has checkpoints); "
                f"got nf_part={nf_part}, ngf={ngf}")
        norm_layer = _norm_factory(norm)
        _pad(padding_type, 1)  # validates the name early

        self.input_nc = input_nc
        self.output_nc = output_nc
        self.ngf = ngf
        self.nf_part = nf_part
        self.use_motion_features = bool(use_motion_features)
        self.config = dict(input_nc=input_nc, output_nc=output_nc, ngf=ngf, nf_part=nf_part,
                           n_blocks1=n_blocks1, n_blocks2=n_blocks2, norm=norm,
                           padding_type=padding_type)
        deep = ngf * 4
        block = functools.partial(ResnetBlock, deep, norm=norm, padding_type=padding_type)

        image_encoder = _encoder_layers(input_nc[0], ngf, norm_layer)
        # Split after the first stride-2 conv: the H/2 feature feeds the foreground head.
        self.model_enc1 = nn.Sequential(*image_encoder[:7])
        self.model_enc2 = nn.Sequential(*image_encoder[7:])
        self.model_enc_back = nn.Sequential(*_encoder_layers(input_nc[1], ngf, norm_layer))
        self.model_enc_seg = nn.Sequential(*_encoder_layers(input_nc[2], ngf, norm_layer))
        self.model_enc_multi = nn.Sequential(*_encoder_layers(input_nc[3], ngf, norm_layer))

        def selector() -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(2 * deep, nf_part, kernel_size=1, bias=False),
                                 norm_layer(ngf), nn.ReLU(True))

        self.comb_back = selector()
        self.comb_seg = selector()
        self.comb_multi = selector()

        self.model_res_dec = nn.Sequential(
            nn.Conv2d(deep + 3 * nf_part, deep, kernel_size=1, bias=False),
            norm_layer(deep), nn.ReLU(True),
            *[block() for _ in range(n_blocks1)])
        self.model_res_dec_al = nn.Sequential(*[block() for _ in range(n_blocks2)])
        self.model_res_dec_fg = nn.Sequential(*[block() for _ in range(n_blocks2)])

        self.model_al_out = nn.Sequential(
            *_up_conv(deep, deep // 2, norm_layer), *_up_conv(deep // 2, ngf, norm_layer),
            nn.ReflectionPad2d(3), nn.Conv2d(ngf, 1, kernel_size=7, bias=True), nn.Tanh())
        self.model_dec_fg1 = nn.Sequential(*_up_conv(deep, 2 * ngf, norm_layer))
        self.model_fg_out = nn.Sequential(
            *_up_conv(4 * ngf, ngf, norm_layer),
            nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc - 1, kernel_size=7, bias=True))

    # ------------------------------------------------------------------ checks

    def check_inputs(self, image: torch.Tensor, back: torch.Tensor, seg: torch.Tensor,
                     multi: torch.Tensor) -> None:
        """Raise ``ValueError`` (``TypeError`` for a wrong type or dtype) unless the four inputs
        fit.

        Each must be a tensor of the weights' dtype, ``(B, C, H, W)`` with its
        own channel count, all with the same ``B``, ``H``, ``W``, and ``H``,
        ``W`` divisible by 4 (two stride-2 stages whose H/2 feature is
        concatenated on the way up); values in ``[-1, 1]`` as ``check_values`` says.
        """
        inputs = {"image": image, "back": back, "seg": seg, "multi": multi}
        dtype = next(self.parameters()).dtype
        for name, x in inputs.items():
            check_float_input(x, name=name, dtype=dtype)
        dims = check_shape(image, f"B,{self.input_nc[0]},H,W", name="image")
        b, h, w = dims["B"], dims["H"], dims["W"]
        for name, x, c in (("back", back, self.input_nc[1]), ("seg", seg, self.input_nc[2]),
                           ("multi", multi, self.input_nc[3])):
            check_shape(x, f"{b},{c},{h},{w}", name=name)
        if h % 4 or w % 4:
            raise ValueError(f"image: expected height and width divisible by 4, got {h} x {w}")
        if self.check_values or (self.check_values is None and image.device.type == "cpu"):
            _check_model_range(inputs)

    # ------------------------------------------------------------------ forward

    def forward(self, image: torch.Tensor, back: torch.Tensor, seg: torch.Tensor,
                multi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Predict ``(alpha, fg)`` in ``[-1, 1]`` (see the class docstring for shapes)."""
        self.check_inputs(image, back, seg, multi)
        return self._run(image, back, seg, multi, None)

    def forward_features(self, image: torch.Tensor, back: torch.Tensor, seg: torch.Tensor,
                         multi: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every intermediate feature of one forward pass, in order, by name.

        Keys (``C = 4 ngf``, ``P = nf_part``): ``image_half`` ``(B, 2 ngf, H/2, W/2)``,
        ``image_feat``, ``back_feat``, ``seg_feat`` ``(B, C, H/4, W/4)``,
        ``multi_feat`` (only when ``use_motion_features``: with the quirk the
        motion encoder does not run), ``sel_back``, ``sel_seg``, ``sel_multi``
        ``(B, P, H/4, W/4)``, ``fused``, ``alpha_dec``, ``fg_dec`` ``(B, C, H/4, W/4)``,
        ``fg_half`` ``(B, 2 ngf, H/2, W/2)``, then ``alpha`` and ``fg`` as
        :meth:`forward` returns them.

        >>> net = BackgroundMattingGenerator(ngf=4, nf_part=4, n_blocks1=1, n_blocks2=1).eval()
        >>> x = [torch.zeros(1, c, 16, 8) for c in (3, 3, 1, 4)]
        >>> {k: tuple(v.shape[1:]) for k, v in net.forward_features(*x).items()}["sel_multi"]
        (4, 4, 2)
        """
        self.check_inputs(image, back, seg, multi)
        features: dict[str, torch.Tensor] = {}
        self._run(image, back, seg, multi, features)
        return features

    def _run(self, image: torch.Tensor, back: torch.Tensor, seg: torch.Tensor, multi: torch.Tensor,
             features: dict[str, torch.Tensor] | None) -> tuple[torch.Tensor, torch.Tensor]:
        def keep(name: str, t: torch.Tensor) -> torch.Tensor:
            if features is not None:
                features[name] = t
            return t

        image_half = keep("image_half", self.model_enc1(image))
        image_feat = keep("image_feat", self.model_enc2(image_half))
        back_feat = keep("back_feat", self.model_enc_back(back))
        seg_feat = keep("seg_feat", self.model_enc_seg(seg))
        if self.use_motion_features:
            third = keep("multi_feat", self.model_enc_multi(multi))
        else:
            third = back_feat  # the released code's wiring (module docstring)
        selected = torch.cat([
            keep("sel_back", self.comb_back(torch.cat([image_feat, back_feat], dim=1))),
            keep("sel_seg", self.comb_seg(torch.cat([image_feat, seg_feat], dim=1))),
            keep("sel_multi", self.comb_multi(torch.cat([image_feat, third], dim=1))),
        ], dim=1)
        fused = keep("fused", self.model_res_dec(torch.cat([image_feat, selected], dim=1)))
        alpha = self.model_al_out(keep("alpha_dec", self.model_res_dec_al(fused)))
        fg_dec = keep("fg_dec", self.model_res_dec_fg(fused))
        fg_half = keep("fg_half", self.model_dec_fg1(fg_dec))
        fg = self.model_fg_out(torch.cat([fg_half, image_half], dim=1))
        keep("alpha", alpha)
        keep("fg", fg)
        return alpha, fg

    def unused_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters that cannot receive a gradient in the current mode.

        With the quirk (``use_motion_features=False``) these are the motion
        encoder's; freeze them (``p.requires_grad_(False)``) before
        ``DistributedDataParallel``, or pass ``find_unused_parameters=True``.
        """
        if not self.use_motion_features:
            yield from self.model_enc_multi.parameters()


# --------------------------------------------------------------------------- official weights


def strip_data_parallel_prefix(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """Drop the ``module.`` prefix that ``nn.DataParallel`` adds to every key.

    Keys are returned unchanged unless *all* of them carry the prefix.

    >>> list(strip_data_parallel_prefix({"module.a.weight": 0, "module.b": 1}))
    ['a.weight', 'b']
    """
    prefix = "module."
    if state_dict and all(k.startswith(prefix) for k in state_dict):
        return {k[len(prefix):]: v for k, v in state_dict.items()}
    return dict(state_dict)


def _short_list(keys: list[str], limit: int = 12) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


def _check_against(model: nn.Module, state_dict: Mapping[str, Any], *,
                   source: str = "state_dict:") -> None:
    """Raise a readable ``ValueError`` for missing, unexpected or mis-shaped keys.

    ``source`` starts the message: the argument, and the file when there is one.
    """
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s): {_short_list(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s): {_short_list(unexpected)}")
    wrong = []
    for k, v in state_dict.items():
        if k in expected:
            if not isinstance(v, torch.Tensor):
                wrong.append(f"{k}: expected a tensor, got {type(v).__name__}")
            elif tuple(v.shape) != tuple(expected[k].shape):
                wrong.append(f"{k}: checkpoint has shape {tuple(v.shape)}, "
                             f"the model expects {tuple(expected[k].shape)}")
    if wrong:
        problems.append(f"{len(wrong)} shape mismatch(es): " + "; ".join(wrong[:12])
                        + (f"; ... ({len(wrong) - 12} more)" if len(wrong) > 12 else ""))
    if problems:
        raise ValueError(f"{source} does not match BackgroundMattingGenerator("
                         + ", ".join(f"{k}={v!r}" for k, v in model.config.items()) + "): "
                         + " | ".join(problems)
                         + ". Pass the configuration the checkpoint was trained with.")


def _load_state_dict(source: str | os.PathLike | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"weights: {path} does not exist. {OFFICIAL_WEIGHTS_HELP}")
        source = load_weights(path, name="weights")
    if not isinstance(source, Mapping):
        raise ValueError(f"state_dict: expected a mapping of parameter names to tensors, "
                         f"got {type(source).__name__}")
    return source


def from_official(state_dict_or_path: str | os.PathLike | Mapping[str, Any],
                  **config: Any) -> BackgroundMattingGenerator:
    """Build a generator and load an official (or compatible) checkpoint.

    Args:
        state_dict_or_path: a state dict, or the path of a ``.pth`` file
            holding one (loaded on the CPU with ``weights_only=True``). Keys
            may carry the ``module.`` prefix of ``nn.DataParallel``, as the
            released checkpoints do.
        **config: arguments of :class:`BackgroundMattingGenerator`; the
            defaults are those of the released checkpoints.

    Returns:
        The model with the weights, in eval mode, on the CPU.

    Raises:
        FileNotFoundError: the path does not exist (where the weights are published).
        ValueError: missing, unexpected or mis-shaped keys, all listed.
    """
    state_dict = strip_data_parallel_prefix(_load_state_dict(state_dict_or_path))
    model = BackgroundMattingGenerator(**config)
    from_file = isinstance(state_dict_or_path, (str, os.PathLike))
    _check_against(model, state_dict,
                   source=f"weights: {state_dict_or_path}" if from_file else "state_dict:")
    model.load_state_dict(state_dict, strict=True)
    return model.eval()


def bgm_generator(*, weights: str | os.PathLike | None = None, use_motion_features: bool = False,
                  seed: int = 0, **config: Any) -> BackgroundMattingGenerator:
    """The Background Matting generator, with official weights or freshly initialised.

    Args:
        weights: local path of a checkpoint (e.g. the authors' released
            generator), or ``None`` for a new model initialised with the
            paper's rule (:func:`mattinglib.models.init.init_weights`).
            Nothing is downloaded: see ``OFFICIAL_WEIGHTS_HELP``.
        use_motion_features: see :class:`BackgroundMattingGenerator`. The
            released weights were trained with the quirk (``False``); loading
            them with ``True`` warns, because their motion encoder is untrained.
        seed: seed of the initialisation when ``weights`` is ``None``.
        **config: further arguments of :class:`BackgroundMattingGenerator`.

    Returns:
        With weights: the model in eval mode. Without: the model in train mode.

    Raises:
        FileNotFoundError: ``weights`` is a path that does not exist.

    >>> net = bgm_generator(ngf=8, nf_part=8, n_blocks1=1, n_blocks2=1, seed=0)
    >>> net.training, net.use_motion_features
    (True, False)
    """
    if weights is None:
        model = BackgroundMattingGenerator(use_motion_features=use_motion_features, **config)
        return init_weights(model, seed=seed)
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError(f"weights: expected a local file path or None, "
                         f"got {type(weights).__name__}")
    if use_motion_features:
        warnings.warn("use_motion_features=True with loaded weights: the released checkpoints were "
                      "trained with the background feature in comb_multi, so their motion encoder "
                      "is untrained and the outputs will differ from the official ones",
                      stacklevel=2)
    return from_official(weights, use_motion_features=use_motion_features, **config)
