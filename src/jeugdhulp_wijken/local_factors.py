"""Local factors: do wijk characteristics outside the SCP model explain observed − expected use?

Research question 2a of the HHS study *Jeugdhulp in de wijken* (2020) asks whether
jeugdhulp use per wijk can be estimated better with local factors that the national SCP
model leaves out. HHS named two clusters: *voorzieningen* (childcare locations, primary
schools, GP practices, dissatisfaction with facilities) and *veiligheid en sociale cohesie*
(dissatisfaction with liveability, nuisance, home thefts, loneliness, self-rated health,
low social cohesion). This module holds the factor-file schema and the analysis.

Local-factor file format
------------------------
A factor file is a CSV plus a YAML *sidecar* with the same stem (``wijkmonitor.csv`` +
``wijkmonitor.yml``).

CSV
    * Optional leading comment lines starting with ``#`` (skipped).
    * A ``wijk_code`` column in CBS form ``WK`` + 6 digits (``WK051801``), unique per row.
    * One numeric column per factor; the column name is the factor name and must match
      ``[A-Za-z][A-Za-z0-9_]*``. Decimal point ``.``; empty cells, ``.``, ``NA`` and ``NaN``
      mean *missing*.
    * Optionally the descriptive columns ``wijk_name``, ``gemeente_code`` and
      ``gemeente_name``; they are ignored by the analysis.

YAML sidecar
    .. code-block:: yaml

        title: "Wijkmonitor 2017 (gemeente X)"   # shown in tables and the JSON artefact
        fictional: false                         # true for demo/test files
        indeling_year: 2017                      # wijk indeling of the codes in the CSV
        factors:
          eenzaam:                               # = CSV column name
            label_nl: "% (matig tot zeer ernstig) eenzaam"
            label_en: "% moderately to very severely lonely"
            cluster: veiligheid_sociale_cohesie  # voorzieningen | veiligheid_sociale_cohesie | overig
            unit: "%"                            # "%" values must lie in 0-100
            source: "GGD'en, CBS en RIVM, Gezondheidsmonitor 2016"
            year: 2016
            higher_is_worse: true

Every CSV factor column needs a sidecar entry and vice versa. :func:`read_factor_file`
checks all of this and raises :class:`FactorFileError` naming the file, the column and the
offending rows (CSV line numbers). A template with the full HHS factor list is in
``data/local_factors_template/``.

Sources of factors used by the notebook
---------------------------------------
* ``01_local_factors_public.csv/.yml``: public factors written by the data step in this
  format (Gezondheidsmonitor 2016 wijk estimates and ELAN/LUMC variables, mapped to the 2017
  indeling).
* CBS 83765NED (*Kerncijfers wijken en buurten 2017*) facility and crime columns when that
  table has been fetched online into the raw-data folder (:func:`find_kwb_table`,
  :func:`kwb_to_factors`). The offline mirror does not contain it.
* Any number of user factor files (notebook parameter ``factor_files``).

Analysis (per scope: the chosen region and the Netherlands)
-----------------------------------------------------------
The outcome is the residual ``difference`` = observed − SCP-expected use (percentage
points) from the SCP model step. Wijken with a suppressed outcome are left out. Missing
factor values are handled complete-case *per analysis*; every table reports its N.

* **Correlations**: Pearson r of each factor with the residual, 95% CI by Fisher's z
  (``tanh(atanh r ± z_{0.975}/sqrt(n − 3))``), p from the usual t test, plus Spearman's rho.
  These treat wijken as independent.
* **Regressions**: OLS of the residual on the factors of each cluster and on all factors
  jointly. Standard errors: cluster-robust by gemeente (``cov_type='cluster'``, CR1 with
  t(G − 1) reference) *and* HC3. Cluster-robust SEs need many clusters (rule of thumb ≥ 30–50);
  with fewer gemeenten than ``min_clusters`` (default 30) HC3 is the *primary* inference and
  the cluster-robust result is reported alongside, with a caveat.
* **Multiple testing**: across the factors of a scope, Benjamini–Hochberg (FDR, level
  ``alpha``) is the decision rule; Holm is reported as a family-wise check. Families: the
  bivariate correlations; the cluster-model coefficients (each factor appears in exactly one
  cluster model); the joint-model coefficients.
* **Explained variance**: R² of ``observed ~ expected_scp`` (national model, slope free) versus
  ``observed ~ expected_scp + factors`` on the same wijken (ΔR², adjusted R², nested F test),
  and R² of ``difference ~ factors``.
* **Cross-validation**: leave-one-gemeente-out; RMSE of the held-out observed use for the
  baseline ``observed ~ expected_scp`` and for ``observed ~ expected_scp + factors``, plus
  the RMSE of the published expectation as is. Held-out gemeenten mean that factor effects
  must generalise to another gemeente, which is the honest test of "estimates better".
* **Spatial autocorrelation**: Moran's I (``esda.Moran``, row-standardised contiguity
  weights from ``libpysal``, 999 permutations with a fixed seed) of the residual before
  (``difference``) and after (residual of the joint factor model), on the same wijken.
  Wijken without a polygon and islands (no neighbour among the analysed wijken) are listed
  and left out of Moran's I only.

Synthetic study: the generator plants a known effect (``eenzaam``) and a null factor
(``gezondheid_matig_slecht``); ``tests/test_local_factors.py`` checks that the analysis
recovers the first and does not flag the second after multiple-testing control.
"""
from __future__ import annotations

import json
import math
import re
import textwrap
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import yaml
from scipy import stats

from . import paths

# --------------------------------------------------------------------------- schema

CLUSTERS: dict[str, dict[str, str]] = {
    "voorzieningen": {"nl": "Voorzieningen", "en": "Facilities"},
    "veiligheid_sociale_cohesie": {"nl": "Veiligheid en sociale cohesie", "en": "Safety and social cohesion"},
    "overig": {"nl": "Overig", "en": "Other"},
}
TOP_KEYS = ("title", "fictional", "indeling_year", "factors")
FACTOR_KEYS = ("label_nl", "label_en", "cluster", "unit", "source", "year", "higher_is_worse")
ID_COLUMN = "wijk_code"
DESCRIPTIVE_COLUMNS = ("wijk_name", "gemeente_code", "gemeente_name")
MISSING_TOKENS = ("", ".", "NA", "NaN", "nan", "N/A")
PERCENT_UNITS = ("%", "procent", "percent")
WIJK_CODE_RE = re.compile(r"^WK\d{6}$")
FACTOR_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
#: Column names of the results frame; a factor may not reuse them.
RESERVED_NAMES = ("wijk_code", "wijk_name", "gemeente_code", "gemeente_name", "jz_code", "jz_name",
                  "observed", "expected_scp", "difference", "in_region", "residual_after", "const")

#: The factor list of the HHS study (slides "Jeugdhulp in de wijken", 2020), as factor names of
#: the template in ``data/local_factors_template/``.
HHS_FACTORS: dict[str, tuple[str, ...]] = {
    "voorzieningen": ("kinderopvanglocaties", "basisscholen", "huisartsenpraktijken",
                      "ontevreden_voorzieningen"),
    "veiligheid_sociale_cohesie": ("ontevreden_leefbaarheid", "overlast_jongeren", "overlast_buren",
                                   "overlast_straat", "diefstal_woning", "eenzaam",
                                   "gezondheid_matig_slecht", "lage_sociale_cohesie"),
}
TEMPLATE_DIR = paths.DATA / "local_factors_template"
TEMPLATE_MARK = "VUL IN"


class FactorFileError(ValueError):
    """A local-factor file (CSV or YAML sidecar) is malformed; the message names file, column and rows."""


@dataclass(frozen=True)
class FactorSpec:
    """Metadata of one factor (one sidecar entry)."""
    name: str
    label_nl: str
    label_en: str
    cluster: str
    unit: str
    source: str
    year: int
    higher_is_worse: bool
    file: str = ""
    fictional: bool = False

    def label(self, lang: str = "nl") -> str:
        return self.label_nl if lang == "nl" else self.label_en

    @property
    def is_percentage(self) -> bool:
        return str(self.unit).strip().lower() in PERCENT_UNITS


@dataclass(frozen=True)
class FactorMeta:
    """The sidecar of one factor file."""
    title: str
    fictional: bool
    indeling_year: int
    factors: dict[str, FactorSpec]
    path: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # further top-level sidecar keys (e.g. a mapping note)

    @property
    def names(self) -> list[str]:
        return list(self.factors)

    def to_yaml_dict(self) -> dict[str, Any]:
        return {"title": self.title, "fictional": self.fictional, "indeling_year": self.indeling_year,
                "factors": {n: {k: getattr(s, k) for k in FACTOR_KEYS} for n, s in self.factors.items()}}


def sidecar_path(csv_path: str | Path) -> Path:
    """The YAML sidecar of a factor CSV: same folder and stem, suffix ``.yml`` (``.yaml`` accepted)."""
    csv_path = Path(csv_path)
    yml = csv_path.with_suffix(".yml")
    if not yml.exists() and csv_path.with_suffix(".yaml").exists():
        return csv_path.with_suffix(".yaml")
    return yml


def _rows_text(lines: Sequence[int], codes: Sequence[Any] | None = None, limit: int = 10) -> str:
    items = []
    for i, line in enumerate(lines[:limit]):
        code = f" ({codes[i]})" if codes is not None and i < len(codes) and isinstance(codes[i], str) else ""
        items.append(f"{line}{code}")
    more = f" and {len(lines) - limit} more" if len(lines) > limit else ""
    return ", ".join(items) + more


def parse_sidecar(yml_path: str | Path, csv_name: str = "") -> FactorMeta:
    """Read and validate a factor sidecar (see the module docstring for the keys)."""
    yml_path = Path(yml_path)
    if not yml_path.exists():
        raise FactorFileError(
            f"{csv_name or yml_path.with_suffix('.csv')}: sidecar {yml_path} not found. Every factor CSV needs a "
            f"YAML sidecar with the same stem describing each factor column "
            f"(copy {TEMPLATE_DIR / 'hhs_local_factors_template.yml'} and edit it).")
    try:
        doc = yaml.safe_load(yml_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise FactorFileError(f"{yml_path}: not valid YAML ({exc}).") from exc
    if not isinstance(doc, dict):
        raise FactorFileError(f"{yml_path}: expected a mapping with keys {list(TOP_KEYS)}.")
    missing = [k for k in TOP_KEYS if k not in doc]
    if missing:
        raise FactorFileError(f"{yml_path}: missing top-level key(s) {missing}; required: {list(TOP_KEYS)}.")
    if not isinstance(doc["fictional"], bool):
        raise FactorFileError(f"{yml_path}: 'fictional' must be true or false, got {doc['fictional']!r}.")
    if not isinstance(doc["indeling_year"], int) or isinstance(doc["indeling_year"], bool):
        raise FactorFileError(f"{yml_path}: 'indeling_year' must be a year such as 2017, "
                              f"got {doc['indeling_year']!r}.")
    factors = doc["factors"]
    if not isinstance(factors, dict) or not factors:
        raise FactorFileError(f"{yml_path}: 'factors' must be a non-empty mapping factor name -> metadata.")
    specs: dict[str, FactorSpec] = {}
    for name, entry in factors.items():
        name = str(name)
        if not FACTOR_NAME_RE.match(name):
            raise FactorFileError(f"{yml_path}: factor name '{name}' is not allowed; use letters, digits and "
                                  f"underscores, starting with a letter.")
        if name in RESERVED_NAMES:
            raise FactorFileError(f"{yml_path}: factor name '{name}' is reserved ({list(RESERVED_NAMES)}); "
                                  f"rename the column in the CSV and the sidecar.")
        if not isinstance(entry, dict):
            raise FactorFileError(f"{yml_path}: factor '{name}' must be a mapping with keys {list(FACTOR_KEYS)}.")
        miss = [k for k in FACTOR_KEYS if k not in entry or entry[k] is None or entry[k] == ""]
        if miss:
            raise FactorFileError(f"{yml_path}: factor '{name}' lacks key(s) {miss}; "
                                  f"required per factor: {list(FACTOR_KEYS)}.")
        if entry["cluster"] not in CLUSTERS:
            raise FactorFileError(f"{yml_path}: factor '{name}' has unknown cluster '{entry['cluster']}'; "
                                  f"use one of {list(CLUSTERS)}.")
        if not isinstance(entry["year"], int) or isinstance(entry["year"], bool):
            raise FactorFileError(f"{yml_path}: factor '{name}': 'year' must be an integer year, "
                                  f"got {entry['year']!r}.")
        if not isinstance(entry["higher_is_worse"], bool):
            raise FactorFileError(f"{yml_path}: factor '{name}': 'higher_is_worse' must be true or false, "
                                  f"got {entry['higher_is_worse']!r}.")
        specs[name] = FactorSpec(name=name, label_nl=str(entry["label_nl"]), label_en=str(entry["label_en"]),
                                 cluster=entry["cluster"], unit=str(entry["unit"]), source=str(entry["source"]),
                                 year=int(entry["year"]), higher_is_worse=bool(entry["higher_is_worse"]),
                                 file=str(csv_name or yml_path.with_suffix(".csv").name),
                                 fictional=bool(doc["fictional"]))
    return FactorMeta(title=str(doc["title"]), fictional=bool(doc["fictional"]),
                      indeling_year=int(doc["indeling_year"]), factors=specs, path=str(yml_path),
                      extra={k: v for k, v in doc.items() if k not in TOP_KEYS})


def _count_comment_lines(text: str) -> int:
    n = 0
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            n += 1
        else:
            break
    return n


def read_factor_file(csv_path: str | Path, *, allow_empty: bool = False) -> tuple[pd.DataFrame, FactorMeta]:
    """Read and validate a local-factor CSV and its YAML sidecar.

    Returns a DataFrame with ``wijk_code`` and one float column per factor (sidecar order),
    sorted by ``wijk_code``, and the :class:`FactorMeta`. Raises :class:`FactorFileError`
    for a missing sidecar, missing keys, unknown clusters, columns without sidecar entry or
    sidecar entries without column, bad or duplicated wijk codes, non-numeric values,
    percentages outside 0-100, factor columns without any value and unreplaced template
    placeholders (``VUL IN``). ``allow_empty`` accepts a header without rows (the template).
    """
    csv_path = Path(csv_path)
    if not csv_path.exists():
        raise FactorFileError(f"{csv_path}: factor file not found. Give the path of a CSV with a 'wijk_code' "
                              f"column and a YAML sidecar with the same stem.")
    meta = parse_sidecar(sidecar_path(csv_path), csv_name=str(csv_path))
    text = csv_path.read_text(encoding="utf-8-sig")
    skip = _count_comment_lines(text)
    try:
        raw = pd.read_csv(csv_path, dtype=str, keep_default_na=False, skiprows=skip, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise FactorFileError(f"{csv_path}: cannot be read as CSV ({str(exc).strip()}). Separate columns with "
                              f"commas and write decimals with a point (or quote values).") from exc
    first_data_line = skip + 2  # 1-based file line of the first data row
    line_of = lambda idx: [int(i) + first_data_line for i in idx]  # noqa: E731
    raw.columns = [str(c).strip() for c in raw.columns]
    dup_cols = sorted({c for c in raw.columns if list(raw.columns).count(c) > 1})
    if dup_cols:
        raise FactorFileError(f"{csv_path}: column(s) {dup_cols} appear more than once in the header.")
    if ID_COLUMN not in raw.columns:
        raise FactorFileError(f"{csv_path}: no '{ID_COLUMN}' column; the header has {list(raw.columns)}. "
                              f"Name the wijk code column '{ID_COLUMN}' (codes like WK051801).")
    data_cols = [c for c in raw.columns if c != ID_COLUMN and c not in DESCRIPTIVE_COLUMNS]
    undocumented = [c for c in data_cols if c not in meta.factors]
    if undocumented:
        raise FactorFileError(f"{csv_path}: column(s) {undocumented} have no entry under 'factors' in the sidecar "
                              f"{meta.path}; add an entry per column (or remove the column).")
    absent = [n for n in meta.factors if n not in raw.columns]
    if absent:
        raise FactorFileError(f"{csv_path}: sidecar {meta.path} describes factor(s) {absent} that are not "
                              f"columns of the CSV; add the columns or remove the entries.")
    if raw.empty and not allow_empty:
        raise FactorFileError(f"{csv_path}: the file has a header but no data rows.")
    codes = raw[ID_COLUMN].str.strip()
    bad = ~codes.str.match(WIJK_CODE_RE.pattern)
    if bad.any():
        idx = list(raw.index[bad])
        raise FactorFileError(f"{csv_path}: column '{ID_COLUMN}' has malformed code(s) at line(s) "
                              f"{_rows_text(line_of(idx), list(codes[bad]))}; expected 'WK' + 6 digits "
                              f"(e.g. WK051801 = gemeente 0518, wijk 01).")
    dup = codes.duplicated(keep=False)
    if dup.any():
        idx = list(raw.index[dup])
        raise FactorFileError(f"{csv_path}: column '{ID_COLUMN}' has duplicated code(s) at line(s) "
                              f"{_rows_text(line_of(idx), list(codes[dup]))}; give one row per wijk.")
    out = pd.DataFrame({ID_COLUMN: codes})
    for name, spec in meta.factors.items():
        col = raw[name].str.strip()
        is_missing = col.isin(MISSING_TOKENS)
        values = pd.to_numeric(col.where(~is_missing), errors="coerce")
        nonnum = values.isna() & ~is_missing
        if nonnum.any():
            idx = list(raw.index[nonnum])
            shown = ", ".join(repr(v) for v in col[nonnum].head(5))
            raise FactorFileError(f"{csv_path}: column '{name}' has non-numeric value(s) ({shown}) at line(s) "
                                  f"{_rows_text(line_of(idx), list(codes[nonnum]))}. Use a decimal point (not a comma) "
                                  f"and leave missing values empty.")
        if np.isinf(values).any():
            idx = list(raw.index[np.isinf(values)])
            raise FactorFileError(f"{csv_path}: column '{name}' has infinite value(s) at line(s) "
                                  f"{_rows_text(line_of(idx))}.")
        if spec.is_percentage:
            outside = (values < 0) | (values > 100)
            if outside.any():
                idx = list(raw.index[outside])
                raise FactorFileError(
                    f"{csv_path}: column '{name}' has unit '%' but value(s) outside 0-100 at line(s) "
                    f"{_rows_text(line_of(idx), list(codes[outside]))}. Give percentages (not fractions 0-1), "
                    f"or change the unit in the sidecar.")
        out[name] = values.astype(float)
    if not raw.empty:
        placeholders = [k for k, v in [("title", meta.title)] + [(f"{n}.source", s.source) for n, s in
                                                                  meta.factors.items()] if TEMPLATE_MARK in v]
        if placeholders:
            raise FactorFileError(f"{meta.path}: template placeholder '{TEMPLATE_MARK}' not replaced in "
                                  f"{placeholders}; fill in the title and the source of every factor.")
        empty = [n for n in meta.factors if out[n].isna().all()]
        if empty:
            raise FactorFileError(f"{csv_path}: factor column(s) {empty} have no values at all.")
    return out.sort_values(ID_COLUMN).reset_index(drop=True), meta


def write_factor_file(df: pd.DataFrame, meta: FactorMeta | Mapping[str, Any], csv_path: str | Path, *,
                      header_comment: str | None = None) -> tuple[Path, Path]:
    """Write ``df`` (``wijk_code`` + factor columns) and its sidecar in the factor-file format.

    ``meta`` is a :class:`FactorMeta` or a mapping shaped like the sidecar YAML. The written
    pair is read back with :func:`read_factor_file`, so a file that does not validate is
    never left behind silently.
    """
    csv_path = Path(csv_path)
    doc = meta.to_yaml_dict() if isinstance(meta, FactorMeta) else dict(meta)
    names = list(doc["factors"])
    cols = [ID_COLUMN] + [c for c in DESCRIPTIVE_COLUMNS if c in df.columns] + names
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise FactorFileError(f"{csv_path}: cannot write, DataFrame lacks column(s) {missing}.")
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    body = df[cols].sort_values(ID_COLUMN).to_csv(index=False, lineterminator="\n", float_format="%.10g")
    prefix = "".join(f"# {line}\n" for line in header_comment.splitlines()) if header_comment else ""
    csv_path.write_text(prefix + body, encoding="utf-8")
    yml = csv_path.with_suffix(".yml")
    yml.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    read_factor_file(csv_path, allow_empty=True)
    return csv_path, yml


@dataclass
class FactorSet:
    """All factors of an analysis: values (``wijk_code`` + one column per factor), specs and provenance."""
    values: pd.DataFrame
    specs: dict[str, FactorSpec]
    files: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return list(self.specs)

    @property
    def any_fictional(self) -> bool:
        return any(s.fictional for s in self.specs.values())


def combine_factors(parts: Iterable[tuple[pd.DataFrame, FactorMeta]]) -> FactorSet:
    """Outer-join several factor tables on ``wijk_code``; a factor name may occur in one file only."""
    values: pd.DataFrame | None = None
    specs: dict[str, FactorSpec] = {}
    files: list[dict[str, Any]] = []
    for df, meta in parts:
        clash = [n for n in meta.factors if n in specs]
        if clash:
            others = sorted({specs[n].file for n in clash})
            raise FactorFileError(f"{meta.path}: factor name(s) {clash} already come from {others}; rename the "
                                  f"column(s) in this CSV and its sidecar (e.g. '{clash[0]}_wijkmonitor') or "
                                  f"drop them.")
        specs.update(meta.factors)
        files.append({"file": str(meta.path and Path(meta.path).with_suffix(".csv").name), "title": meta.title,
                      "fictional": meta.fictional, "indeling_year": meta.indeling_year,
                      "factors": meta.names, "n_rows": int(len(df)), **meta.extra})
        part = df[[ID_COLUMN] + meta.names]
        values = part if values is None else values.merge(part, on=ID_COLUMN, how="outer")
    if values is None:
        values = pd.DataFrame({ID_COLUMN: pd.Series(dtype=str)})
    return FactorSet(values.sort_values(ID_COLUMN).reset_index(drop=True), specs, files)


# --------------------------------------------------------------------------- CBS 83765NED

KWB_TABLE_ID = "83765NED"
KWB_SOURCE = "CBS, Kerncijfers wijken en buurten 2017 (StatLine 83765NED)"
#: 83765NED columns used as local factors -> (factor name, label_nl, label_en, cluster, unit, higher_is_worse).
KWB_FACTORS: dict[str, tuple[str, str, str, str, str, bool]] = {
    "AfstandTotHuisartsenpraktijk_94": (
        "afstand_huisarts", "Afstand tot huisartsenpraktijk (km)", "Distance to GP practice (km)",
        "voorzieningen", "km", True),
    "AfstandTotKinderdagverblijf_96": (
        "afstand_kinderdagverblijf", "Afstand tot kinderdagverblijf (km)", "Distance to day-care centre (km)",
        "voorzieningen", "km", True),
    "AfstandTotSchool_97": (
        "afstand_school", "Afstand tot (basis)school (km)", "Distance to (primary) school (km)",
        "voorzieningen", "km", True),
    "ScholenBinnen3Km_98": (
        "scholen_binnen_3km", "Scholen binnen 3 km (aantal)", "Schools within 3 km (number)",
        "voorzieningen", "aantal", False),
    "TotaalDiefstalUitWoningSchuurED_106": (
        "diefstal_woning", "Diefstal uit woning/schuur e.d. per 1.000 inwoners",
        "Thefts from home/shed etc. per 1,000 inhabitants", "veiligheid_sociale_cohesie",
        "per 1.000 inwoners", True),
    "VernielingMisdrijfTegenOpenbareOrde_107": (
        "vernieling", "Vernieling, misdrijf tegen openbare orde per 1.000 inwoners",
        "Vandalism, offences against public order per 1,000 inhabitants", "veiligheid_sociale_cohesie",
        "per 1.000 inwoners", True),
    "GeweldsEnSeksueleMisdrijven_108": (
        "geweld", "Gewelds- en seksuele misdrijven per 1.000 inwoners",
        "Violent and sexual offences per 1,000 inhabitants", "veiligheid_sociale_cohesie",
        "per 1.000 inwoners", True),
}
KWB_CODE_COLUMNS = ("Codering_3", "WijkenEnBuurten")
#: Where ``jhw-fetch --live`` stores the full 83765NED table (relative to raw_dir).
KWB_LIVE_PATH = "cbs_kwb_2017/cbs_83765NED_full/data.csv"


def find_kwb_table(raw_dir: str | Path | None) -> Path | None:
    """The fetched 83765NED data table under ``raw_dir``, or None when it is not there.

    Looked for (first match wins): ``cbs_kwb_2017/cbs_83765NED_full/data.csv`` (written by
    ``jhw-fetch --live``, see ``live_tables`` in ``data/sources.yml``), then any ``*.csv`` or ``*.parquet`` under ``raw_dir`` whose path
    mentions ``83765NED`` outside a ``*metadata*`` folder and that is not a metadata file
    (``DataProperties``, ``WijkenEnBuurten``, ``TableInfos``, ``CategoryGroups``).
    """
    if raw_dir is None:
        return None
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        return None
    canonical = raw_dir / KWB_LIVE_PATH
    if canonical.is_file():
        return canonical
    meta_stems = {"dataproperties", "wijkenenbuurten", "tableinfos", "categorygroups"}
    hits = []
    for p in sorted(raw_dir.rglob("*")):
        if p.suffix.lower() not in (".csv", ".parquet") or not p.is_file():
            continue
        rel = str(p.relative_to(raw_dir))
        if KWB_TABLE_ID.lower() not in rel.lower() or "metadata" in rel.lower():
            continue
        if p.stem.lower() in meta_stems:
            continue
        hits.append(p)
    return hits[0] if hits else None


def read_kwb_table(path: str | Path) -> pd.DataFrame:
    """Read a fetched 83765NED table (CSV in UTF-8 or Windows-1252, or Parquet)."""
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    try:
        return pd.read_csv(path, dtype=str, encoding="utf-8")
    except UnicodeDecodeError:
        return pd.read_csv(path, dtype=str, encoding="windows-1252")


def kwb_to_factors(table: pd.DataFrame, *, year: int = 2017, source: str = KWB_SOURCE,
                   name: str = "CBS 83765NED") -> tuple[pd.DataFrame, FactorMeta]:
    """Convert a CBS 83765NED table to the factor format (wijk rows, facility and crime columns).

    The code column is ``Codering_3`` (cbsodata ``get_data`` returns region *titles* in
    ``WijkenEnBuurten``) or else ``WijkenEnBuurten`` holding keys such as ``"WK051801  "``.
    Only rows with a wijk code are kept; CBS' space-padding is stripped; numbers that CBS
    hides (``.`` or empty) become missing. Distances are km by road (average over
    inhabitants), crime counts are per 1,000 inhabitants. Note that the SCP model already
    contains ``afstandhuisarts``; ``afstand_huisarts`` therefore tests what remains of that
    association after the model.
    """
    code_col = next((c for c in KWB_CODE_COLUMNS if c in table.columns
                     and table[c].astype(str).str.strip().str.match(WIJK_CODE_RE.pattern).any()), None)
    if code_col is None:
        raise FactorFileError(f"{name}: no column with wijk codes (looked for {list(KWB_CODE_COLUMNS)} holding "
                              f"codes like 'WK051801'); columns present: {list(table.columns)[:12]}...")
    present = [c for c in KWB_FACTORS if c in table.columns]
    if not present:
        raise FactorFileError(f"{name}: none of the facility/crime columns {list(KWB_FACTORS)} is present.")
    codes = table[code_col].astype(str).str.strip()
    rows = table[codes.str.match(WIJK_CODE_RE.pattern)].copy()
    out = pd.DataFrame({ID_COLUMN: codes[rows.index]})
    if out[ID_COLUMN].duplicated().any():
        dups = sorted(out.loc[out[ID_COLUMN].duplicated(), ID_COLUMN])[:10]
        raise FactorFileError(f"{name}: column '{code_col}' has duplicated wijk codes {dups}.")
    specs = {}
    for col in present:
        fname, nl, en, cluster, unit, worse = KWB_FACTORS[col]
        vals = rows[col].astype(str).str.strip().replace({"": np.nan, ".": np.nan, "nan": np.nan, "None": np.nan})
        num = pd.to_numeric(vals, errors="coerce")
        bad = num.isna() & vals.notna()
        if bad.any():
            raise FactorFileError(f"{name}: column '{col}' has non-numeric value(s) "
                                  f"{sorted(vals[bad].unique())[:5]} for wijken "
                                  f"{sorted(out.loc[bad[bad].index, ID_COLUMN])[:10]}.")
        out[fname] = num.astype(float).to_numpy()
        specs[fname] = FactorSpec(fname, nl, en, cluster, unit, f"{source}, kolom {col}", year, worse,
                                  file=name, fictional=False)
    meta = FactorMeta(title=f"{source}: nabijheid voorzieningen en geregistreerde criminaliteit",
                      fictional=False, indeling_year=year, factors=specs, path=name)
    return out.sort_values(ID_COLUMN).reset_index(drop=True), meta


# --------------------------------------------------------------------------- inputs

def resolve_user_path(p: str | Path) -> Path:
    """A user-given path: as given (absolute or relative to the working directory), else relative to the repo root."""
    p = Path(p).expanduser()
    if p.is_absolute() or p.exists():
        return p.resolve()
    alt = paths.ROOT / p
    return alt.resolve() if alt.exists() else p


def collect_factors(input_dir: str | Path, *, raw_dir: str | Path | None = None,
                    factor_files: Sequence[str | Path] = (), synthetic: bool = False,
                    use_public: bool = True, use_kwb: bool = True) -> FactorSet:
    """Gather the factors of an analysis: the public file of the data step, 83765NED when fetched, user files.

    The notes of the returned :class:`FactorSet` say which sources were used and which were
    not available (for example the 83765NED table in an offline run).
    """
    parts: list[tuple[pd.DataFrame, FactorMeta]] = []
    notes: list[str] = []
    if use_public:
        public = paths.artefact(input_dir, "01_local_factors_public.csv", synthetic)
        if public.exists():
            parts.append(read_factor_file(public))
            notes.append(f"Public factors: {public.name} ({len(parts[-1][1].factors)} factors).")
        else:
            notes.append(f"Public factor file {public} not found: run the data step first. Continuing without it.")
    if use_kwb:
        kwb = find_kwb_table(raw_dir)
        if kwb is not None:
            parts.append(kwb_to_factors(read_kwb_table(kwb), name=kwb.name))
            notes.append(f"CBS 83765NED found at {kwb}: facility and crime columns added "
                         f"({', '.join(parts[-1][1].names)}).")
        else:
            notes.append("CBS 83765NED (Kerncijfers wijken en buurten 2017) data rows are not in the raw-data folder "
                         f"({raw_dir}); they are fetched only online and are not in the offline mirror. Facility "
                         "distances and registered crime (home thefts, vandalism, violence) are therefore NOT "
                         "analysed in this run.")
    for f in factor_files:
        p = resolve_user_path(f)
        parts.append(read_factor_file(p))
        meta = parts[-1][1]
        flag = " FICTIONAL (demonstration only)" if meta.fictional else ""
        notes.append(f"User factor file {p.name}: '{meta.title}' ({len(meta.factors)} factors){flag}.")
    fs = combine_factors(parts)
    fs.notes = notes
    return fs


RESULT_COLUMNS = ("wijk_code", "gemeente_code", "observed", "expected_scp", "difference")


def results_from_wijk_table(table_nl: pd.DataFrame, region_codes: Iterable[str] | None = None) -> pd.DataFrame:
    """A results frame from the national wijk table of the data step (before the SCP step has run).

    observed = ``perc_jhzv``, expected_scp = ``perc_przv``, difference = ``residu`` (the published
    SCP values); ``in_region`` marks wijken whose code is in ``region_codes``.
    """
    out = pd.DataFrame({
        "wijk_code": table_nl["wijk_code"], "wijk_name": table_nl.get("wijk_name"),
        "gemeente_code": table_nl["gemeente_code"], "gemeente_name": table_nl.get("gemeente_name"),
        "observed": table_nl["perc_jhzv"].astype(float), "expected_scp": table_nl["perc_przv"].astype(float),
        "difference": table_nl["residu"].astype(float)})
    region = set(region_codes) if region_codes is not None else set()
    out["in_region"] = out["wijk_code"].isin(region)
    return out.sort_values("wijk_code").reset_index(drop=True)


def load_results(input_dir: str | Path, synthetic: bool = False) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The SCP step's national results (``02_scp_wijk_results_nl.parquet``) with its provenance.

    When that file is absent (SCP step not run yet) the published values of the data step's
    national table are used instead (``difference`` = published ``residu``) and the provenance says so.
    """
    p02 = paths.artefact(input_dir, "02_scp_wijk_results_nl.parquet", synthetic)
    if p02.exists():
        res = pd.read_parquet(p02)
        missing = [c for c in (*RESULT_COLUMNS, "in_region") if c not in res.columns]
        if missing:
            raise ValueError(f"{p02}: column(s) {missing} missing; the SCP step must write {list(RESULT_COLUMNS)} "
                             f"and 'in_region'. Re-run the scp_model step.")
        return res.sort_values("wijk_code").reset_index(drop=True), {
            "file": p02.name, "fallback": False,
            "note": "Residual = observed − expected_scp from the SCP model step (published SCP expectation)."}
    p01 = paths.artefact(input_dir, "01_wijk_table_nl.parquet", synthetic)
    p01r = paths.artefact(input_dir, "01_wijk_table_region.parquet", synthetic)
    if not p01.exists():
        raise FileNotFoundError(f"Neither {p02} nor {p01} exists in {input_dir}: run the data_preparation and "
                                f"scp_model steps first.")
    nl = pd.read_parquet(p01)
    region_codes = pd.read_parquet(p01r, columns=["wijk_code"])["wijk_code"] if p01r.exists() else []
    return results_from_wijk_table(nl, region_codes), {
        "file": p01.name, "fallback": True,
        "note": (f"{p02.name} not found; used the published SCP values from {p01.name} "
                 "(observed = perc_jhzv, expected = perc_przv, difference = residu).")}


def region_label(region: Any, raw_dir: str | Path | None = None) -> str:
    """Display label of the region parameter (``regions.resolve_region``), or the parameter itself."""
    if str(region).strip().upper() == "NL":
        return "Nederland"
    try:
        from . import regions
        return regions.resolve_region(region, regions.load_gemeente_regions(raw_dir)).name
    except (ImportError, OSError, ValueError, KeyError):
        return str(region)


def load_geometry(input_dir: str | Path, synthetic: bool = False):
    """The national wijk polygons of the data step (``01_wijk_geometry_nl.gpkg``), or None when absent."""
    import geopandas as gpd
    p = paths.artefact(input_dir, "01_wijk_geometry_nl.gpkg", synthetic)
    if not p.exists():
        return None
    return gpd.read_file(p, layer="wijken").sort_values("wijk_code").reset_index(drop=True)


def geometry_vintage(gdf) -> str:
    """Caption text on the geometry sources (uses ``geometry.vintage_label`` of the data step when present)."""
    if gdf is None or len(gdf) == 0:
        return "geen geometrie"
    try:
        from .geometry import vintage_label  # type: ignore
        return vintage_label(gdf)
    except (ImportError, AttributeError, KeyError, ValueError):
        pass
    if "geometry_source" in gdf.columns:
        counts = gdf["geometry_source"].value_counts()
        return "; ".join(f"{k} ({v} wijken)" for k, v in sorted(counts.items()))
    return "bron onbekend"


# --------------------------------------------------------------------------- statistics

def fisher_ci(r: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Confidence interval of a Pearson correlation by Fisher's z transform."""
    if n is None or n <= 3 or r is None or not np.isfinite(r):
        return (math.nan, math.nan)
    r = float(np.clip(r, -0.9999999, 0.9999999))
    z = math.atanh(r)
    half = stats.norm.ppf(0.5 + level / 2) / math.sqrt(n - 3)
    return (math.tanh(z - half), math.tanh(z + half))


def adjust_pvalues(p: Sequence[float], alpha: float = 0.05) -> pd.DataFrame:
    """Holm and Benjamini–Hochberg adjusted p-values (statsmodels), NaN-safe.

    Returns columns ``p_holm``, ``p_bh``, ``significant_bh`` (BH at FDR ``alpha``) and
    ``significant_holm`` (FWER ``alpha``), aligned with ``p``.
    """
    from statsmodels.stats.multitest import multipletests
    p = np.asarray(p, dtype=float)
    out = pd.DataFrame({"p_holm": np.nan, "p_bh": np.nan, "significant_bh": False,
                        "significant_holm": False}, index=range(len(p)))
    ok = np.isfinite(p)
    if ok.any():
        rej_h, p_h, _, _ = multipletests(p[ok], alpha=alpha, method="holm")
        rej_b, p_b, _, _ = multipletests(p[ok], alpha=alpha, method="fdr_bh")
        out.loc[ok, "p_holm"] = p_h
        out.loc[ok, "p_bh"] = p_b
        out.loc[ok, "significant_bh"] = rej_b
        out.loc[ok, "significant_holm"] = rej_h
    return out


def correlations(frame: pd.DataFrame, specs: Mapping[str, FactorSpec], *, y: str = "difference",
                 alpha: float = 0.05, level: float = 0.95) -> pd.DataFrame:
    """Bivariate Pearson correlation of each factor with ``y`` (pairwise complete), Fisher-z CI, BH and Holm."""
    rows = []
    for name, spec in specs.items():
        sub = frame[[y, name]].dropna()
        n = len(sub)
        if n >= 4 and sub[name].nunique() > 1 and sub[y].nunique() > 1:
            r, p = stats.pearsonr(sub[name], sub[y])
            rho = stats.spearmanr(sub[name], sub[y]).statistic
        else:
            r = p = rho = math.nan
        lo, hi = fisher_ci(r, n, level)
        rows.append({"factor": name, "label_nl": spec.label_nl, "label_en": spec.label_en, "cluster": spec.cluster,
                     "n": n, "r": float(r), "ci_low": lo, "ci_high": hi, "p": float(p), "spearman_rho": float(rho)})
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    adj = adjust_pvalues(out["p"].to_numpy(), alpha)
    return pd.concat([out, adj], axis=1)


def _design(frame: pd.DataFrame, xs: Sequence[str]) -> np.ndarray:
    return np.column_stack([np.ones(len(frame))] + [frame[x].to_numpy(float) for x in xs])


def fit_ols(frame: pd.DataFrame, y: str, xs: Sequence[str], *, cov_type: str = "HC3",
            groups: str = "gemeente_code"):
    """OLS of ``y`` on ``xs`` (with intercept). ``cov_type`` 'cluster' clusters by ``groups`` (CR1, t(G−1))."""
    import statsmodels.api as sm
    X = pd.DataFrame(_design(frame, xs), columns=["const", *xs], index=frame.index)
    model = sm.OLS(frame[y].to_numpy(float), X)
    if cov_type == "cluster":
        codes = pd.factorize(frame[groups])[0]
        return model.fit(cov_type="cluster", cov_kwds={"groups": codes}, use_t=True)
    if cov_type == "nonrobust":
        return model.fit()
    return model.fit(cov_type=cov_type, use_t=True)


def _vif(frame: pd.DataFrame, xs: Sequence[str]) -> dict[str, float]:
    if len(xs) < 2:
        return {x: 1.0 for x in xs}
    X = frame[list(xs)].to_numpy(float)
    out = {}
    for i, x in enumerate(xs):
        others = np.column_stack([np.ones(len(X)), np.delete(X, i, axis=1)])
        beta, *_ = np.linalg.lstsq(others, X[:, i], rcond=None)
        resid = X[:, i] - others @ beta
        ss_tot = ((X[:, i] - X[:, i].mean()) ** 2).sum()
        r2 = 1 - (resid ** 2).sum() / ss_tot if ss_tot > 0 else 1.0
        out[x] = float(1 / (1 - r2)) if r2 < 1 else math.inf
    return out


def _r2(y: np.ndarray, X: np.ndarray) -> tuple[float, float, float]:
    """R², adjusted R² and residual sum of squares of OLS ``y ~ X`` (X includes the intercept)."""
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    rss = float(((y - X @ beta) ** 2).sum())
    tss = float(((y - y.mean()) ** 2).sum())
    n, k = X.shape
    r2 = 1 - rss / tss if tss > 0 else math.nan
    adj = 1 - (1 - r2) * (n - 1) / (n - k) if n > k else math.nan
    return r2, adj, rss


def explained_variance(frame: pd.DataFrame, xs: Sequence[str]) -> dict[str, Any]:
    """Gain in explained variance over the national model, on the complete cases of ``xs``.

    Base: ``observed ~ expected_scp``; full: ``observed ~ expected_scp + xs``; nested F test;
    and R² of ``difference ~ xs``.
    """
    sub = frame.dropna(subset=["observed", "expected_scp", "difference", *xs])
    n, k = len(sub), len(xs)
    out: dict[str, Any] = {"n": n, "n_gemeenten": int(sub["gemeente_code"].nunique()), "n_factors": k}
    if n < k + 3:
        out["note"] = f"too few complete wijken (n={n}) for {k} factors"
        return out
    yv = sub["observed"].to_numpy(float)
    Xb = _design(sub, ["expected_scp"])
    Xf = _design(sub, ["expected_scp", *xs])
    r2b, adjb, rssb = _r2(yv, Xb)
    r2f, adjf, rssf = _r2(yv, Xf)
    df_den = n - Xf.shape[1]
    F = ((rssb - rssf) / k) / (rssf / df_den) if rssf > 0 and df_den > 0 else math.nan
    r2r, adjr, _ = _r2(sub["difference"].to_numpy(float), _design(sub, xs))
    out.update({"r2_base": r2b, "adj_r2_base": adjb, "r2_full": r2f, "adj_r2_full": adjf,
                "delta_r2": r2f - r2b, "delta_adj_r2": adjf - adjb,
                "f_test": {"F": F, "df_num": k, "df_den": df_den,
                           "p": float(stats.f.sf(F, k, df_den)) if np.isfinite(F) else math.nan},
                "r2_residual": r2r, "adj_r2_residual": adjr})
    return out


def logo_cv(frame: pd.DataFrame, xs: Sequence[str], *, groups: str = "gemeente_code") -> dict[str, Any]:
    """Leave-one-gemeente-out cross-validated RMSE of observed use, with and without the factors.

    For each gemeente, ``observed ~ expected_scp`` (baseline) and ``observed ~ expected_scp + xs``
    are fitted on all other gemeenten and predict the held-out wijken. ``rmse_scp`` is the
    RMSE of the published expectation as is (no fitting). A gemeente is skipped when the
    training set has too few wijken for the model.
    """
    sub = frame.dropna(subset=["observed", "expected_scp", *xs]).reset_index(drop=True)
    gems = sorted(sub[groups].unique())
    out: dict[str, Any] = {"n": int(len(sub)), "n_folds": 0, "n_gemeenten": len(gems)}
    if len(gems) < 2:
        out["note"] = "leave-one-gemeente-out needs at least 2 gemeenten"
        return out
    yv = sub["observed"].to_numpy(float)
    Xb = _design(sub, ["expected_scp"])
    Xf = _design(sub, ["expected_scp", *xs])
    pred_b = np.full(len(sub), np.nan)
    pred_f = np.full(len(sub), np.nan)
    folds = better = 0
    for g in gems:
        test = (sub[groups] == g).to_numpy()
        train = ~test
        if train.sum() < Xf.shape[1] + 2:
            continue
        bb, *_ = np.linalg.lstsq(Xb[train], yv[train], rcond=None)
        bf, *_ = np.linalg.lstsq(Xf[train], yv[train], rcond=None)
        pred_b[test] = Xb[test] @ bb
        pred_f[test] = Xf[test] @ bf
        folds += 1
        better += int(np.mean((yv[test] - pred_f[test]) ** 2) < np.mean((yv[test] - pred_b[test]) ** 2))
    ok = np.isfinite(pred_f)
    rmse = lambda e: float(np.sqrt(np.mean(e ** 2))) if len(e) else math.nan  # noqa: E731
    out.update({"n_folds": folds, "n_predicted": int(ok.sum()),
                "rmse_scp": rmse(yv[ok] - sub["expected_scp"].to_numpy(float)[ok]),
                "rmse_baseline": rmse(yv[ok] - pred_b[ok]), "rmse_factors": rmse(yv[ok] - pred_f[ok]),
                "folds_factors_better": better})
    out["rmse_change"] = out["rmse_factors"] - out["rmse_baseline"]
    out["rmse_change_pct"] = 100 * out["rmse_change"] / out["rmse_baseline"] if out["rmse_baseline"] else math.nan
    return out


def polygonal(gdf):
    """``gdf`` with every geometry reduced to its polygon parts.

    ``make_valid`` can leave GeometryCollections holding stray line pieces, which libpysal's
    contiguity builders reject; only the (Multi)Polygon part is kept. Rows without any
    polygon part get an empty geometry.
    """
    import shapely
    from shapely.geometry import MultiPolygon, Polygon

    def fix(geom):
        if geom is None or geom.is_empty or isinstance(geom, (Polygon, MultiPolygon)):
            return geom
        parts = [p for p in shapely.get_parts(geom) if isinstance(p, (Polygon, MultiPolygon))]
        if not parts:
            return Polygon()
        return shapely.union_all(parts)

    out = gdf.copy()
    out["geometry"] = [fix(g) for g in out.geometry]
    return out.set_geometry("geometry", crs=gdf.crs)


def spatial_weights(gdf, *, contiguity: str = "queen", buffer: float = 25.0):
    """Contiguity weights for ``gdf`` (ids = ``wijk_code``): 'queen', 'rook' or 'fuzzy' (buffered, metres)."""
    import libpysal
    ids = gdf["wijk_code"].tolist()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if contiguity == "queen":
            return libpysal.weights.Queen.from_dataframe(gdf, ids=ids, use_index=False, silence_warnings=True)
        if contiguity == "rook":
            return libpysal.weights.Rook.from_dataframe(gdf, ids=ids, use_index=False, silence_warnings=True)
        if contiguity == "fuzzy":
            w = libpysal.weights.fuzzy_contiguity(gdf.set_index("wijk_code"), buffering=True, buffer=buffer,
                                                  silence_warnings=True)
            return w
    raise ValueError(f"Unknown contiguity '{contiguity}'; use 'queen', 'rook' or 'fuzzy'.")


_WEIGHTS_CACHE: dict[tuple, tuple[Any, Any]] = {}


def _weights_for(gdf, codes: Sequence[str], *, contiguity: str, buffer: float):
    """Contiguity weights among ``codes``, a subset of the wijken of ``gdf``.

    Contiguity is a property of each pair of polygons, so the weights of a subset are the subset
    of the weights of all wijken. They are built once per geometry table and then subset, which
    keeps the many Moran's I computations of an analysis fast.
    """
    import libpysal
    key = (id(gdf), len(gdf), contiguity, float(buffer))
    hit = _WEIGHTS_CACHE.get(key)
    if hit is None or hit[0] is not gdf:
        full = gdf.drop_duplicates("wijk_code").sort_values("wijk_code")
        full = polygonal(full[["wijk_code", "geometry"]])
        full = full[full.geometry.notna() & ~full.geometry.is_empty].reset_index(drop=True)
        if len(_WEIGHTS_CACHE) >= 4:
            _WEIGHTS_CACHE.clear()
        hit = (gdf, spatial_weights(full, contiguity=contiguity, buffer=buffer) if len(full) >= 3 else None)
        _WEIGHTS_CACHE[key] = hit
    full_w = hit[1]
    codes = sorted(c for c in codes if full_w is not None and c in full_w.neighbors)
    if len(codes) < 3:
        return None, codes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return libpysal.weights.w_subset(full_w, codes, silence_warnings=True), codes


def morans_i(gdf, values: pd.Series, *, contiguity: str = "queen", permutations: int = 999,
             seed: int = 20170101, buffer: float = 25.0) -> dict[str, Any]:
    """Moran's I of ``values`` (indexed by wijk_code) with contiguity weights built on the analysed wijken.

    Wijken with a value but no polygon, and islands (no neighbour among the analysed wijken),
    are listed and excluded. Permutation inference (``p_sim``) uses ``seed`` and leaves the
    global NumPy random state unchanged.
    """
    import esda
    vals = values.dropna()
    vals = vals[~vals.index.duplicated()]
    out: dict[str, Any] = {"contiguity": contiguity, "permutations": permutations, "seed": seed,
                           "n_values": int(len(vals))}
    if contiguity == "fuzzy":
        out["buffer_m"] = buffer
    if gdf is None:
        out.update({"I": math.nan, "note": "no geometry available", "n": 0,
                    "no_polygon": sorted(vals.index), "islands": []})
        return out
    if contiguity not in ("queen", "rook", "fuzzy"):
        raise ValueError(f"Unknown contiguity '{contiguity}'; use 'queen', 'rook' or 'fuzzy'.")
    w, codes = _weights_for(gdf, list(vals.index), contiguity=contiguity, buffer=buffer)
    out["no_polygon"] = sorted(set(vals.index) - set(codes))
    islands: list[str] = []
    if w is not None:
        islands = sorted(str(i) for i in w.islands)
        if islands:
            w, codes = _weights_for(gdf, [c for c in codes if c not in set(islands)], contiguity=contiguity,
                                    buffer=buffer)
    out["islands"] = islands
    out["n"] = int(len(codes))
    if w is None or len(codes) < 3:
        out.update({"I": math.nan, "note": "fewer than 3 wijken with polygon and neighbours"})
        return out
    w.transform = "r"
    y = vals.reindex(w.id_order).to_numpy(float)
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = esda.Moran(y, w, transformation="r", permutations=permutations)
    finally:
        np.random.set_state(state)
    out.update({"I": float(m.I), "EI": float(m.EI), "z_norm": float(m.z_norm), "p_norm": float(m.p_norm),
                "p_sim": float(m.p_sim) if permutations else math.nan,
                "mean_neighbours": float(w.mean_neighbors)})
    return out


# --------------------------------------------------------------------------- analysis

@dataclass
class ScopeResult:
    scope: str                       # "region" or "nl"
    label: str
    frame: pd.DataFrame              # results + factors, wijken with a residual
    correlations: pd.DataFrame
    regressions: pd.DataFrame
    metrics: dict[str, Any]
    residuals: pd.DataFrame          # wijk_code, before, after (joint model)
    models: dict[str, list[str]]     # model name -> factors
    scope_codes: list[str] = field(default_factory=list)  # all wijken of the scope, incl. suppressed


@dataclass
class LocalFactorAnalysis:
    scopes: dict[str, ScopeResult]
    factors: FactorSet
    metrics: dict[str, Any]
    factor_table: pd.DataFrame


def _primary_cov(n_gemeenten: int, min_clusters: int) -> str:
    return "cluster" if n_gemeenten >= min_clusters else "HC3"


def _model_sets(frame: pd.DataFrame, specs: Mapping[str, FactorSpec], min_coverage: float
                ) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Factors per model (one per cluster present, plus 'joint'), excluding low-coverage and constant factors."""
    n = len(frame)
    excluded: dict[str, str] = {}
    usable = []
    for name in specs:
        cov = frame[name].notna().mean() if n else 0.0
        if frame[name].dropna().nunique() < 2:
            excluded[name] = "constant or no values in this scope"
        elif cov < min_coverage:
            excluded[name] = (f"coverage {cov:.0%} of wijken with a residual < {min_coverage:.0%}: "
                              f"bivariate correlation only")
        else:
            usable.append(name)
    models: dict[str, list[str]] = {}
    for cl in CLUSTERS:
        xs = [x for x in usable if specs[x].cluster == cl]
        if xs:
            models[cl] = xs
    if usable:
        models["joint"] = usable
    return models, excluded


def regressions(frame: pd.DataFrame, models: Mapping[str, Sequence[str]], specs: Mapping[str, FactorSpec], *,
                y: str = "difference", groups: str = "gemeente_code", alpha: float = 0.05,
                min_clusters: int = 30, level: float = 0.95) -> pd.DataFrame:
    """Factor coefficients of OLS models of ``y`` (one row per model × factor × covariance type).

    Each model is fitted on its own complete cases. Covariance types: 'cluster' (by gemeente)
    and 'HC3'; ``primary`` marks the one used for decisions (cluster when the number of
    gemeenten ≥ ``min_clusters``). BH/Holm adjust within family (cluster models together,
    joint model) and covariance type. ``coef_per_sd`` = coefficient × SD of the factor (pp per SD).
    """
    rows = []
    for model, xs in models.items():
        sub = frame.dropna(subset=[y, *xs])
        n, G = len(sub), sub[groups].nunique()
        if n < len(xs) + 3:
            continue
        vif = _vif(sub, xs)
        primary = _primary_cov(G, min_clusters)
        for cov in ("cluster", "HC3"):
            if cov == "cluster" and G < 2:
                continue
            res = fit_ols(sub, y, xs, cov_type=cov, groups=groups)
            ci = np.asarray(res.conf_int(alpha=1 - level))
            params = np.asarray(res.params)
            bse = np.asarray(res.bse)
            pv = np.asarray(res.pvalues)
            tv = np.asarray(res.tvalues)
            for j, x in enumerate(xs, start=1):
                sd = float(sub[x].std(ddof=1))
                rows.append({"model": model, "family": "joint" if model == "joint" else "cluster_models",
                             "cov_type": cov, "primary": cov == primary, "factor": x,
                             "label_nl": specs[x].label_nl, "label_en": specs[x].label_en,
                             "cluster": specs[x].cluster, "unit": specs[x].unit,
                             "coef": float(params[j]), "se": float(bse[j]), "t": float(tv[j]),
                             "ci_low": float(ci[j, 0]), "ci_high": float(ci[j, 1]), "p": float(pv[j]),
                             "sd_factor": sd, "coef_per_sd": float(params[j]) * sd,
                             "ci_low_per_sd": float(ci[j, 0]) * sd, "ci_high_per_sd": float(ci[j, 1]) * sd,
                             "vif": vif[x], "n": n, "n_gemeenten": int(G), "n_factors": len(xs),
                             "r2": float(res.rsquared), "adj_r2": float(res.rsquared_adj),
                             "df_resid_inference": float(res.df_resid) if cov != "cluster" else float(G - 1)})
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    adj_parts = []
    for _, idx in out.groupby(["family", "cov_type"], sort=True).groups.items():
        a = adjust_pvalues(out.loc[idx, "p"].to_numpy(), alpha)
        a.index = idx
        adj_parts.append(a)
    out = pd.concat([out, pd.concat(adj_parts).sort_index()], axis=1)
    return out


def residual_after(frame: pd.DataFrame, xs: Sequence[str], y: str = "difference") -> pd.Series:
    """Residual of ``y ~ xs`` (OLS, in-sample) per wijk_code, NaN where a factor is missing."""
    sub = frame.dropna(subset=[y, *xs])
    out = pd.Series(np.nan, index=frame["wijk_code"].to_numpy(), name="after")
    if len(sub) < len(xs) + 2:
        return out
    X = _design(sub, xs)
    beta, *_ = np.linalg.lstsq(X, sub[y].to_numpy(float), rcond=None)
    out.loc[sub["wijk_code"].to_numpy()] = sub[y].to_numpy(float) - X @ beta
    return out


def analysis_frame(results: pd.DataFrame, factors: FactorSet, scope: str) -> pd.DataFrame:
    """Results of the scope ('region' or 'nl') with a residual, joined to the factors by wijk_code."""
    res = results[results["in_region"].astype(bool)] if scope == "region" else results
    res = res[res["difference"].notna()]
    cols = [c for c in ("wijk_code", "wijk_name", "gemeente_code", "gemeente_name", "observed", "expected_scp",
                        "difference") if c in res.columns]
    return res[cols].merge(factors.values, on="wijk_code", how="left").sort_values("wijk_code").reset_index(drop=True)


def _clean(obj: Any) -> Any:
    """JSON-safe copy: NaN/inf -> None, numpy scalars -> Python, tuples -> lists."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else None
    return obj


def scope_caveats(m: dict[str, Any], min_clusters: int) -> list[str]:
    """Plain statements about what this scope's data can and cannot show."""
    out = []
    G = m.get("n_gemeenten", 0)
    n = m.get("n_wijken", 0)
    if G < min_clusters:
        out.append(f"Only {G} gemeenten: cluster-robust standard errors by gemeente need many clusters "
                   f"(rule of thumb ≥ 30-50) and are unreliable here, typically too small. HC3 standard errors are "
                   f"used for decisions and cluster-robust ones are reported alongside; HC3 ignores correlation "
                   f"within gemeenten, so neither is fully trustworthy.")
    if n < 300:
        out.append(f"Small N ({n} wijken with a residual): low power, wide intervals; associations of the size "
                   f"described by HHS may be undetectable and the joint model can overfit (compare adjusted R² "
                   f"and the cross-validated RMSE with the in-sample ΔR²).")
    if G and G <= 12:
        out.append(f"Leave-one-gemeente-out cross-validation has only {G} folds of very unequal size; "
                   f"its RMSE is itself uncertain.")
    excl = m.get("factors_excluded_from_models") or {}
    if excl:
        out.append(f"{len(excl)} factor(s) left out of the regressions (low coverage or constant): "
                   f"{', '.join(sorted(excl))}; they appear in the correlations only.")
    mo = m.get("moran", {}).get("before", {})
    if mo.get("no_polygon") or mo.get("islands"):
        out.append(f"Moran's I leaves out {len(mo.get('no_polygon', []))} wijk(en) without polygon and "
                   f"{len(mo.get('islands', []))} island(s) without neighbours.")
    return out


def analyse_scope(frame: pd.DataFrame, factors: FactorSet, *, scope: str, label: str, geometry=None,
                  scope_codes: Sequence[str] = (), alpha: float = 0.05, min_clusters: int = 30, min_coverage: float = 0.9,
                  permutations: int = 999, seed: int = 20170101, contiguity: str = "queen",
                  fuzzy_buffer: float = 25.0) -> ScopeResult:
    """All analyses for one scope (see the module docstring)."""
    specs = {n: s for n, s in factors.specs.items() if n in frame.columns}
    corr = correlations(frame, specs, alpha=alpha)
    models, excluded = _model_sets(frame, specs, min_coverage)
    reg = regressions(frame, models, specs, alpha=alpha, min_clusters=min_clusters)
    G = int(frame["gemeente_code"].nunique())
    m: dict[str, Any] = {"label": label, "n_wijken": int(len(frame)), "n_gemeenten": G,
                         "primary_cov_type": _primary_cov(G, min_clusters),
                         "factors_analysed": list(specs), "factors_excluded_from_models": excluded,
                         "models": {}}
    for model, xs in models.items():
        ev = explained_variance(frame, xs)
        ev["factors"] = list(xs)
        ev["cv_leave_one_gemeente_out"] = logo_cv(frame, xs)
        m["models"][model] = ev
    before = frame.set_index("wijk_code")["difference"]
    joint = models.get("joint", [])
    after = residual_after(frame, joint) if joint else pd.Series(np.nan, index=before.index)
    same = after.dropna().index
    resid = pd.DataFrame({"wijk_code": frame["wijk_code"], "before": before.to_numpy(),
                          "after": after.reindex(frame["wijk_code"]).to_numpy()})
    moran: dict[str, Any] = {"wijken": "complete cases of the joint model (same wijken before and after)",
                             "all_wijken_before": morans_i(geometry, before, contiguity=contiguity,
                                                           permutations=permutations, seed=seed,
                                                           buffer=fuzzy_buffer)}
    moran["before"] = morans_i(geometry, before.loc[same], contiguity=contiguity, permutations=permutations,
                               seed=seed, buffer=fuzzy_buffer)
    moran["after"] = morans_i(geometry, after.loc[same], contiguity=contiguity, permutations=permutations,
                              seed=seed, buffer=fuzzy_buffer)
    if contiguity != "fuzzy":
        moran["sensitivity_fuzzy"] = {
            k: morans_i(geometry, v, contiguity="fuzzy", permutations=permutations, seed=seed, buffer=fuzzy_buffer)
            for k, v in (("before", before.loc[same]), ("after", after.loc[same]))}
    m["moran"] = moran
    sig = corr.loc[corr["significant_bh"], "factor"].tolist() if not corr.empty else []
    m["correlations_significant_bh"] = sig
    if not reg.empty:
        prim = reg[reg["primary"]]
        m["joint_significant_bh"] = prim.loc[(prim["model"] == "joint") & prim["significant_bh"], "factor"].tolist()
        m["cluster_models_significant_bh"] = prim.loc[(prim["model"] != "joint") & prim["significant_bh"],
                                                      "factor"].tolist()
    m["caveats"] = scope_caveats(m, min_clusters)
    corr.insert(0, "scope", scope)
    if not reg.empty:
        reg.insert(0, "scope", scope)
    m["n_wijken_in_scope"] = int(len(scope_codes)) if len(scope_codes) else int(len(frame))
    return ScopeResult(scope, label, frame, corr, reg, m, resid, models,
                       sorted(scope_codes) if len(scope_codes) else sorted(frame["wijk_code"]))


def factor_table(factors: FactorSet, scopes: Mapping[str, ScopeResult]) -> pd.DataFrame:
    """One row per factor: metadata, source, year, file, and N / mean / SD per scope."""
    rows = []
    for name, s in factors.specs.items():
        row = {"factor": name, "label_nl": s.label_nl, "label_en": s.label_en, "cluster": s.cluster,
               "unit": s.unit, "source": s.source, "year": s.year, "higher_is_worse": s.higher_is_worse,
               "file": s.file, "fictional": s.fictional}
        for sc, res in scopes.items():
            v = res.frame[name] if name in res.frame.columns else pd.Series(dtype=float)
            row[f"n_{sc}"] = int(v.notna().sum())
            row[f"mean_{sc}"] = float(v.mean()) if v.notna().any() else math.nan
            row[f"sd_{sc}"] = float(v.std(ddof=1)) if v.notna().sum() > 1 else math.nan
        rows.append(row)
    order = {c: i for i, c in enumerate(CLUSTERS)}
    out = pd.DataFrame(rows)
    if not out.empty:
        out = out.sort_values(["cluster", "factor"], key=lambda c: c.map(order) if c.name == "cluster" else c)
    return out.reset_index(drop=True)


def run_analysis(results: pd.DataFrame, factors: FactorSet, *, geometry=None, region: Any = "Haaglanden",
                 region_label: str | None = None, alpha: float = 0.05, min_clusters: int = 30,
                 min_coverage: float = 0.9, permutations: int = 999, seed: int = 20170101,
                 contiguity: str = "queen", fuzzy_buffer: float = 25.0,
                 results_provenance: Mapping[str, Any] | None = None, synthetic: bool = False
                 ) -> LocalFactorAnalysis:
    """Run the local-factor analysis for the region and for the Netherlands.

    ``results`` is the SCP step's national results frame (``in_region`` marks the region).
    When the region is the whole country (or covers all wijken) only the 'nl' scope is run.
    """
    if not factors.specs:
        raise ValueError("No local factors to analyse: the public factor file is missing and no factor_files "
                         "were given. Run the data step, or pass factor_files=[...] with a CSV + YAML sidecar.")
    clash = [n for n in factors.specs if n in results.columns]
    if clash:
        raise FactorFileError(f"Factor name(s) {clash} clash with columns of the SCP results; rename them.")
    unmatched = sorted(set(factors.values["wijk_code"]) - set(results["wijk_code"]))
    region_label = region_label or str(region)
    region_is_nl = str(region).strip().upper() == "NL" or bool(results["in_region"].all())
    kw = dict(geometry=geometry, alpha=alpha, min_clusters=min_clusters, min_coverage=min_coverage,
              permutations=permutations, seed=seed, contiguity=contiguity, fuzzy_buffer=fuzzy_buffer)
    scopes: dict[str, ScopeResult] = {}
    if not region_is_nl:
        if not results["in_region"].any():
            raise ValueError(f"No wijk of region '{region}' is marked in_region in the SCP results; "
                             f"re-run the scp_model step for this region.")
        scopes["region"] = analyse_scope(
            analysis_frame(results, factors, "region"), factors, scope="region", label=region_label,
            scope_codes=results.loc[results["in_region"].astype(bool), "wijk_code"].tolist(), **kw)
    scopes["nl"] = analyse_scope(analysis_frame(results, factors, "nl"), factors, scope="nl",
                                 label="Nederland", scope_codes=results["wijk_code"].tolist(), **kw)
    general = [
        "Wijk-level (ecological) associations with the residual of the SCP model; they describe wijken, not "
        "families, and are not causal effects.",
        "Correlation confidence intervals (Fisher z) and p-values treat wijken as independent; wijken in the same "
        "gemeente share policy and providers, so these intervals are too narrow if residuals cluster.",
        "Multiple testing: Benjamini-Hochberg (FDR) across the factors of a scope is the decision rule; Holm "
        "(family-wise) is reported alongside.",
        "Gezondheidsmonitor 2016 wijk figures are model-based small-area estimates built from demographic "
        "covariates that overlap with SCP determinants; their association with the residual may be attenuated.",
    ]
    if factors.any_fictional:
        fict = sorted({s.file for s in factors.specs.values() if s.fictional})
        general.insert(0, f"FICTIONAL factor file(s) included ({', '.join(fict)}): results for those factors "
                          f"demonstrate the method only and say nothing about real wijken.")
    if unmatched:
        general.append(f"{len(unmatched)} wijk code(s) in the factor files do not occur in the SCP results "
                       f"(other indeling year or out of the SCP file) and are ignored, e.g. {unmatched[:5]}.")
    years = sorted({f["indeling_year"] for f in factors.files if f["indeling_year"] != 2017})
    if years:
        general.append(f"Factor file(s) with wijk indeling {years} (not 2017): codes are matched as given.")
    provided = set(factors.specs)
    hhs_missing = [f for fs in HHS_FACTORS.values() for f in fs if f not in provided]
    deviations = [
        f"HHS factors not available in this run: {', '.join(hhs_missing) or 'none'} "
        f"({len(hhs_missing)} of {sum(len(v) for v in HHS_FACTORS.values())}). HHS used local monitors that are "
        "not public per wijk; public proxies are used where available.",
        "HHS analysed 102 Haaglanden wijken; here the same analysis is also run nationally.",
    ]
    metrics = {
        "step": "local_factors", "synthetic": bool(synthetic), "region": region if not isinstance(region, tuple)
        else list(region), "region_label": region_label,
        "outcome": "difference = observed - expected_scp (percentage points), SCP model, 2017",
        "results_source": dict(results_provenance or {}),
        "factor_files": factors.files, "factor_notes": factors.notes,
        "parameters": {"alpha_fdr": alpha, "min_clusters_for_cluster_se": min_clusters,
                       "min_coverage_for_models": min_coverage, "moran_permutations": permutations,
                       "moran_seed": seed, "contiguity": contiguity, "fuzzy_buffer_m": fuzzy_buffer},
        "scopes": {k: v.metrics for k, v in scopes.items()},
        "caveats": general, "deviations_from_hhs": deviations,
        "unmatched_factor_codes": len(unmatched),
    }
    if region_is_nl:
        metrics["caveats"].append("Region is the whole country: only the national scope is analysed.")
    metrics["headline"] = headline(metrics)
    return LocalFactorAnalysis(scopes, factors, _clean(metrics), factor_table(factors, scopes))


def headline(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Key numbers per scope for the report: wijken, factors significant after BH, the variance of the
    gap (observed - expected) that the joint model explains in sample (R², ΔR² over the SCP model), and
    its leave-one-gemeente-out prediction error with and without the factors (out of sample)."""
    out: dict[str, Any] = {}
    for sc, m in metrics["scopes"].items():
        joint = m.get("models", {}).get("joint", {})
        out[f"{sc}_n_wijken"] = m.get("n_wijken")
        out[f"{sc}_factors_analysed"] = len(m.get("factors_analysed", []))
        out[f"{sc}_correlations_significant_bh"] = ", ".join(m.get("correlations_significant_bh", [])) or "none"
        out[f"{sc}_joint_model_significant_bh"] = ", ".join(m.get("joint_significant_bh", [])) or "none"
        if "r2_residual" in joint:
            out[f"{sc}_joint_model_n"] = joint["n"]
            out[f"{sc}_joint_model_r2_of_gap"] = joint["r2_residual"]
            out[f"{sc}_joint_model_delta_r2_over_scp"] = joint["delta_r2"]
        cv = joint.get("cv_leave_one_gemeente_out", {})
        if "rmse_factors" in cv:
            out[f"{sc}_cv_rmse_without_factors"] = cv["rmse_baseline"]
            out[f"{sc}_cv_rmse_with_factors"] = cv["rmse_factors"]
        moran = m.get("moran", {})
        for when in ("before", "after"):
            i = moran.get(when, {}).get("I")
            if i is not None and not (isinstance(i, float) and math.isnan(i)):
                out[f"{sc}_morans_i_gap_{when}_factors"] = i
    return out


def correlations_table(analysis: LocalFactorAnalysis) -> pd.DataFrame:
    return pd.concat([s.correlations for s in analysis.scopes.values()], ignore_index=True)


def regressions_table(analysis: LocalFactorAnalysis) -> pd.DataFrame:
    parts = [s.regressions for s in analysis.scopes.values() if not s.regressions.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def write_outputs(analysis: LocalFactorAnalysis, output_dir: str | Path, synthetic: bool = False) -> dict[str, Path]:
    """Write 03_local_factor_metrics.json, 03_correlations.csv, 03_regressions.csv and 03_factor_table.csv."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "metrics": paths.artefact(out, "03_local_factor_metrics.json", synthetic),
        "correlations": paths.artefact(out, "03_correlations.csv", synthetic),
        "regressions": paths.artefact(out, "03_regressions.csv", synthetic),
        "factor_table": paths.artefact(out, "03_factor_table.csv", synthetic),
    }
    files["metrics"].write_text(json.dumps(analysis.metrics, ensure_ascii=False, indent=2, sort_keys=True) + "\n",
                                encoding="utf-8")
    kw = dict(index=False, lineterminator="\n", float_format="%.8g")
    correlations_table(analysis).to_csv(files["correlations"], **kw)
    regressions_table(analysis).to_csv(files["regressions"], **kw)
    analysis.factor_table.to_csv(files["factor_table"], **kw)
    return files


def summary_table(analysis: LocalFactorAnalysis, lang: str = "nl") -> pd.DataFrame:
    """Key numbers per scope and model (N, R², ΔR², CV RMSE) for display in the notebook."""
    rows = []
    for sc, res in analysis.scopes.items():
        for model, m in res.metrics["models"].items():
            cv = m.get("cv_leave_one_gemeente_out", {})
            rows.append({"scope": res.label, "model": model, "n": m.get("n"), "n_gemeenten": m.get("n_gemeenten"),
                         "r2_base": m.get("r2_base"), "r2_full": m.get("r2_full"), "delta_r2": m.get("delta_r2"),
                         "delta_adj_r2": m.get("delta_adj_r2"), "f_test_p": (m.get("f_test") or {}).get("p"),
                         "r2_residual": m.get("r2_residual"), "cv_rmse_baseline": cv.get("rmse_baseline"),
                         "cv_rmse_factors": cv.get("rmse_factors"), "cv_rmse_change_pct": cv.get("rmse_change_pct")})
        mo = res.metrics["moran"]
        rows.append({"scope": res.label, "model": "moran_before/after", "n": mo["before"].get("n"),
                     "r2_base": mo["before"].get("I"), "r2_full": mo["after"].get("I")})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- figures

TEXT = {
    "nl": {"r": "Correlatie met verschil (r, 95%-BI)", "coef": "Effect per SD van de factor (procentpunt, 95%-BI)",
           "corr_title": "Bivariate correlatie", "coef_title": "Gezamenlijk model",
           "sig": "significant na BH-correctie", "nonsig": "niet significant na BH",
           "before": "Vóór: waargenomen − verwacht (SCP)", "after": "Na: rest na lokale factoren",
           "pp": "procentpunt", "nodata": "geen gegevens", "nopoly": "wijken zonder polygoon",
           "partial_x": "{label} | overige factoren", "partial_y": "verschil | overige factoren",
           "table_cols": ["Factor", "Cluster", "Bron", "Jaar", "N"], "no_model": "geen model te schatten",
           "nl": "Nederland", "moran": "Moran's I"},
    "en": {"r": "Correlation with difference (r, 95% CI)", "coef": "Effect per SD of the factor (pp, 95% CI)",
           "corr_title": "Bivariate correlation", "coef_title": "Joint model",
           "sig": "significant after BH correction", "nonsig": "not significant after BH",
           "before": "Before: observed − expected (SCP)", "after": "After: residual after local factors",
           "pp": "percentage points", "nodata": "no data", "nopoly": "wijken without polygon",
           "partial_x": "{label} | other factors", "partial_y": "difference | other factors",
           "table_cols": ["Factor", "Cluster", "Source", "Year", "N"], "no_model": "no model could be fitted",
           "nl": "the Netherlands", "moran": "Moran's I"},
}
SCOPE_COLORS = {"region": "#1b6ca8", "nl": "#d95f02"}


def _factor_order(analysis: LocalFactorAnalysis) -> list[str]:
    order = {c: i for i, c in enumerate(CLUSTERS)}
    return sorted(analysis.factors.specs, key=lambda n: (order[analysis.factors.specs[n].cluster], n))


def plot_coefficients(analysis: LocalFactorAnalysis, lang: str = "nl"):
    """Correlations (left) and joint-model effects per SD (right), factors grouped by cluster, both scopes."""
    import matplotlib.pyplot as plt
    t = TEXT[lang]
    names = _factor_order(analysis)
    specs = analysis.factors.specs
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.42 * len(names) + 1.8), sharey=True)
    ypos = {n: -i for i, n in enumerate(names)}
    scopes = list(analysis.scopes)
    offs = {sc: (0.15 if sc == "region" else -0.15) if len(scopes) > 1 else 0.0 for sc in scopes}
    for ax, kind in zip(axes, ("corr", "coef")):
        for sc in scopes:
            res = analysis.scopes[sc]
            if kind == "corr":
                d = res.correlations.set_index("factor")
                est, lo, hi = "r", "ci_low", "ci_high"
            else:
                reg = res.regressions
                if reg.empty:
                    continue
                d = reg[(reg["model"] == "joint") & reg["primary"]].set_index("factor")
                est, lo, hi = "coef_per_sd", "ci_low_per_sd", "ci_high_per_sd"
            for n in names:
                if n not in d.index or not np.isfinite(d.at[n, est]):
                    continue
                y = ypos[n] + offs[sc]
                sig = bool(d.at[n, "significant_bh"])
                c = SCOPE_COLORS[sc]
                ax.plot([d.at[n, lo], d.at[n, hi]], [y, y], color=c, lw=1.4)
                ax.plot(d.at[n, est], y, "o", color=c, mfc=c if sig else "white", ms=5.5)
        ax.axvline(0, color="0.4", lw=0.8)
        ax.set_xlabel(t["r"] if kind == "corr" else t["coef"])
        ax.set_title(t["corr_title"] if kind == "corr" else t["coef_title"])
        prev = None
        for n in names:
            cl = specs[n].cluster
            if cl != prev:
                ax.axhline(ypos[n] + 0.5, color="0.85", lw=0.8)
                if kind == "corr":
                    ax.text(0.01, ypos[n] + 0.47, CLUSTERS[cl][lang], transform=ax.get_yaxis_transform(),
                            fontsize=8, fontweight="bold", va="top", color="0.25")
                prev = cl
    axes[0].set_yticks([ypos[n] for n in names])
    axes[0].set_yticklabels([textwrap.shorten(specs[n].label(lang), 48, placeholder="…") for n in names])
    axes[0].set_ylim(min(ypos.values()) - 0.7, 0.8)
    from matplotlib.lines import Line2D
    handles = [Line2D([], [], color=SCOPE_COLORS[sc], marker="o", lw=1.4, label=analysis.scopes[sc].label
                      if sc == "region" else t["nl"]) for sc in scopes]
    handles += [Line2D([], [], color="0.3", marker="o", lw=0, label=t["sig"]),
                Line2D([], [], color="0.3", marker="o", mfc="white", lw=0, label=t["nonsig"])]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False, fontsize=8,
               bbox_to_anchor=(0.5, -0.02))
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def strongest_factors(res: ScopeResult, k: int = 4) -> list[str]:
    """The ``k`` factors with the largest |t| in the joint model (primary SE), else the largest |r|."""
    reg = res.regressions
    if not reg.empty and (reg["model"] == "joint").any():
        d = reg[(reg["model"] == "joint") & reg["primary"]].copy()
        d["abs_t"] = d["t"].abs()
        return d.sort_values(["abs_t", "factor"], ascending=[False, True])["factor"].head(k).tolist()
    c = res.correlations.dropna(subset=["r"]).copy()
    c["abs_r"] = c["r"].abs()
    return c.sort_values(["abs_r", "factor"], ascending=[False, True])["factor"].head(k).tolist()


def partial_regression_data(frame: pd.DataFrame, x: str, others: Sequence[str], y: str = "difference"
                            ) -> pd.DataFrame:
    """Frisch–Waugh–Lovell residuals: ``x`` and ``y`` each regressed on the other factors (complete cases)."""
    sub = frame.dropna(subset=[y, x, *others])
    Z = _design(sub, others)
    def res(v):
        b, *_ = np.linalg.lstsq(Z, v, rcond=None)
        return v - Z @ b
    return pd.DataFrame({"wijk_code": sub["wijk_code"].to_numpy(), "x_resid": res(sub[x].to_numpy(float)),
                         "y_resid": res(sub[y].to_numpy(float))})


def plot_partial_regression(res: ScopeResult, lang: str = "nl", k: int = 4):
    """Partial-regression (added-variable) plots of the strongest factors of the joint model."""
    import matplotlib.pyplot as plt
    t = TEXT[lang]
    top = strongest_factors(res, k)
    joint = res.models.get("joint", [])
    ncol = min(2, max(1, len(top)))
    nrow = max(1, math.ceil(len(top) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, 3.6 * nrow), squeeze=False)
    for ax, x in zip(axes.ravel(), top):
        others = [o for o in joint if o != x] if x in joint else []
        d = partial_regression_data(res.frame, x, others)
        ax.scatter(d["x_resid"], d["y_resid"], s=12, alpha=0.6, color=SCOPE_COLORS.get(res.scope, "0.3"),
                   edgecolor="none")
        if len(d) > 2 and d["x_resid"].std() > 0:
            slope = float((d["x_resid"] * d["y_resid"]).sum() / (d["x_resid"] ** 2).sum())
            xx = np.linspace(d["x_resid"].min(), d["x_resid"].max(), 2)
            ax.plot(xx, slope * xx, color="black", lw=1.2)
            ax.set_title(f"{textwrap.shorten(_label(res, x, lang), 50, placeholder='…')}\n"
                         f"b = {slope:.3g} {t['pp']}/{_unit(res, x)}, n = {len(d)}", fontsize=8.5)
        ax.axhline(0, color="0.7", lw=0.6)
        ax.set_xlabel(t["partial_x"].format(label=textwrap.shorten(_label(res, x, lang), 30, placeholder="…")),
                      fontsize=8)
        ax.set_ylabel(t["partial_y"], fontsize=8)
    for ax in axes.ravel()[len(top):]:
        ax.set_axis_off()
    if not top:
        axes[0, 0].text(0.5, 0.5, t["no_model"], ha="center", va="center")
    fig.tight_layout()
    return fig


def _label(res: ScopeResult, x: str, lang: str) -> str:
    c = res.correlations
    row = c[c["factor"] == x]
    if row.empty:
        return x
    return str(row.iloc[0]["label_nl" if lang == "nl" else "label_en"])


def _unit(res: ScopeResult, x: str) -> str:
    reg = res.regressions
    if not reg.empty and (reg["factor"] == x).any():
        return str(reg.loc[reg["factor"] == x, "unit"].iloc[0])
    return "eenheid"


def _diverging_map(ax, gdf, column: str, *, vmax: float):
    """A simple diverging choropleth (RdBu_r, symmetric around 0) with no-data wijken in grey."""
    nodata = gdf[gdf[column].isna()]
    data = gdf[gdf[column].notna()]
    if len(nodata):
        nodata.plot(ax=ax, color="0.85", edgecolor="white", linewidth=0.3, hatch="///")
    if len(data):
        data.plot(ax=ax, column=column, cmap="RdBu_r", vmin=-vmax, vmax=vmax, edgecolor="white", linewidth=0.3)
    ax.set_axis_off()
    return ax


def plot_residual_maps(res: ScopeResult, geometry, lang: str = "nl"):
    """Residual map before and after adding the joint-model factors (same symmetric colour scale).

    Draws with ``maps.diverging_map`` of the SCP step (same palette as its difference map);
    falls back to a simple choropleth of this module when ``maps`` is not importable.
    """
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    t = TEXT[lang]
    try:
        from .maps import diverging_map as shared_map
    except ImportError:
        shared_map = None
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.2))
    if geometry is None:
        for ax in axes:
            ax.text(0.5, 0.5, t["nodata"], ha="center", va="center")
            ax.set_axis_off()
        return fig
    g = polygonal(geometry[geometry["wijk_code"].isin(res.scope_codes)][["wijk_code", "geometry"]])
    g = g.merge(res.residuals, on="wijk_code", how="left").sort_values("wijk_code").reset_index(drop=True)
    both = pd.concat([g["before"], g["after"]]).abs().dropna()
    vmax = max(0.5, float(np.ceil(np.percentile(both, 95) * 2) / 2)) if len(both) else 1.0
    n_nopoly = int((~pd.Series(res.scope_codes).isin(geometry["wijk_code"])).sum())
    for ax, col in zip(axes, ("before", "after")):
        mo = res.metrics["moran"][col]
        I = mo.get("I")
        itxt = f"{t['moran']} = {I:.2f} (n = {mo.get('n')})" if I is not None and np.isfinite(I) else ""
        title = f"{t[col]}\n{itxt}"
        if shared_map is not None:
            shared_map(g, col, ax=ax, lang=lang, vmax=vmax, title=title)
        else:
            _diverging_map(ax, g, col, vmax=vmax)
            ax.set_title(title)
    for ax in axes:
        ax.title.set_fontsize(9)
    if shared_map is None:
        sm = ScalarMappable(norm=Normalize(-vmax, vmax), cmap="RdBu_r")
        cb = fig.colorbar(sm, ax=list(axes), orientation="horizontal", fraction=0.05, pad=0.04, shrink=0.6)
        cb.set_label(t["pp"])
    if n_nopoly:
        fig.text(0.5, 0.01, f"{n_nopoly} {t['nopoly']}", ha="center", fontsize=7.5, color="0.3")
    return fig


def plot_factor_table(analysis: LocalFactorAnalysis, lang: str = "nl"):
    """The factors with cluster, source, year and N per scope, drawn as a table."""
    import matplotlib.pyplot as plt
    t = TEXT[lang]
    ft = analysis.factor_table
    scopes = list(analysis.scopes)
    header = t["table_cols"][:4] + [textwrap.fill(f"N {analysis.scopes[sc].label if sc == 'region' else t['nl']}",
                                                  14) for sc in scopes]
    cells = []
    for _, r in ft.iterrows():
        label = r["label_nl"] if lang == "nl" else r["label_en"]
        if r["fictional"]:
            label += " (fictief)" if lang == "nl" else " (fictional)"
        cells.append([textwrap.fill(label, 34), textwrap.fill(CLUSTERS[r["cluster"]][lang], 18),
                      textwrap.fill(str(r["source"]), 52),
                      str(r["year"])] + [str(r.get(f"n_{sc}", "")) for sc in scopes])
    nlines = sum(max(c.count("\n") + 1 for c in row) for row in cells) + 2
    fig, ax = plt.subplots(figsize=(12, 0.22 * nlines + 0.6))
    ax.set_axis_off()
    if not cells:
        ax.text(0.5, 0.5, t["nodata"], ha="center")
        return fig
    tab = ax.table(cellText=cells, colLabels=header, loc="upper center", cellLoc="left",
                   colWidths=[0.24, 0.15, 0.38, 0.05] + [0.09] * len(scopes))
    tab.auto_set_font_size(False)
    tab.set_fontsize(7.5)
    for (row, col), cell in tab.get_celld().items():
        lines = 1 if row == 0 else max(cells[row - 1][c].count("\n") + 1 for c in range(len(header)))
        cell.set_height(0.9 * lines / nlines)
        cell.PAD = 0.02
        if row == 0:
            cell.set_text_props(fontweight="bold")
    return fig


def figure_captions(analysis: LocalFactorAnalysis, geometry=None) -> dict[str, str]:
    """Caption placeholder values for the step's registered figures."""
    label = analysis.metrics.get("region_label", "")
    return {"region_label": label, "geometry_vintage": geometry_vintage(geometry)}
