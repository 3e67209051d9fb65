"""Local-factor files: the schema, the YAML sidecar, reading, validating and writing.

A factor file is a CSV plus a YAML *sidecar* with the same stem (``wijkmonitor.csv`` +
``wijkmonitor.yml``); the format is documented in ``data/local_factors_template/README.md``.

CSV
    * Optional leading comment lines starting with ``#`` (skipped).
    * A ``wijk_code`` column in CBS form ``WK`` + 6 digits (``WK051801``), unique per row.
    * One numeric column per factor; the column name is the factor name and must match
      ``[A-Za-z][A-Za-z0-9_]*``. Decimal point ``.``; empty cells, ``.``, ``NA`` and ``NaN``
      mean *missing*.
    * Optionally the descriptive columns ``wijk_name``, ``gemeente_code`` and
      ``gemeente_name``; they are ignored by the analysis.
    * UTF-8, unless the sidecar declares another ``encoding`` (e.g. ``latin-1``).

YAML sidecar (required keys ``title``, ``fictional``, ``indeling_year``, ``factors``; optional
``encoding``; per factor the keys of :data:`FACTOR_KEYS`, optionally ``coverage``: a name for
the area the factor covers, such as ``ELAN-gebied``, used to label its analyses).

This module is the one writer of factor files (:func:`write_factor_file`); the data step
writes the public factors through it. It imports nothing of the analysis, so any module can use it.
"""
from __future__ import annotations

import codecs
import io
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import yaml

from .. import files, paths

CLUSTERS: dict[str, dict[str, str]] = {
    "voorzieningen": {"nl": "Voorzieningen", "en": "Facilities"},
    "veiligheid_sociale_cohesie": {"nl": "Veiligheid en sociale cohesie", "en": "Safety and social cohesion"},
    "overig": {"nl": "Overig", "en": "Other"},
}
TOP_KEYS = ("title", "fictional", "indeling_year", "factors")
OPTIONAL_TOP_KEYS = ("encoding",)
FACTOR_KEYS = ("label_nl", "label_en", "cluster", "unit", "source", "year", "higher_is_worse")
OPTIONAL_FACTOR_KEYS = ("coverage",)
ID_COLUMN = "wijk_code"
DESCRIPTIVE_COLUMNS = ("wijk_name", "gemeente_code", "gemeente_name")
MISSING_TOKENS = ("", ".", "NA", "NaN", "nan", "N/A")
PERCENT_UNITS = ("%", "procent", "percent")
WIJK_CODE_RE = re.compile(r"^WK\d{6}$")
FACTOR_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
#: Column names of the results frame; a factor may not reuse them.
RESERVED_NAMES = ("wijk_code", "wijk_name", "gemeente_code", "gemeente_name", "jz_code", "jz_name",
                  "observed", "expected_scp", "difference", "in_region", "residual_after", "const",
                  "youths_0_17_est", "funnel_z", "precision_weight", "se_binomial")

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


class FactorCoverageWarning(UserWarning):
    """Some wijk codes of a factor file match no wijk of the SCP results; they are ignored."""


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
    coverage: str = ""           # name of the area the factor covers ("" = not declared)

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
    encoding: str = ""

    @property
    def names(self) -> list[str]:
        return list(self.factors)

    def to_yaml_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"title": self.title, "fictional": self.fictional, "indeling_year": self.indeling_year}
        if self.encoding:
            doc["encoding"] = self.encoding
        doc.update(self.extra)
        doc["factors"] = {n: {k: getattr(s, k) for k in FACTOR_KEYS + OPTIONAL_FACTOR_KEYS if getattr(s, k) != ""}
                          for n, s in self.factors.items()}
        return doc


def display_path(path: str | Path) -> str:
    """A file's name in tables and metrics: relative to the repository root when it lies inside it
    (so artefacts do not depend on where the repository is), else as given."""
    p = Path(path)
    try:
        return p.resolve().relative_to(paths.ROOT).as_posix()
    except ValueError:
        return str(p)


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


def _save_as_utf8(path: Path, exc: UnicodeDecodeError, sidecar: Path | None) -> FactorFileError:
    bad = exc.object[exc.start:exc.start + 1].hex()
    line = exc.object[:exc.start].count(b"\n") + 1
    hint = (f", or declare its encoding in the sidecar {sidecar} (for example `encoding: latin-1`)"
            if sidecar is not None else "")
    return FactorFileError(f"{path}: not readable as UTF-8 (byte 0x{bad} on line {line}). Save the file as UTF-8 "
                           f"(in Excel: 'CSV UTF-8 (comma delimited)'){hint}.")


def parse_sidecar(yml_path: str | Path, csv_name: str = "") -> FactorMeta:
    """Read and validate a factor sidecar (see the module docstring for the keys)."""
    yml_path = Path(yml_path)
    if not yml_path.exists():
        raise FactorFileError(
            f"{csv_name or yml_path.with_suffix('.csv')}: sidecar {yml_path} not found. Every factor CSV needs a "
            f"YAML sidecar with the same stem describing each factor column "
            f"(copy {TEMPLATE_DIR / 'hhs_local_factors_template.yml'} and edit it).")
    raw = yml_path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _save_as_utf8(yml_path, exc, None) from None
    try:
        doc = yaml.safe_load(text)
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
    encoding = doc.get("encoding") or ""
    if encoding:
        try:
            codecs.lookup(str(encoding))
        except LookupError:
            raise FactorFileError(f"{yml_path}: unknown 'encoding' {encoding!r}; use a Python codec name such as "
                                  f"utf-8, latin-1 or cp1252, or save the CSV as UTF-8 and remove the key.") from None
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
        coverage = entry.get("coverage") or ""
        if not isinstance(coverage, str):
            raise FactorFileError(f"{yml_path}: factor '{name}': 'coverage' must be a name such as "
                                  f"'ELAN-gebied', got {coverage!r}.")
        specs[name] = FactorSpec(name=name, label_nl=str(entry["label_nl"]), label_en=str(entry["label_en"]),
                                 cluster=entry["cluster"], unit=str(entry["unit"]), source=str(entry["source"]),
                                 year=int(entry["year"]), higher_is_worse=bool(entry["higher_is_worse"]),
                                 file=str(csv_name or yml_path.with_suffix(".csv").name),
                                 fictional=bool(doc["fictional"]), coverage=coverage.strip())
    return FactorMeta(title=str(doc["title"]), fictional=bool(doc["fictional"]),
                      indeling_year=int(doc["indeling_year"]), factors=specs, path=str(yml_path),
                      extra={k: v for k, v in doc.items() if k not in TOP_KEYS + OPTIONAL_TOP_KEYS},
                      encoding=str(encoding))


def _count_comment_lines(text: str) -> int:
    n = 0
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            n += 1
        else:
            break
    return n


def _decode(csv_path: Path, meta: FactorMeta) -> str:
    raw = csv_path.read_bytes()
    if meta.encoding:
        try:
            return raw.decode(meta.encoding)
        except UnicodeDecodeError as exc:
            raise FactorFileError(f"{csv_path}: not readable with the encoding '{meta.encoding}' declared in "
                                  f"{meta.path} (byte 0x{exc.object[exc.start:exc.start + 1].hex()}). Correct the "
                                  f"'encoding' key, or save the file as UTF-8 and remove the key.") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _save_as_utf8(csv_path, exc, Path(meta.path)) from None


def read_factor_file(csv_path: str | Path, *, allow_empty: bool = False,
                     name: str | None = None) -> tuple[pd.DataFrame, FactorMeta]:
    """Read and validate a local-factor CSV and its YAML sidecar.

    Returns a DataFrame with ``wijk_code`` and one float column per factor (sidecar order),
    sorted by ``wijk_code``, and the :class:`FactorMeta`. Raises :class:`FactorFileError`
    for a missing sidecar, missing keys, unknown clusters, a file that is not UTF-8 (nor in the
    encoding its sidecar declares), columns without sidecar entry or sidecar entries without
    column, bad or duplicated wijk codes, non-numeric values, percentages outside 0-100, factor
    columns without any value and unreplaced template placeholders (``VUL IN``).
    ``allow_empty`` accepts a header without rows (the template). ``name`` is how the file is
    named in tables and metrics (default: :func:`display_path`).
    """
    csv_path = Path(csv_path)
    if not csv_path.exists():
        raise FactorFileError(f"{csv_path}: factor file not found. Give the path of a CSV with a 'wijk_code' "
                              f"column and a YAML sidecar with the same stem.")
    meta = parse_sidecar(sidecar_path(csv_path), csv_name=name or display_path(csv_path))
    text = _decode(csv_path, meta)
    skip = _count_comment_lines(text)
    try:
        raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skiprows=skip)
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

    ``meta`` is a :class:`FactorMeta` or a mapping shaped like the sidecar YAML (further
    top-level keys, such as a mapping note, are kept). Both files are written atomically in
    UTF-8 (a declared ``encoding`` is dropped); the pair is read back with
    :func:`read_factor_file`, so a file that does not validate is never left behind silently.
    """
    csv_path = Path(csv_path)
    doc = meta.to_yaml_dict() if isinstance(meta, FactorMeta) else dict(meta)
    doc.pop("encoding", None)
    names = list(doc["factors"])
    cols = [ID_COLUMN] + [c for c in DESCRIPTIVE_COLUMNS if c in df.columns] + names
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise FactorFileError(f"{csv_path}: cannot write, DataFrame lacks column(s) {missing}.")
    body = df[cols].sort_values(ID_COLUMN).to_csv(index=False, lineterminator="\n", float_format="%.10g")
    prefix = "".join(f"# {line}\n" for line in header_comment.splitlines()) if header_comment else ""
    files.write_text_atomic(csv_path, prefix + body)
    yml = csv_path.with_suffix(".yml")
    files.write_text_atomic(yml, yaml.safe_dump(files.plain(doc), allow_unicode=True, sort_keys=False, width=110))
    read_factor_file(csv_path, allow_empty=True)
    return csv_path, yml


@dataclass
class FactorSet:
    """All factors of an analysis: values (``wijk_code`` + one column per factor), specs and provenance.

    ``file_codes`` holds the wijk codes of each factor file (for :func:`check_wijk_codes`).
    """
    values: pd.DataFrame
    specs: dict[str, FactorSpec]
    files: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    file_codes: dict[str, tuple[str, ...]] = field(default_factory=dict)

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
    info: list[dict[str, Any]] = []
    file_codes: dict[str, tuple[str, ...]] = {}
    for df, meta in parts:
        clash = [n for n in meta.factors if n in specs]
        if clash:
            others = sorted({specs[n].file for n in clash})
            raise FactorFileError(f"{meta.path}: factor name(s) {clash} already come from {others}; rename the "
                                  f"column(s) in this CSV and its sidecar (e.g. '{clash[0]}_wijkmonitor') or "
                                  f"drop them.")
        specs.update(meta.factors)
        name = str(meta.path and Path(meta.path).with_suffix(".csv").name)
        info.append({"file": name, "title": meta.title, "fictional": meta.fictional,
                     "indeling_year": meta.indeling_year, "factors": meta.names, "n_rows": int(len(df)),
                     **meta.extra})
        file_codes[next(iter(meta.factors.values())).file if meta.factors else name] = tuple(df[ID_COLUMN])
        part = df[[ID_COLUMN] + meta.names]
        values = part if values is None else values.merge(part, on=ID_COLUMN, how="outer")
    if values is None:
        values = pd.DataFrame({ID_COLUMN: pd.Series(dtype=str)})
    return FactorSet(values.sort_values(ID_COLUMN).reset_index(drop=True), specs, info, file_codes=file_codes)


def check_wijk_codes(factors: FactorSet, wijk_codes: Iterable[str]) -> list[str]:
    """Check every factor file's wijk codes against the wijken of the SCP results.

    A file none of whose codes is a wijk raises :class:`FactorFileError` naming the file; a file
    with some unknown codes gives a :class:`FactorCoverageWarning` with the count. Returns the
    warning texts (for the caveats of the analysis).
    """
    known = set(wijk_codes)
    out = []
    for name, codes in factors.file_codes.items():
        if not codes:
            continue
        unknown = sorted(set(codes) - known)
        if len(unknown) == len(set(codes)):
            raise FactorFileError(
                f"{name}: none of its {len(set(codes))} wijk codes (e.g. {', '.join(unknown[:3])}) is a wijk of the "
                f"SCP results (2017 indeling, codes like WK051801), so it cannot be analysed. Check the "
                f"'{ID_COLUMN}' column and the wijk indeling of the file.")
        if unknown:
            text = (f"{name}: {len(unknown)} of {len(set(codes))} wijk codes match no wijk of the SCP results "
                    f"(other indeling year, or wijken outside the SCP file) and are ignored, e.g. "
                    f"{', '.join(unknown[:5])}.")
            warnings.warn(text, FactorCoverageWarning, stacklevel=2)
            out.append(text)
    return out
