"""Chapter 5's checkers (the generator) accept right answers and reject typical wrong ones."""

from __future__ import annotations

import torch

from mattinglib.exercises import ch05_bgm_generator
from mattinglib.models.bgm import strip_data_parallel_prefix
from tests.exercise_helpers import not_implemented, rejects, reports_not_done


# --------------------------------------------------------------------------- selectors


def selectors(image, back, seg, multi, use_motion_features):
    third = multi if use_motion_features else back
    return tuple(torch.cat([image, other], dim=1) for other in (back, seg, third))


class TestSelectorInputs:
    def test_accepts_a_right_answer(self, capsys):
        ch05_bgm_generator.check_selector_inputs(selectors)
        assert "Correct: selector_inputs" in capsys.readouterr().out

    def test_stub(self):
        reports_not_done(ch05_bgm_generator.check_selector_inputs, not_implemented, "not implemented yet")

    def test_always_uses_the_motion_feature(self):
        rejects(ch05_bgm_generator.check_selector_inputs,
                lambda i, b, s, m, flag: selectors(i, b, s, m, True),
                "use_motion_features=False", "BACKGROUND")

    def test_never_uses_the_motion_feature(self):
        rejects(ch05_bgm_generator.check_selector_inputs,
                lambda i, b, s, m, flag: selectors(i, b, s, m, False),
                "use_motion_features=True", "motion feature")

    def test_order(self):
        def other_first(i, b, s, m, flag):
            return tuple(torch.cat([o, i], dim=1) for o in (b, s, m if flag else b))

        rejects(ch05_bgm_generator.check_selector_inputs, other_first, "image feature must come first")

    def test_batch_axis(self):
        def batch_cat(i, b, s, m, flag):
            return tuple(torch.cat([i, o], dim=0) for o in (b, s, m if flag else b))

        rejects(ch05_bgm_generator.check_selector_inputs, batch_cat, "dim=1")

    def test_swapped_back_and_seg(self):
        def swapped(i, b, s, m, flag):
            a, c, d = selectors(i, b, s, m, flag)
            return c, a, d

        rejects(ch05_bgm_generator.check_selector_inputs, swapped, "comb_back", "seg feature")

    def test_in_place(self):
        def inplace(i, b, s, m, flag):
            i.mul_(1.0).add_(1.0)
            return selectors(i, b, s, m, flag)

        rejects(ch05_bgm_generator.check_selector_inputs, inplace, "in place")

    def test_wrong_container(self):
        rejects(ch05_bgm_generator.check_selector_inputs,
                lambda i, b, s, m, flag: torch.cat(selectors(i, b, s, m, flag), dim=1),
                "tuple of three")


# --------------------------------------------------------------------------- encoder shape


def encoder_shape(height, width, ngf):
    for _ in range(2):
        height, width = (height + 1) // 2, (width + 1) // 2
    return 4 * ngf, height, width


class TestEncoderOutputShape:
    def test_accepts_a_right_answer(self, capsys):
        ch05_bgm_generator.check_encoder_output_shape(encoder_shape)
        assert "Correct: encoder_output_shape" in capsys.readouterr().out

    def test_stub(self):
        reports_not_done(ch05_bgm_generator.check_encoder_output_shape, not_implemented, "not implemented yet")

    def test_floor_division(self):
        rejects(ch05_bgm_generator.check_encoder_output_shape, lambda h, w, n: (4 * n, h // 4, w // 4),
                "'30x18, ngf=8'", "rounds UP")

    def test_channels(self):
        rejects(ch05_bgm_generator.check_encoder_output_shape,
                lambda h, w, n: (2 * n, *encoder_shape(h, w, n)[1:]), "4 ngf")

    def test_swapped(self):
        rejects(ch05_bgm_generator.check_encoder_output_shape,
                lambda h, w, n: encoder_shape(w, h, n), "swapped")

    def test_one_stride(self):
        rejects(ch05_bgm_generator.check_encoder_output_shape,
                lambda h, w, n: (4 * n, h // 2, w // 2), "two stride-2")

    def test_not_a_shape(self):
        rejects(ch05_bgm_generator.check_encoder_output_shape, lambda h, w, n: "256x16x16",
                "tuple (channels, height, width)")


# --------------------------------------------------------------------------- checkpoint keys


class TestStripPrefix:
    def test_accepts_library_and_removeprefix(self, capsys):
        ch05_bgm_generator.check_strip_prefix(strip_data_parallel_prefix)

        def removeprefix(sd):
            if sd and all(k.startswith("module.") for k in sd):
                return {k.removeprefix("module."): v for k, v in sd.items()}
            return dict(sd)

        ch05_bgm_generator.check_strip_prefix(removeprefix)
        assert capsys.readouterr().out.count("Correct: strip_prefix") == 2

    def test_stub(self):
        reports_not_done(ch05_bgm_generator.check_strip_prefix, not_implemented, "not implemented yet")

    def test_replace_everywhere(self):
        rejects(ch05_bgm_generator.check_strip_prefix,
                lambda sd: {k.replace("module.", ""): v for k, v in sd.items()},
                "'module' inside a key", "str.replace")

    def test_lstrip(self):
        rejects(ch05_bgm_generator.check_strip_prefix,
                lambda sd: {k.lstrip("module."): v for k, v in sd.items()},
                "released checkpoint", "CHARACTERS")

    def test_cuts_unconditionally(self):
        rejects(ch05_bgm_generator.check_strip_prefix, lambda sd: {k[7:]: v for k, v in sd.items()},
                "'no prefix'", "return them unchanged")

    def test_per_key(self):
        rejects(ch05_bgm_generator.check_strip_prefix,
                lambda sd: {k.removeprefix("module."): v for k, v in sd.items()},
                "mixed prefixes", "leave the keys unchanged")

    def test_drops_entries(self):
        def drops(sd):
            if sd and all(k.startswith("module.") for k in sd):
                return {k[7:]: v for k, v in list(sd.items())[:-1]}
            return dict(sd)

        rejects(ch05_bgm_generator.check_strip_prefix, drops, "missing", "keep every entry")

    def test_copies_values(self):
        def cloned(sd):
            return {k: v.clone() for k, v in strip_data_parallel_prefix(sd).items()}

        rejects(ch05_bgm_generator.check_strip_prefix, cloned, "same tensors")

    def test_mutates_input(self):
        def pops(sd):
            for k in list(sd):
                if k.startswith("module."):
                    sd[k[7:]] = sd.pop(k)
            return sd

        rejects(ch05_bgm_generator.check_strip_prefix, pops, "changed the input dict")
