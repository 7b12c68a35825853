"""The first call of every chapter: profile, seeds, figure defaults and a banner.

Each chapter's second cell is::

    profile = mattinglib.notebook.start(PROFILE)

where ``PROFILE`` comes from the cell tagged ``parameters`` (``None`` unless
papermill or the reader sets it). :func:`start` resolves the profile
(:func:`mattinglib.config.get_profile`), seeds Python, NumPy and PyTorch with
``profile.seed`` so that a chapter draws the same samples on every run, sets
matplotlib defaults suited to showing images, and prints what it chose.

>>> p = start("quick", verbose=False)
>>> p.name
'quick'
"""

from __future__ import annotations

from .config import Profile, data_root, find_dataset, get_device, get_profile
from .train.trainer import seed_everything

__all__ = ["start", "seed_everything", "set_figure_defaults", "banner", "DATASETS"]

#: The real datasets the chapters look for, with the command that downloads each.
DATASETS = {
    "alphamatting_lowres": "python data_scripts/download_alphamatting.py",
    "bgm_sample": "python data_scripts/download_bgm_sample.py",
}


def set_figure_defaults() -> None:
    """matplotlib defaults for the course: moderate figure size, grey colour map for mattes.

    Image panels drawn by :mod:`mattinglib.viz` switch their axes off
    themselves; plots keep their ticks.
    """
    import matplotlib as mpl

    mpl.rcParams.update({
        "figure.figsize": (9.0, 4.0),
        "figure.dpi": 90,
        "image.cmap": "gray",
        # Mattes are compared pixel by pixel; smoothing would hide the very
        # halos and steps the chapters point at.
        "image.interpolation": "nearest",
        "axes.titlesize": 10,
        "axes.grid": False,
    })


def banner(profile: Profile) -> str:
    """The text :func:`start` prints: profile sizes, device and which real data was found."""
    device = get_device("auto")
    lines = [
        f"mattinglib profile '{profile.name}': image {profile.image_size} px, "
        f"batch {profile.batch_size}, {profile.train_steps} training steps, "
        f"width x{profile.width:g}, evaluation on {profile.eval_images} real images "
        f"(longer side <= {profile.eval_max_side} px), seed {profile.seed}",
        f"device: {device}" + ("" if device.type == "cuda" else " (no CUDA GPU found)"),
    ]
    missing = []
    for name, command in DATASETS.items():
        if find_dataset(name) is None:
            missing.append((name, command))
    found = [name for name in DATASETS if find_dataset(name) is not None]
    if found:
        lines.append(f"real data found in {data_root()}: {', '.join(found)}")
    for name, command in missing:
        lines.append(f"real data '{name}' not found in {data_root()}: chapters that need it use "
                     f"generated data instead. To download it: {command} "
                     "(or set MATTINGLIB_DATA to the folder that holds it)")
    return "\n".join(lines)


def start(profile_name: str | None = None, *, verbose: bool = True) -> Profile:
    """Set a chapter up and return its profile.

    Args:
        profile_name: ``"quick"``, ``"full"`` or ``None`` (then ``MATTINGLIB_PROFILE``,
            else ``full`` with a CUDA GPU and ``quick`` without).
        verbose: print the banner (profile sizes, device, real data found or not).

    Returns:
        the :class:`mattinglib.config.Profile`, frozen.

    Raises:
        ValueError: for an unknown profile name.
    """
    profile = get_profile(profile_name)
    seed_everything(profile.seed)
    set_figure_defaults()
    if verbose:
        print(banner(profile))
    return profile
