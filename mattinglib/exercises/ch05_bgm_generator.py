"""Checkers for the exercises of chapter 5, the Background Matting generator.

Like :mod:`mattinglib.exercises`, each ``check_*`` runs the student's function
on several cases, compares with what the library's
:class:`~mattinglib.models.bgm.BackgroundMattingGenerator` actually does, and
either prints a one-line success message or raises
:class:`~mattinglib.exercises.ExerciseError` with a hint for the mistake it
recognises.

>>> from mattinglib.models.bgm import strip_data_parallel_prefix
>>> check_strip_prefix(strip_data_parallel_prefix)  # doctest: +ELLIPSIS
Correct: strip_prefix matches the library on 5 cases (released checkpoint, ...).
>>> replace_all = lambda sd: {k.replace("module.", ""): v for k, v in sd.items()}
>>> check_strip_prefix(replace_all)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
mattinglib.exercises.ExerciseError: strip_prefix, case "'module' inside a key": ...
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from ._harness import ExerciseError, call_student, exercise_check, report_success
from ..models.bgm import BackgroundMattingGenerator
from ..models.init import init_weights

__all__ = ["check_selector_inputs", "check_encoder_output_shape", "check_strip_prefix"]


def _tiny_generator(ngf: int, *, use_motion_features: bool, n_blocks: int = 0,
                    seed: int = 0) -> BackgroundMattingGenerator:
    net = BackgroundMattingGenerator(ngf=ngf, nf_part=ngf, n_blocks1=n_blocks, n_blocks2=n_blocks,
                                     use_motion_features=use_motion_features)
    return init_weights(net, seed=seed).eval()


# --------------------------------------------------------------------------- selectors


@exercise_check
def check_selector_inputs(fn: Callable) -> None:
    """Check ``fn(image_feat, back_feat, seg_feat, multi_feat, use_motion_features)``.

    It must return the three selector inputs ``(to_comb_back, to_comb_seg,
    to_comb_multi)``, each ``(B, 2C, h, w)``. The check feeds them to a small
    library generator's own ``comb_back``, ``comb_seg`` and ``comb_multi`` and
    compares with the selector outputs of its forward pass
    (:meth:`~mattinglib.models.bgm.BackgroundMattingGenerator.forward_features`),
    with and without the motion quirk, for a batch of 2 non-square inputs.
    """
    task = "selector_inputs"
    cases = []
    for quirk_off in (False, True):
        net = _tiny_generator(4, use_motion_features=quirk_off, seed=3)
        g = torch.Generator().manual_seed(5)
        inputs = [torch.rand(2, c, 24, 16, generator=g) * 2 - 1 for c in (3, 3, 1, 4)]
        with torch.no_grad():
            feats = net.forward_features(*inputs)
            multi_feat = net.model_enc_multi(inputs[3])
        given = (feats["image_feat"], feats["back_feat"], feats["seg_feat"], multi_feat)
        case = f"use_motion_features={quirk_off}"
        copies = tuple(t.clone() for t in given)
        out = call_student(fn, copies + (quirk_off,), task=task, case=case)
        if any(not torch.equal(a, b) for a, b in zip(given, copies)):
            raise ExerciseError(f"{task}, case {case!r}: your function changed a feature in place; "
                                "build new tensors with torch.cat instead")
        if not isinstance(out, (tuple, list)) or len(out) != 3:
            raise ExerciseError(f"{task}, case {case!r}: expected a tuple of three tensors "
                                f"(for comb_back, comb_seg, comb_multi), got {type(out).__name__}"
                                + (f" of length {len(out)}"
                                   if isinstance(out, (tuple, list)) else ""))
        image, back, seg, multi = given
        others = {"back": back, "seg": seg, "multi": multi}
        for name, t, expected_other in zip(("comb_back", "comb_seg", "comb_multi"), out,
                                          (back, seg, multi if quirk_off else back)):
            where = f"{task}, case {case!r}, input of {name}"
            want = (2, 2 * image.shape[1], *image.shape[2:])
            if not isinstance(t, torch.Tensor):
                raise ExerciseError(f"{where}: expected a torch tensor, got {type(t).__name__}")
            if tuple(t.shape) != want:
                hint = ""
                if tuple(t.shape) == (4, image.shape[1], *image.shape[2:]):
                    hint = " You concatenated along the batch axis: use dim=1 (channels)."
                raise ExerciseError(f"{where}: expected shape {want} (image channels + other "
                                    f"channels), got {tuple(t.shape)}.{hint}")
            if torch.equal(t, torch.cat([image, expected_other], dim=1)):
                continue
            if torch.equal(t, torch.cat([expected_other, image], dim=1)):
                raise ExerciseError(f"{where}: the image feature must come first, "
                                    "torch.cat([image_feat, other], dim=1): the 1x1 convolution's "
                                    "weights (and the released checkpoints) expect that order")
            for other_name, other in others.items():
                if other is not expected_other and torch.equal(t, torch.cat([image, other], dim=1)):
                    if name == "comb_multi" and not quirk_off:
                        hint = ("with use_motion_features=False (the released code) comb_multi "
                                "receives the BACKGROUND feature, not the motion feature")
                    elif name == "comb_multi":
                        hint = ("with use_motion_features=True comb_multi receives the motion "
                                "feature, as the paper describes")
                    else:
                        hint = f"{name} pairs the image feature with the {name[5:]} feature"
                    raise ExerciseError(f"{where}: you paired the image feature with the "
                                        f"{other_name} feature; {hint}")
            other_name = next(k for k, v in others.items() if v is expected_other)
            raise ExerciseError(f"{where}: the values are not torch.cat([image_feat, "
                                f"{other_name}_feat], dim=1)")
        # The reason the order matters: run the library's own selectors on the answer.
        with torch.no_grad():
            for name, t in zip(("back", "seg", "multi"), out):
                got = getattr(net, f"comb_{name}")(t)
                if not torch.allclose(got, feats[f"sel_{name}"], atol=1e-6):  # pragma: no cover
                    raise ExerciseError(f"{task}, case {case!r}: comb_{name} of your input "
                                        "differs from the model's selector output")
        cases.append(case)
    report_success(task, cases)


# --------------------------------------------------------------------------- encoder shape


_SHAPE_CASES = [((64, 64), 64), ((64, 48), 64), ((30, 18), 8), ((7, 5), 8), ((4, 4), 2)]


@exercise_check
def check_encoder_output_shape(fn: Callable) -> None:
    """Check ``fn(height, width, ngf) -> (channels, h, w)`` of one encoder's output.

    The expected shape is measured, not computed: each case runs the
    background encoder of a library generator on a zero input of that size.
    The sizes include odd ones (7 x 5), where the model itself refuses to run
    (its ``H`` and ``W`` must be divisible by 4) but the encoder alone does.
    """
    task = "encoder_output_shape"
    cases = []
    nets: dict[int, BackgroundMattingGenerator] = {}
    for (h, w), ngf in _SHAPE_CASES:
        net = nets.setdefault(ngf, _tiny_generator(ngf, use_motion_features=False))
        with torch.no_grad():
            expected = tuple(net.model_enc_back(torch.zeros(1, 3, h, w)).shape[1:])
        case = f"{h}x{w}, ngf={ngf}"
        out = call_student(fn, (h, w, ngf), task=task, case=case)
        try:
            got = tuple(int(v) for v in out)
        except (TypeError, ValueError):
            raise ExerciseError(f"{task}, case {case!r}: expected a tuple "
                                f"(channels, height, width) of ints, got {out!r}") from None
        if got == expected:
            cases.append(case)
            continue
        where = f"{task}, case {case!r}: expected {expected}, got {got}"
        if len(got) != 3:
            raise ExerciseError(f"{where}: return three numbers (channels, height, width)")
        if got[0] != expected[0]:
            raise ExerciseError(f"{where}: the channels double at each stride-2 convolution, "
                                "ngf -> 2 ngf -> 4 ngf")
        if got[1:] == expected[:0:-1] and h != w:
            raise ExerciseError(f"{where}: height and width are swapped")
        if got[1:] == (h // 4, w // 4):
            raise ExerciseError(f"{where}: a 3x3 convolution with stride 2 and padding 1 gives "
                                "floor((n + 2 - 3) / 2) + 1 = ceil(n / 2) rows, so it rounds UP; "
                                "apply (n + 1) // 2 twice")
        if got[1:] in ((h, w), (h // 2, w // 2), ((h + 1) // 2, (w + 1) // 2)):
            raise ExerciseError(f"{where}: there are two stride-2 convolutions "
                                "(the 7x7 convolution keeps the size)")
        raise ExerciseError(f"{where}: the 7x7 convolution (after reflect padding 3) keeps the "
                            "size; each of the two 3x3 stride-2 convolutions maps n to ceil(n / 2)")
    report_success(task, cases)


# --------------------------------------------------------------------------- checkpoint keys


@exercise_check
def check_strip_prefix(fn: Callable) -> None:
    """Check ``fn(state_dict) -> state_dict`` without the ``nn.DataParallel`` prefix.

    Specification (that of
    :func:`mattinglib.models.bgm.strip_data_parallel_prefix`): when *every*
    key starts with ``module.``, remove those first seven characters, and only
    those; otherwise return the keys unchanged. Return a new dict with the
    same values, in the same order, and leave the input alone. The first case
    is a small generator's checkpoint saved through ``nn.DataParallel``: the
    answer must load into the model with ``strict=True``.
    """
    task = "strip_prefix"
    net = _tiny_generator(2, use_motion_features=False, n_blocks=1)
    plain = dict(net.state_dict())
    t = torch.zeros(1)
    cases = [
        ("released checkpoint", dict(torch.nn.DataParallel(net).state_dict()), plain),
        ("no prefix", plain, plain),
        ("'module' inside a key", {"module.encoder.module.weight": t, "module.model_enc1.0.bias": t,
                                   "module.modules.1": t},
         {"encoder.module.weight": t, "model_enc1.0.bias": t, "modules.1": t}),
        ("mixed prefixes", {"module.a.weight": t, "b.weight": t},
         {"module.a.weight": t, "b.weight": t}),
        ("empty", {}, {}),
    ]
    for case, given, expected in cases:
        before = list(given)
        out = call_student(fn, (given,), task=task, case=case)
        if list(given) != before:
            raise ExerciseError(f"{task}, case {case!r}: your function changed the input dict; "
                                "build and return a new one")
        if not isinstance(out, Mapping):
            raise ExerciseError(f"{task}, case {case!r}: expected a dict, got {type(out).__name__}")
        got = list(out)
        if got != list(expected):
            wrong = [k for k in out if k not in expected][:3]
            lost = [k for k in expected if k not in out][:3]
            where = (f"{task}, case {case!r}: keys differ (unexpected {wrong}, "
                     f"missing {lost})" if wrong or lost else
                     f"{task}, case {case!r}: the keys are right but their order changed")
            keys = list(given)
            cut = [k.removeprefix("module.") for k in keys]
            if got == [k.lstrip("module.") for k in keys] != cut:
                hint = ("str.lstrip('module.') removes any of the CHARACTERS m, o, d, u, l, e, '.' "
                        "from the left, eating into 'model_enc1'; remove the prefix by slicing, "
                        "k[len('module.'):], or with k.removeprefix('module.')")
            elif got == [k.replace("module.", "") for k in keys] != cut:
                hint = ("str.replace removes 'module.' everywhere, also inside a key "
                        "('encoder.module.weight'); only the leading prefix comes from "
                        "DataParallel")
            elif case == "no prefix":
                hint = ("these keys carry no prefix: return them unchanged "
                        "(test k.startswith('module.') before cutting)")
            elif case == "mixed prefixes":
                hint = ("when not every key carries the prefix the checkpoint was not saved "
                        "through DataParallel: leave the keys unchanged")
            elif len(got) < len(expected):
                hint = "keep every entry: only the names change"
            else:
                hint = "strip the 'module.' prefix from every key when all keys carry it"
            raise ExerciseError(f"{where}. Hint: {hint}")
        if any(a is not b for a, b in zip(out.values(), given.values())):
            raise ExerciseError(f"{task}, case {case!r}: the values must be the same tensors, "
                                "only the keys change")
        if case == "released checkpoint":
            fresh = _tiny_generator(2, use_motion_features=False, n_blocks=1, seed=1)
            try:
                fresh.load_state_dict(dict(out), strict=True)
            except RuntimeError as err:  # pragma: no cover - the key check comes first
                raise ExerciseError(f"{task}, case {case!r}: the result does not load: "
                                    f"{err}") from err
    report_success(task, [c[0] for c in cases])

