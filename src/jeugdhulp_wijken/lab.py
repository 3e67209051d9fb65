"""JupyterLab without surprises: a notebook opened on its own uses the folders the pipeline would give it.

``jhw-reproduce`` always passes every folder to a notebook (:func:`pipeline.plan.standard_parameters`).
Opened in JupyterLab (``make lab``), a notebook runs with the defaults of its parameters cell. There the
folder parameters are ``""`` and :func:`folders` fills them with exactly what ``jhw-reproduce`` would pass
for the same step: the real study, or, when the student sets ``synthetic = True``, the synthetic study
(``data/synthetic/derived/...``, ``figures/synthetic/...``, region JZ01). One parameter switches the whole
notebook. Values that are not empty (always the case in a pipeline run) are kept as they are::

    # parameters cell
    synthetic = False      # True: the synthetic practice study (no real data needed; make it with `make demo`)
    region = ""            # "": the pipeline's default region (Haaglanden; JZ01 in the synthetic study)
    national_dir = ""      # "": the folder jhw-reproduce uses
    output_dir = ""

    # next cell
    region, national_dir, output_dir = lab.folders("region", synthetic, region=region,
                                                   national_dir=national_dir, output_dir=output_dir)

When an input is missing, :func:`jeugdhulp_wijken.catalog.read` says which command makes it.
"""
from __future__ import annotations

from typing import Any

from . import paths

#: The parameters :func:`folders` can fill: the runner's folders, ``region``, ``year`` and ``lang``.
FILLED = ("raw_dir", "input_dir", "output_dir", "figures_dir", "national_dir", "qualitative_dir",
          "national_figures_dir", "qualitative_figures_dir", "derived_root", "figures_root",
          "region", "year", "lang")


def standard(step: str, synthetic: bool = False, region: Any = "") -> dict[str, Any]:
    """Every parameter ``jhw-reproduce`` (``--synthetic`` if ``synthetic``) would pass to ``step`` by itself:
    the folders, the pipeline's defaults (region, year, lang) and the step's own parameters from
    ``pipeline.yml`` (e.g. ``scope`` of 03). ``region=""`` means the pipeline's default region."""
    from .pipeline.plan import Context, standard_parameters
    from .pipeline.spec import load_spec

    spec = load_spec()
    the_step = spec.step(step)
    ctx = Context.make(bool(synthetic))
    defaults = dict(spec.defaults)
    if synthetic:
        defaults.update(spec.synthetic)
    if region not in ("", None):
        defaults["region"] = region
    slug = paths.region_slug(defaults.get("region", "NL")) if spec.per_region(the_step) else ""
    params = {**defaults, **standard_parameters(spec, ctx, the_step, slug)}
    params.update({k: ctx.fill(v, slug) for k, v in the_step.parameters.items()})
    return params


def folders(step: str, synthetic: bool = False, **given: Any) -> tuple:
    """The ``given`` parameters in the order given, each ``""`` (or None) replaced by what ``jhw-reproduce``
    would pass to ``step``. When folders were filled (the notebook was opened on its own), prints what was filled
    in, so the student sees where the notebook reads and writes. Always returns a tuple
    (``(output_dir,) = lab.folders(...)`` for one value)."""
    unknown = sorted(k for k in given if k not in FILLED)
    if unknown:
        raise ValueError(f"lab.folders fills {', '.join(FILLED)}; not {unknown}. Give other parameters a "
                         "literal default in the parameters cell.")
    std = standard(step, synthetic, given.get("region", ""))
    out, filled = [], []
    for name, value in given.items():
        if value in ("", None):
            if name not in std:
                raise ValueError(f"Step '{step}' gets no parameter '{name}' from jhw-reproduce; set it in the "
                                 "parameters cell.")
            value = std[name]
            filled.append(name)
        out.append(value)
    if any(name.endswith(("_dir", "_root")) for name in filled):  # opened in the lab (a run passes every folder)
        study = "de synthetische oefenstudie" if synthetic else "de echte data"
        print(f"Parameters aangevuld zoals jhw-reproduce{' --synthetic' if synthetic else ''} ze meegeeft "
              f"({study}):")
        for name in filled:
            print(f"  {name} = {_show(std[name])}")
    return tuple(out)


def _show(value: Any) -> str:
    """A folder relative to the repository (as the student sees it in the file browser)."""
    if isinstance(value, str) and value.startswith(str(paths.ROOT)):
        from pathlib import Path

        return str(Path(value).relative_to(paths.ROOT))
    return repr(value)
