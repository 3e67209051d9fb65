"""Inputs of the local-factor analysis: factor sources, the SCP results, the region and the geometry.

Factor sources
    * ``local_factors_public`` (``01_local_factors_public.csv/.yml`` of the national data step:
      Gezondheidsmonitor 2016 wijk estimates and ELAN/LUMC variables, mapped to the 2017 indeling);
    * CBS 83765NED (*Kerncijfers wijken en buurten 2017*) facility and crime columns when that table
      has been fetched online into the raw-data folder (:func:`find_kwb_table`, :func:`kwb_to_factors`);
      the offline mirror does not contain it;
    * any number of user factor files (notebook parameter ``factor_files``).

Outcome
    The national SCP results (catalog id ``scp_results_nl``): ``difference`` = observed − expected
    (percentage points), and the precision-aware version: the funnel z-score
    ``z = difference / sqrt(se_binomial² + tau²)`` with ``se_binomial`` from the expected percentage
    and the estimated number of youths, and ``tau²`` the additive overdispersion estimated on all
    wijken of the country (:func:`add_precision`, using :mod:`jeugdhulp_wijken.deviation`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from .. import catalog, deviation, paths
from ..sources import rel_path
from .factor_files import (ID_COLUMN, WIJK_CODE_RE, FactorFileError, FactorMeta, FactorSet, FactorSpec,
                           combine_factors, read_factor_file)

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
#: Where ``jhw-fetch --live`` stores the full 83765NED table (relative to raw_dir; data/sources.yml id).
KWB_LIVE_ID = "cbs_83765ned_full"
KWB_LIVE_PATH = rel_path(KWB_LIVE_ID)


def find_kwb_table(raw_dir: str | Path | None) -> Path | None:
    """The fetched 83765NED data table under ``raw_dir``, or None when it is not there.

    Looked for (first match wins): ``cbs_kwb_2017/cbs_83765NED_full/data.csv`` (written by
    ``jhw-fetch --live``, see ``live_tables`` in ``data/sources.yml``), then any ``*.csv`` or
    ``*.parquet`` under ``raw_dir`` whose path mentions ``83765NED`` outside a ``*metadata*`` folder
    and that is not a metadata file (``DataProperties``, ``WijkenEnBuurten``, ``TableInfos``,
    ``CategoryGroups``).
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
    inhabitants), crime counts are per 1,000 inhabitants. The SCP model already contains
    ``afstandhuisarts``; ``afstand_huisarts`` therefore tests what remains of that association.
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


# --------------------------------------------------------------------------- factor inputs

def collect_factors(input_dir: str | Path, *, raw_dir: str | Path | None = None,
                    factor_files: Sequence[str | Path] = (), synthetic: bool = False,
                    use_public: bool = True, use_kwb: bool = True) -> FactorSet:
    """Gather the factors of an analysis: the public file of the data step (in ``input_dir``, the
    national folder), 83765NED when fetched, and user files.

    The notes of the returned :class:`FactorSet` say which sources were used and which were
    not available (for example the 83765NED table in an offline run).
    """
    if isinstance(factor_files, (str, Path)):
        raise FactorFileError(f"factor_files must be a list of paths, got the single value {str(factor_files)!r}; "
                              f"write factor_files=[{str(factor_files)!r}].")
    parts: list[tuple[pd.DataFrame, FactorMeta]] = []
    notes: list[str] = []
    if use_public:
        public = catalog.path("local_factors_public", input_dir, synthetic)
        if public.exists():
            # named by its catalog file name: an artefact of the data step, wherever the derived folder is
            parts.append(read_factor_file(public, name=public.name))
            notes.append(f"Public factors: {public.name} ({len(parts[-1][1].factors)} factors).")
        else:
            notes.append(f"Public factor file {public} not found: run the data step first. Continuing without it.")
    if use_kwb:
        kwb = find_kwb_table(raw_dir)
        if kwb is not None:
            parts.append(kwb_to_factors(read_kwb_table(kwb), name=kwb.name))
            notes.append(f"CBS 83765NED found ({kwb.name}): facility and crime columns added "
                         f"({', '.join(parts[-1][1].names)}).")
        else:
            # no folder in the note: an artefact must not depend on where the checkout lives
            notes.append("CBS 83765NED (Kerncijfers wijken en buurten 2017) data rows are not in the raw-data folder; "
                         "they are fetched only online and are not in the offline mirror. Facility "
                         "distances and registered crime (home thefts, vandalism, violence) are therefore NOT "
                         "analysed in this run.")
    for f in factor_files:
        p = paths.user_path(f)
        parts.append(read_factor_file(p))
        meta = parts[-1][1]
        flag = " FICTIONAL (demonstration only)" if meta.fictional else ""
        notes.append(f"User factor file {p.name}: '{meta.title}' ({len(meta.factors)} factors){flag}.")
    fs = combine_factors(parts)
    fs.notes = notes
    return fs


# --------------------------------------------------------------------------- SCP results

RESULT_COLUMNS = ("wijk_code", "gemeente_code", "observed", "expected_scp", "difference", "youths_0_17_est")


def results_from_wijk_table(table_nl: pd.DataFrame, region_codes: Iterable[str] | None = None) -> pd.DataFrame:
    """A results frame from the national wijk table of the data step (before the SCP step has run).

    observed = ``perc_jhzv``, expected_scp = ``perc_przv``, difference = ``residu`` (the published
    SCP values); ``in_region`` marks wijken whose code is in ``region_codes``.
    """
    out = pd.DataFrame({
        "wijk_code": table_nl["wijk_code"], "wijk_name": table_nl.get("wijk_name"),
        "gemeente_code": table_nl["gemeente_code"], "gemeente_name": table_nl.get("gemeente_name"),
        "observed": table_nl["perc_jhzv"].astype(float), "expected_scp": table_nl["perc_przv"].astype(float),
        "difference": table_nl["residu"].astype(float),
        "youths_0_17_est": table_nl["youths_0_17_est"].astype(float)})
    region = set(region_codes) if region_codes is not None else set()
    out["in_region"] = out["wijk_code"].isin(region)
    return out.sort_values("wijk_code").reset_index(drop=True)


def load_results(national_dir: str | Path, synthetic: bool = False) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The SCP step's national results (catalog ``scp_results_nl`` in ``national_dir``) with provenance.

    When that file is absent (SCP step not run yet) the published values of the national wijk
    table (``wijk_table_nl``) are used instead (``difference`` = published ``residu``), and the
    provenance says so.
    """
    p02 = catalog.path("scp_results_nl", national_dir, synthetic)
    if p02.exists():
        res = catalog.read("scp_results_nl", national_dir, synthetic)
        missing = [c for c in RESULT_COLUMNS if c not in res.columns]
        if missing:
            raise ValueError(f"{p02}: column(s) {missing} missing; the SCP step must write {list(RESULT_COLUMNS)}. "
                             f"Re-run the scp_model step.")
        return res.sort_values("wijk_code").reset_index(drop=True), {
            "file": p02.name, "fallback": False,
            "note": "Residual = observed − expected_scp from the SCP model step (published SCP expectation)."}
    p01 = catalog.path("wijk_table_nl", national_dir, synthetic)
    if not p01.exists():
        raise FileNotFoundError(catalog.missing_message("scp_results_nl", p02, synthetic)
                                + f" The published values of {p01.name} would serve instead, but it is missing too "
                                  f"(or pass national_dir = the national folder).")
    nl = catalog.read("wijk_table_nl", national_dir, synthetic)
    return results_from_wijk_table(nl), {
        "file": p01.name, "fallback": True,
        "note": (f"{p02.name} not found; used the published SCP values from {p01.name} "
                 "(observed = perc_jhzv, expected = perc_przv, difference = residu).")}


def add_precision(results: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Add ``se_binomial`` and ``funnel_z`` to the national results.

    The additive overdispersion ``tau2`` is estimated with :func:`deviation.estimate_overdispersion`
    on every wijk of ``results`` with an observed value (the whole country, as the SCP step does);
    ``funnel_z`` is :func:`deviation.z_scores` with that ``tau2``. Wijken without an estimated
    number of youths get no z-score.
    """
    if "youths_0_17_est" not in results.columns:
        raise ValueError("The SCP results lack 'youths_0_17_est' (estimated youths per wijk), which the "
                         "precision-aware analysis needs. Re-run the data_preparation and scp_model steps.")
    out = results.copy()
    n = out["youths_0_17_est"].astype(float).where(lambda v: v > 0)
    od = deviation.estimate_overdispersion(out["observed"], out["expected_scp"], n)
    se = deviation.binomial_se(out["expected_scp"], n)
    out["se_binomial"] = se
    out["funnel_z"] = deviation.z_scores(out["observed"], out["expected_scp"], n, tau2=od["tau2"])
    return out, {"method": "additive overdispersion (Spiegelhalter), estimated on all wijken of the country",
                 "tau2": od["tau2"], "phi": od["phi"], "n": od["n"], "winsor": od["winsor"],
                 "z": "funnel_z = difference / sqrt(se_binomial^2 + tau2), se_binomial = 100 sqrt(q (1 - q) / "
                      "youths_0_17_est) with q = expected_scp / 100"}


# --------------------------------------------------------------------------- region and geometry

def region_label(region: Any, raw_dir: str | Path | None = None) -> str:
    """Display label of the region parameter (``regions.resolve_region``), or the parameter itself."""
    if str(region).strip().upper() == "NL":
        return "Nederland"
    try:
        from .. import regions
        return regions.resolve_region(region, regions.load_gemeente_regions(raw_dir)).name
    except (ImportError, OSError, ValueError, KeyError):
        return str(region)


def region_wijken(results: pd.DataFrame, region: Any, raw_dir: str | Path | None = None) -> list[str]:
    """The wijk codes of ``region`` among ``results``: every wijk for "NL", else the wijken of the
    region's gemeenten (``regions.resolve_region``), else (no gemeente table) the ``in_region`` column."""
    if str(region).strip().upper() == "NL":
        return sorted(results["wijk_code"])
    from .. import regions
    try:
        gem = regions.resolve_region(region, regions.load_gemeente_regions(raw_dir)).gemeente_codes
    except (OSError, regions.RegionDataError):
        if "in_region" in results.columns:
            return sorted(results.loc[results["in_region"].astype(bool), "wijk_code"])
        raise
    codes = sorted(results.loc[results["gemeente_code"].isin(gem), "wijk_code"])
    if not codes:
        raise ValueError(f"region={region!r}: none of its {len(gem)} gemeenten has a wijk in the SCP results; "
                         f"check the region parameter (jhw-reproduce --list-regions).")
    return codes


def load_geometry(national_dir: str | Path, synthetic: bool = False):
    """The national wijk polygons of the data step (``wijk_geometry_nl``), or None when absent."""
    p = catalog.path("wijk_geometry_nl", national_dir, synthetic)
    if not p.exists():
        return None
    return catalog.read("wijk_geometry_nl", national_dir, synthetic).sort_values("wijk_code").reset_index(drop=True)


def geometry_vintage(gdf, lang: str = "nl") -> str:
    """Caption text on the geometry sources (``geometry.vintage_label``)."""
    if gdf is None or len(gdf) == 0:
        return "geen geometrie" if lang == "nl" else "no geometry"
    if "geometry_source" in gdf.columns:
        from ..geometry import vintage_label
        return vintage_label(gdf, lang)
    return "bron onbekend" if lang == "nl" else "source unknown"
