"""Every path of the compendium, computed from the repository root.

Nothing in the package or the notebooks depends on the current working directory.
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
RAW = DATA / "raw"
DERIVED = DATA / "derived"
RUNS = DATA / "runs"
SYNTHETIC = DATA / "synthetic"
SYNTHETIC_RAW = SYNTHETIC / "raw"
SYNTHETIC_DERIVED = SYNTHETIC / "derived"
FIGURES = ROOT / "figures"
SYNTHETIC_FIGURES = FIGURES / "synthetic"
NOTEBOOKS = ROOT / "notebooks"
PIPELINE_SPEC = ROOT / "pipeline.yml"
FIGURE_REGISTRY = FIGURES / "registry.yml"
SOURCES_MANIFEST = DATA / "sources.yml"
PACKAGE = Path(__file__).resolve().parent

SYNTHETIC_PREFIX = "synthetic_"

#: Default mirror of the raw data: ``$DATA_MIRROR`` or ``../shared/data`` beside the checkout.
def default_mirror() -> Path | None:
    env = os.environ.get("DATA_MIRROR")
    if env:
        return Path(env).expanduser().resolve()
    candidate = ROOT.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


def user_path(value: str | os.PathLike) -> Path:
    """A path a user gave (a file parameter, a factor file): absolute as given; a relative one is looked
    up relative to the repository root, then to ``notebooks/`` (where the notebooks run), and one found
    in neither is taken relative to ``notebooks/``."""
    p = Path(value).expanduser()
    if p.is_absolute():
        return p
    for base in (ROOT, NOTEBOOKS):
        if (base / p).exists():
            return (base / p).resolve()
    return (NOTEBOOKS / p).resolve()


def artefact(directory: str | os.PathLike, name: str, synthetic: bool = False) -> Path:
    """Path of an artefact ``name`` in ``directory``.

    Artefacts of the synthetic study carry the ``synthetic_`` prefix in their file
    name, so that they can never be mistaken for results on real data.
    """
    if synthetic and not name.startswith(SYNTHETIC_PREFIX):
        name = SYNTHETIC_PREFIX + name
    return Path(directory) / name


def region_slug(region: str | list | tuple) -> str:
    """A file-system-safe name for a region parameter (purely syntactic).

    ``"Haaglanden"`` -> ``"haaglanden"``, ``"JZ24"`` -> ``"jz24"``, ``"NL"`` -> ``"nl"``,
    ``["GM0518", "GM0503"]`` -> ``"gm0503-gm0518"`` (sorted; long lists get a short hash).
    """
    if isinstance(region, (list, tuple)):
        codes = sorted(str(c).strip().lower() for c in region)
        slug = "-".join(re.sub(r"[^a-z0-9]+", "", c) for c in codes)
        if len(slug) > 60:
            digest = hashlib.sha256(",".join(codes).encode()).hexdigest()[:8]
            slug = f"gemeenten-{len(codes)}-{digest}"
        return slug
    text = str(region).strip().lower()
    text = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    return text or "region"
