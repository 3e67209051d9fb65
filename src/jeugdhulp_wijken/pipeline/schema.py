"""The schema of every notebook parameter: type, range and allowed values.

The runner checks every value a step will receive (pipeline defaults, the step's own
parameters and ``--param`` overrides) against this table before anything runs, and refuses a
bad value with the parameter, the value and what is allowed. A parameter that a notebook
declares but that has no schema here is refused too (tests check that none is missing).

Path parameters are resolved before the run: a relative path may be relative to the
repository root or to ``notebooks/``; the notebook receives the absolute path, and the
content of the file (and of a factor file's ``.yml`` sidecar) is part of the step's cache key.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .. import paths
from .spec import PipelineError


@dataclass(frozen=True)
class Param:
    kind: str                       # str | bool | int | float | choice | region | slugs | dir | file | files | factor_files
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple | Callable[[], tuple] | None = None
    optional: bool = False          # file/dir parameters: "" (or None) means "not given"
    must_exist: bool = True         # file/dir parameters: checked before the run

    def allowed(self) -> tuple:
        return tuple(self.choices() if callable(self.choices) else (self.choices or ()))


def _rules() -> tuple:
    from .. import deviation
    return tuple(deviation.RULES)


def _schemes() -> tuple:
    from .. import maps
    return tuple(getattr(maps, "SCHEMES", ("hhs",)))


#: Folders the runner fills in itself; a user may override them, but they need not exist yet.
_DIR = Param("dir", "a folder (filled in by the runner)", must_exist=False)

SCHEMA: dict[str, Param] = {
    # filled in by the runner
    "raw_dir": _DIR, "national_dir": _DIR, "qualitative_dir": _DIR, "input_dir": _DIR, "output_dir": _DIR,
    "figures_dir": _DIR, "figures_root": _DIR, "derived_root": _DIR, "report_dir": _DIR,
    "national_figures_dir": _DIR, "qualitative_figures_dir": _DIR, "runs_dir": _DIR,
    "synthetic": Param("bool", "run on the synthetic study"),
    "region": Param("region", "a region (see jhw-reproduce --list-regions)"),
    "regions": Param("regions", "the regions of this run"),
    "linked_regions": Param("slugs", "the regions whose report the atlas links (filled in by the runner)"),
    "year": Param("choice", "the data year", choices=(2017,)),
    "lang": Param("choice", "language of figures and reports", choices=("nl", "en")),
    "mirror": Param("dir", "a local mirror of the raw data", optional=True),
    "online": Param("bool", "allow downloads"),
    # SCP model
    "deviation_rule": Param("choice", "rule for 'clearly higher or lower'", choices=_rules),
    "suppressed": Param("choice", "suppressed outcomes", choices=("impute", "drop")),
    "determinant_missing": Param("choice", "missing determinants", choices=("gemeente_mean", "complete_cases")),
    "missing_indicator_min_share": Param("float", "share missing above which a determinant gets an indicator "
                                         "(above 1: no indicators)", minimum=0.0, maximum=2.0),
    "levels": Param("choice", "random-effect levels", choices=("region+gemeente", "gemeente")),
    "with_variants": Param("bool", "also fit the model variants"),
    "map_scheme": Param("choice", "class scheme of the maps", choices=_schemes),
    "map_classes": Param("int", "number of map classes of a data-driven scheme (not 'hhs')", minimum=2, maximum=9),
    # report
    "pdf": Param("bool", "also print the report to PDF (needs Chromium; skipped with a message without it)"),
    # local factors
    "scope": Param("choice", "the scope analysed", choices=("nl", "region")),
    "factor_files": Param("factor_files", "your own local-factor CSV files, each with a .yml sidecar"),
    "alpha": Param("float", "false discovery rate (Benjamini-Hochberg)", minimum=1e-6, maximum=0.5),
    "min_clusters": Param("int", "gemeenten needed for cluster-robust errors", minimum=2, maximum=10_000),
    "min_coverage": Param("float", "share of wijken a factor must cover for the regressions",
                          minimum=0.0, maximum=1.0),
    "moran_permutations": Param("int", "permutations for Moran's I", minimum=0, maximum=99_999),
    "seed": Param("int", "random seed", minimum=0, maximum=2**32 - 1),
    # qualitative coding
    "transcripts_dir": Param("dir", "folder of transcripts"),
    "coding_files": Param("files", "coding tables, one per coder"),
    "qdpx_file": Param("file", "a REFI-QDA project", optional=True),
    "codebook": Param("str", "a packaged codebook name or a codebook YAML"),
    "names_file": Param("file", "a private list of person names", optional=True),
    "key_dir": Param("dir", "where the pseudonymisation key is kept", optional=True, must_exist=False),
    "pseudonymised_dir": Param("dir", "where pseudonymised transcripts go", optional=True, must_exist=False),
    "bsn_elfproef": Param("bool", "only numbers passing the elfproef count as BSN"),
    "min_cell": Param("int", "smallest count published", minimum=1, maximum=1000),
    "agreement_level": Param("choice", "agreement on themes or codes", choices=("theme", "code")),
    "count_rule": Param("choice", "a turn counts when any/all coders coded it", choices=("any", "all")),
    "quotes_per_theme": Param("int", "quotes shown per theme", minimum=0, maximum=100),
    "local_factors_yml": Param("file", "a local-factor sidecar for the link table", optional=True),
    "rhk_transcripts_dir": Param("dir", "Rondom het Kind case reviews"),
    "rhk_coding_files": Param("files", "Rondom het Kind coding tables"),
    "rhk_codebook": Param("str", "the Rondom het Kind codebook"),
}

_TYPES = {"str": str, "bool": bool}
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def _bad(name: str, value: Any, allowed: str) -> PipelineError:
    return PipelineError(f"Parameter {name}={value!r} is not allowed: {allowed}. "
                         f"Change it with --param {name}=... (see jhw-reproduce --list).")


def check_value(name: str, value: Any) -> Any:
    """Check one parameter value against its schema; return the value to pass (paths made absolute)."""
    spec = SCHEMA.get(name)
    if spec is None:
        raise PipelineError(f"Parameter '{name}' has no schema. Add it to jeugdhulp_wijken/pipeline/schema.py "
                            "(type, range, allowed values).")
    k = spec.kind
    if k in ("str", "bool"):
        if not isinstance(value, _TYPES[k]):
            raise _bad(name, value, f"expected {'true or false' if k == 'bool' else 'text'}")
        return value
    if k in ("int", "float"):
        ok = isinstance(value, int) if k == "int" else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok or (k == "float" and not math.isfinite(value)):
            raise _bad(name, value, f"expected {'a whole number' if k == 'int' else 'a number'}"
                       f" in [{spec.minimum}, {spec.maximum}]")
        if (spec.minimum is not None and value < spec.minimum) or (spec.maximum is not None and value > spec.maximum):
            raise _bad(name, value, f"expected a value in [{spec.minimum}, {spec.maximum}] ({spec.help})")
        return value
    if k == "choice":
        allowed = spec.allowed()
        if value not in allowed or isinstance(value, bool):
            raise _bad(name, value, f"one of {', '.join(map(repr, allowed))} ({spec.help})")
        return value
    if k == "region":
        if isinstance(value, str) and value.strip():
            return value
        if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
            return list(value)
        raise _bad(name, value, "a region name or code, or a list of gemeente codes")
    if k == "regions":
        return value
    if k == "slugs":
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) and _SLUG.match(v) for v in value):
            return list(value)
        raise _bad(name, value, "a list of region slugs such as 'jz24' or 'haaglanden'")
    if k == "dir" or k == "file":
        if value in ("", None) and (spec.optional or k == "dir" and not spec.must_exist):
            return value
        if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
            raise _bad(name, value, f"expected a {'folder' if k == 'dir' else 'file'} path ({spec.help})")
        if spec is _DIR or not spec.must_exist:
            return str(value)
        p = paths.user_path(value)
        exists = p.is_dir() if k == "dir" else p.is_file()
        if not exists:
            raise _bad(name, value, f"no such {'folder' if k == 'dir' else 'file'} ({p}); give a path relative to "
                       "the repository root or to notebooks/, or an absolute path")
        return str(p)
    if k in ("files", "factor_files"):
        if not isinstance(value, (list, tuple)):
            raise _bad(name, value, "expected a list of file paths, e.g. --param "
                       f"'{name}=[\"data/my_factors.csv\"]'")
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, (str, os.PathLike)) or not str(item).strip():
                raise _bad(f"{name}[{i}]", item, "expected a file path")
            p = paths.user_path(item)
            if not p.is_file():
                raise _bad(f"{name}[{i}]", item, f"no such file ({p}); give a path relative to the repository "
                           "root or to notebooks/, or an absolute path")
            if k == "factor_files" and not p.with_suffix(".yml").is_file():
                raise _bad(f"{name}[{i}]", item, f"its sidecar {p.with_suffix('.yml').name} is missing; every "
                           "factor file needs one (see data/local_factors_template/README.md)")
            out.append(str(p))
        return out
    raise PipelineError(f"schema.py: unknown kind '{k}' for parameter '{name}'.")  # pragma: no cover


def user_files(name: str, value: Any) -> list[Path]:
    """The user files and folders a parameter value names: their content belongs in the cache key."""
    spec = SCHEMA.get(name)
    if spec is None or spec is _DIR or value in ("", None):
        return []
    if spec.kind == "file" or (spec.kind == "dir" and spec.must_exist):
        return [Path(value)]
    if spec.kind in ("files", "factor_files"):
        out = []
        for v in value:
            out.append(Path(v))
            if spec.kind == "factor_files":
                out.append(Path(v).with_suffix(".yml"))
        return out
    if spec.kind == "str" and isinstance(value, str) and paths.user_path(value).is_file():
        return [paths.user_path(value)]
    return []
