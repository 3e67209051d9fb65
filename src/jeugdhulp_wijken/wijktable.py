"""The national analysis table: one row per SCP wijk (2017 indeling), validated.

Inputs (relative to ``raw_dir``, the layout of the data mirror):

* ``jeugdhulp/Wijkdata_Jeugdhulp_in_de_wijk.ods`` - SCP wijk file *Jeugdhulp in de wijk*
  (sheets ``wijk``, ``gebruik``, ``determinanten``; ``.`` = not published). The numeric
  wijk code ``51801`` is CBS code ``WK051801`` (gemeente 0518, wijk 01).
* ``cbs_kwb_2017/.../wijk_2017.dbf`` - CBS wijk- en buurtkaart 2017 attributes
  (inhabitants and age-band shares on 1 January 2017; ``-99999999`` = missing/secret).
* CBS 83553NED (see :mod:`jeugdhulp_wijken.regions`) for jeugdzorgregio and GGD region.

Youths aged 0-17
----------------
SCP expresses use as a percentage of youths (0-17 years) per wijk but does not
publish the denominator. KWB 2017 has only the age bands 0-14 and 15-24 (as whole
percentages of inhabitants). The table therefore carries the estimate::

    youths_0_17_est = inhabitants * (p_00_14 + 3/10 * p_15_24) / 100

i.e. the 15-24 band is assumed to be uniformly spread over its ten single years,
three of which (15, 16, 17) are youths. Where many students (18-24) live the true share
of 15-17-year-olds in the band is below 3/10, in family wijken it can be above; the KWB
shares are also rounded to whole percents. :func:`youth_weight_sensitivity` quantifies how
much the youth-weighted averages move under alternative assumptions (0-14 only, 2/10, 4/10).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from . import files, paths
from .dictionary import BINARY_DETERMINANTS, DETERMINANTS, PERCENT_DETERMINANTS
from .regions import GEMEENTE_COLUMNS, REGIONS_SOURCES, load_gemeente_regions
from .sources import rel_path
from .study import YOUTH_SHARE_15_24

#: Raw files, by their id in data/sources.yml (paths relative to raw_dir follow from the manifest).
SCP_SOURCE = "scp_wijkdata_jeugdhulp_2017"
KWB_SOURCE = "cbs_kwb2017_wijk_dbf"
GM2016_SOURCE = "gezondheidsmonitor_2016_wijk"
ELAN_COUNT_SOURCE = "elan_lumc_df_count"
SCP_ODS = rel_path(SCP_SOURCE)
KWB_DBF = rel_path(KWB_SOURCE)
SCP_SHEETS = ("wijk", "gebruik", "determinanten", "bronnen", "beschrijving")
KWB_MISSING = -99999999
SMALL_WIJK = 1000
#: Share of the KWB 15-24 band counted as 0-17 (ages 15, 16, 17 of ten single years).
YOUTH_METHOD = ("youths_0_17_est = KWB 2017 AANT_INW * (P_00_14_JR + 0.3 * P_15_24_JR) / 100: the 0-14 band plus "
                "3/10 of the 15-24 band (ages 15-17 assumed to be 3 of 10 uniformly filled single years). KWB age "
                "shares are whole percents, so each wijk estimate carries a rounding error of up to "
                "0.5 + 0.15 percent of inhabitants. Used only as weights (youth-weighted averages), funnel-plot "
                "denominators and for counting.")

ID_COLUMNS = ["wijk_code", "wijk_name", "gemeente_code", "gemeente_name", "jz_code", "jz_name",
              "ggd_code", "ggd_name"]
OUTCOME_COLUMNS = ["perc_jhzv", "perc_przv", "residu"]
KWB_COLUMNS = ["inhabitants", "p_00_14", "p_15_24", "youths_0_17_est"]
FLAG_COLUMNS = ["flag_suppressed", "n_missing_determinants", "flag_small_wijk", "flag_missing_geometry"]
TABLE_COLUMNS = ID_COLUMNS + OUTCOME_COLUMNS + DETERMINANTS + KWB_COLUMNS + FLAG_COLUMNS


class DataValidationError(ValueError):
    """A raw or derived table violates its schema; the message names file, column and rows."""


def _fail(path, column, message, rows=None, what_to_do="Check that the file is the original download "
          "(re-fetch it with jhw-fetch) or fix the input file."):
    example = ""
    if rows is not None and len(rows):
        rows = rows.loc[:, ~rows.columns.duplicated()]
        example = f" Example rows: {rows.head(5).to_dict('records')}."
    raise DataValidationError(f"{path}: column '{column}': {message}.{example} {what_to_do}")


def wijk_code_from_number(values: pd.Series) -> pd.Series:
    """SCP numeric wijk codes (``51801``) -> CBS codes (``WK051801``)."""
    num = pd.to_numeric(values, errors="coerce")
    out = num.map(lambda v: f"WK{int(v):06d}" if pd.notna(v) else None)
    return out


def _to_float(df: pd.DataFrame, column: str, path: Path, sheet: str) -> pd.Series:
    """Convert a column where '.' marks a missing value; anything else non-numeric is an error."""
    raw = df[column]
    as_text = raw.astype(str).str.strip()
    is_missing = raw.isna() | (as_text == ".") | (as_text == "")
    num = pd.to_numeric(raw.where(~is_missing), errors="coerce")
    bad = num.isna() & ~is_missing
    if bad.any():
        _fail(f"{path} [sheet {sheet}]", column, f"{int(bad.sum())} non-numeric value(s) other than '.'",
              df.loc[bad, ["wijk", column]])
    return num.astype(float)


#: pandas engine for the SCP .ods: calamine reads it in a fraction of a second and gives the same
#: frames as the reference engine "odf" (odfpy, ~10 s); tests/test_wijktable.py checks they agree.
ODS_ENGINE = "calamine"


@lru_cache(maxsize=2)
def _read_ods_cached(path: str, mtime_ns: int, size: int, engine: str = ODS_ENGINE) -> dict[str, pd.DataFrame]:
    return pd.read_excel(path, engine=engine, sheet_name=None)


def read_scp_sheets(path: str | Path) -> dict[str, pd.DataFrame]:
    """All sheets of the SCP .ods as DataFrames (parsing is slow, so results are cached per file version)."""
    return {k: v.copy() for k, v in _read_ods_cached(*files.file_version(path)).items()}


def read_scp_file(path: str | Path) -> pd.DataFrame:
    """Read the SCP wijk file and return one row per wijk with ids, outcomes and the 27 determinants.

    Columns: wijk_code, wijk_name, gemeente_code, scp_gemeente_name, perc_jhzv, perc_przv, residu,
    and the 27 determinants (float, NaN where SCP printed '.').
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found. Fetch the raw data first (jhw-fetch or scripts/fetch_data.py).")
    sheets = read_scp_sheets(path)
    missing = [s for s in ("wijk", "gebruik", "determinanten") if s not in sheets]
    if missing:
        raise DataValidationError(f"{path}: sheets {missing} are missing (found {list(sheets)}). "
                                  "Is this the SCP file Wijkdata_Jeugdhulp_in_de_wijk.ods?")
    required = {"wijk": ["wijk", "wijknaam", "gemeentecode", "gemnaam_2017"],
                "gebruik": ["wijk"] + OUTCOME_COLUMNS,
                "determinanten": ["wijk"] + DETERMINANTS}
    for sheet, cols in required.items():
        absent = [c for c in cols if c not in sheets[sheet].columns]
        if absent:
            raise DataValidationError(f"{path} [sheet {sheet}]: columns {absent} are missing.")
    wijk = sheets["wijk"]
    base = pd.DataFrame({
        "wijk_code": wijk_code_from_number(wijk["wijk"]),
        "wijk_name": wijk["wijknaam"].astype(str).str.strip(),
        "gemeente_code": pd.to_numeric(wijk["gemeentecode"], errors="coerce").map(
            lambda v: f"GM{int(v):04d}" if pd.notna(v) else None),
        "scp_gemeente_name": wijk["gemnaam_2017"].astype(str).str.strip(),
    })
    for col in ("wijk_code", "gemeente_code"):
        bad = base[col].isna()
        if bad.any():
            _fail(f"{path} [sheet wijk]", "wijk" if col == "wijk_code" else "gemeentecode",
                  "non-numeric codes", wijk.loc[bad])
    prefix_ok = base["wijk_code"].str[2:6] == base["gemeente_code"].str[2:6]
    if not prefix_ok.all():
        _fail(f"{path} [sheet wijk]", "wijk", "wijk code does not start with its gemeente code",
              base.loc[~prefix_ok])
    frames = {}
    for sheet, cols in (("gebruik", OUTCOME_COLUMNS), ("determinanten", DETERMINANTS)):
        s = sheets[sheet]
        codes = wijk_code_from_number(s["wijk"])
        if codes.isna().any() or codes.duplicated().any():
            _fail(f"{path} [sheet {sheet}]", "wijk", "missing or duplicated wijk codes",
                  s.loc[codes.isna() | codes.duplicated(keep=False), ["wijk"]])
        frames[sheet] = pd.DataFrame({c: _to_float(s, c, path, sheet) for c in cols}).set_index(codes.values)
    dup = base["wijk_code"].duplicated(keep=False)
    if dup.any():
        _fail(f"{path} [sheet wijk]", "wijk", "duplicated wijk codes", base.loc[dup])
    for sheet, frame in frames.items():
        if set(frame.index) != set(base["wijk_code"]):
            diff = sorted(set(frame.index) ^ set(base["wijk_code"]))
            raise DataValidationError(f"{path}: sheet {sheet} and sheet wijk hold different wijken, e.g. {diff[:5]}.")
    out = base.set_index("wijk_code").join(frames["gebruik"]).join(frames["determinanten"])
    return out.reset_index()


def read_kwb_wijken(path: str | Path) -> pd.DataFrame:
    """Read the KWB 2017 wijk attribute table (.dbf); ``-99999999`` becomes NaN.

    Returns wijk_code, kwb_wijk_name, kwb_gemeente_code, water, inhabitants, p_00_14,
    p_15_24 and OPP_TOT (ha) as ``area_ha``.
    """
    import pyogrio

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found. Fetch the raw data first (jhw-fetch or scripts/fetch_data.py).")
    df = pyogrio.read_dataframe(path, read_geometry=False)
    need = ["WK_CODE", "WK_NAAM", "GM_CODE", "WATER", "AANT_INW", "P_00_14_JR", "P_15_24_JR", "OPP_TOT"]
    absent = [c for c in need if c not in df.columns]
    if absent:
        raise DataValidationError(f"{path}: columns {absent} are missing; is this the KWB 2017 wijk table?")
    out = pd.DataFrame({
        "wijk_code": df["WK_CODE"].astype(str).str.strip(),
        "kwb_wijk_name": df["WK_NAAM"].astype(str).str.strip(),
        "kwb_gemeente_code": df["GM_CODE"].astype(str).str.strip(),
        "water": df["WATER"].astype(str).str.strip(),
    })
    for src, dst in (("AANT_INW", "inhabitants"), ("P_00_14_JR", "p_00_14"), ("P_15_24_JR", "p_15_24"),
                     ("OPP_TOT", "area_ha")):
        vals = pd.to_numeric(df[src], errors="coerce").astype(float)
        out[dst] = vals.where(vals != KWB_MISSING)
    bad = ~out["wijk_code"].str.match(r"^WK\d{6}$")
    if bad.any():
        _fail(path, "WK_CODE", "codes not of the form WK######", out.loc[bad, ["wijk_code"]])
    if out["wijk_code"].duplicated().any():
        _fail(path, "WK_CODE", "duplicated codes", out.loc[out["wijk_code"].duplicated(keep=False), ["wijk_code"]])
    for col in ("p_00_14", "p_15_24"):
        rng = out[col].notna() & ~out[col].between(0, 100)
        if rng.any():
            _fail(path, col, "shares outside 0-100", out.loc[rng, ["wijk_code", col]])
    return out


def estimate_youths(inhabitants, p_00_14, p_15_24, share_15_24: float = YOUTH_SHARE_15_24):
    """Estimated number of 0-17-year-olds: inhabitants * (p_00_14 + share * p_15_24) / 100."""
    return inhabitants * (p_00_14 + share_15_24 * p_15_24) / 100.0


def weighted_mean(values: pd.Series, weights: pd.Series) -> float:
    ok = values.notna() & weights.notna() & (weights > 0)
    if not ok.any():
        return float("nan")
    return float(np.average(values[ok], weights=weights[ok]))


SUPPORTED_YEARS = (2017,)


class UnsupportedYearError(ValueError):
    """Only the 2017 data (SCP 2020-1) exist."""


def check_year(year) -> int:
    """Refuse years for which no SCP wijk file exists (only 2017)."""
    if int(year) not in SUPPORTED_YEARS:
        raise UnsupportedYearError(
            f"year={year!r} is not supported: the SCP model and wijk file (SCP-publicatie 2020-1) exist only for "
            f"{SUPPORTED_YEARS[0]} (indeling {SUPPORTED_YEARS[0]}). Later CBS wijk tables (e.g. 85075NED for 2021) "
            "would need a new model and a new data step; run with year=2017.")
    return int(year)


def build_national_table(raw_dir: str | Path = paths.RAW, geometry_codes=None, return_geometry: bool = False):
    """Build and validate the national wijk table (one row per SCP wijk, 2017 indeling).

    ``geometry_codes``: wijk codes that have a polygon (from :mod:`geometry`); when None the
    geometry is assembled here to set ``flag_missing_geometry``. With ``return_geometry=True``
    the result is ``(table, geometry, missing_geometry)`` (see :func:`geometry.build_wijk_geometry`).
    """
    raw_dir = Path(raw_dir)
    scp = read_scp_file(raw_dir / SCP_ODS)
    kwb = read_kwb_wijken(raw_dir / KWB_DBF)
    gem = load_gemeente_regions(raw_dir)
    table = scp.merge(gem, on="gemeente_code", how="left")
    no_region = table["jz_code"].isna()
    if no_region.any():
        _fail(raw_dir / SCP_ODS, "gemeentecode", f"{int(no_region.sum())} wijk(en) whose gemeente is not in "
              f"CBS 83553NED ({raw_dir / 'regions'})", table.loc[no_region, ["wijk_code", "gemeente_code"]])
    table = table.merge(kwb[["wijk_code", "inhabitants", "p_00_14", "p_15_24"]], on="wijk_code", how="left")
    area_ha = kwb.set_index("wijk_code")["area_ha"]
    table["youths_0_17_est"] = estimate_youths(table["inhabitants"], table["p_00_14"], table["p_15_24"])
    table["flag_suppressed"] = table["perc_jhzv"].isna()
    table["n_missing_determinants"] = table[DETERMINANTS].isna().sum(axis=1).astype(int)
    table["flag_small_wijk"] = (table["inhabitants"] < SMALL_WIJK).fillna(False).astype(bool)
    gdf = missing_geom = None
    if geometry_codes is None or return_geometry:
        from .geometry import build_wijk_geometry
        gdf, missing_geom = build_wijk_geometry(raw_dir, table, area_ha)
        geometry_codes = set(gdf["wijk_code"])
    table["flag_missing_geometry"] = ~table["wijk_code"].isin(set(geometry_codes))
    table = table[TABLE_COLUMNS].sort_values("wijk_code").reset_index(drop=True)
    validate_wijk_table(table, source=raw_dir / SCP_ODS)
    if return_geometry:
        return table, gdf, missing_geom
    return table


def validate_wijk_table(table: pd.DataFrame, source: str | Path = "wijk table") -> pd.DataFrame:
    """Check schema, code formats, uniqueness, ranges and region completeness; raise DataValidationError."""
    absent = [c for c in TABLE_COLUMNS if c not in table.columns]
    if absent:
        raise DataValidationError(f"{source}: columns {absent} are missing from the wijk table.")
    for col, pattern in (("wijk_code", r"^WK\d{6}$"), ("gemeente_code", r"^GM\d{4}$"),
                         ("jz_code", r"^JZ\d{2}$"), ("ggd_code", r"^GG\d{4}$")):
        bad = ~table[col].astype(str).str.match(pattern) | table[col].isna()
        if bad.any():
            _fail(source, col, f"{int(bad.sum())} value(s) not matching {pattern}", table.loc[bad, ["wijk_code", col]])
    dup = table["wijk_code"].duplicated(keep=False)
    if dup.any():
        _fail(source, "wijk_code", "duplicated wijk codes", table.loc[dup, ["wijk_code", "wijk_name"]])
    for col in ("gemeente_name", "jz_name", "ggd_name", "wijk_name"):
        empty = table[col].isna() | (table[col].astype(str).str.strip() == "")
        if empty.any():
            _fail(source, col, "empty names (every wijk needs a gemeente and a region)",
                  table.loc[empty, ["wijk_code", col]])
    for col in ["perc_jhzv", "perc_przv"] + PERCENT_DETERMINANTS + ["p_00_14", "p_15_24"]:
        bad = table[col].notna() & ~table[col].between(0, 100)
        if bad.any():
            _fail(source, col, "percentages outside 0-100", table.loc[bad, ["wijk_code", col]])
    for col in BINARY_DETERMINANTS:
        bad = table[col].notna() & ~table[col].isin([0, 1])
        if bad.any():
            _fail(source, col, "binary indicator not 0/1", table.loc[bad, ["wijk_code", col]])
    both = table["perc_jhzv"].notna() & table["residu"].notna()
    diff = (table["perc_jhzv"] - table["perc_przv"] - table["residu"]).abs()
    bad = both & (diff > 0.01)
    if bad.any():
        _fail(source, "residu", "residu differs from perc_jhzv - perc_przv by more than 0.01",
              table.loc[bad, ["wijk_code", "perc_jhzv", "perc_przv", "residu"]])
    neg = table["inhabitants"].notna() & (table["inhabitants"] < 0)
    if neg.any():
        _fail(source, "inhabitants", "negative values", table.loc[neg, ["wijk_code", "inhabitants"]])
    return table


def region_subset(table: pd.DataFrame, region) -> pd.DataFrame:
    """Rows of ``table`` in ``region`` (a :class:`regions.Region`)."""
    return table[table["gemeente_code"].isin(region.gemeente_codes)].reset_index(drop=True)


def gemeenten_from_table(table: pd.DataFrame) -> pd.DataFrame:
    """The gemeente -> region lookup held by a national table (for ``regions.resolve_region``)."""
    missing = [c for c in GEMEENTE_COLUMNS if c not in table.columns]
    if missing:
        raise DataValidationError(f"wijk table: columns {missing} are missing, so the region cannot be resolved. "
                                  "Re-run the data_preparation step (notebooks/01_data_preparation.ipynb).")
    return (table[GEMEENTE_COLUMNS].drop_duplicates("gemeente_code").sort_values("gemeente_code")
            .reset_index(drop=True))


def youth_weight_sensitivity(table: pd.DataFrame, region_codes=None) -> dict:
    """Youth-weighted observed/expected means under alternative youth approximations.

    Alternatives: 0-14 band only (share 0), 2/10 and 4/10 of the 15-24 band, and the
    unweighted wijk mean; reported for NL and (if given) the region's gemeenten.
    """
    variants = {"0-14 + 3/10 of 15-24 (used)": YOUTH_SHARE_15_24, "0-14 only": 0.0,
                "0-14 + 2/10 of 15-24": 0.2, "0-14 + 4/10 of 15-24": 0.4}
    out = {}
    scopes = {"nl": table}
    if region_codes is not None:
        scopes["region"] = table[table["gemeente_code"].isin(region_codes)]
    for scope, t in scopes.items():
        res = {}
        for label, share in variants.items():
            w = estimate_youths(t["inhabitants"], t["p_00_14"], t["p_15_24"], share)
            res[label] = {"observed": round(weighted_mean(t["perc_jhzv"], w), 4),
                          "expected": round(weighted_mean(t["perc_przv"], w), 4),
                          "youths_total": round(float(w.sum()), 0)}
        res["unweighted wijk mean"] = {"observed": round(float(t["perc_jhzv"].mean()), 4),
                                       "expected": round(float(t["perc_przv"].mean()), 4)}
        out[scope] = res
    return out


# --------------------------------------------------------------------------------------
# Public local factors (Gezondheidsmonitor 2016, ELAN/LUMC), in the local-factor file format
# --------------------------------------------------------------------------------------
GM2016_CSV = rel_path(GM2016_SOURCE)
ELAN_COUNT_CSV = rel_path(ELAN_COUNT_SOURCE)
ELAN_YEAR = 2017
#: Name of the area the ELAN/LUMC wijk aggregates cover (labels their analyses; sidecar key ``coverage``).
ELAN_COVERAGE = "ELAN-gebied"
AREA_MATCH_TOLERANCE = 0.10

_GM_SOURCE = "GGD'en, CBS en RIVM, Gezondheidsmonitor Volwassenen en Ouderen 2016 (modelschatting)"
_ELAN_SOURCE = ("ELAN/LUMC (Health Campus Den Haag), wijkaggregaten berekend in CBS Remote Access, "
                "df_count_ver_3.csv, jaar 2017")
#: name -> (source column, transform, label_nl, label_en, cluster, higher_is_worse)
GM2016_FACTORS = {
    "eenzaam": ("% eenzaam*", None, "% (matig tot zeer ernstig) eenzaam", "% moderately to very severely lonely",
                "veiligheid_sociale_cohesie", True),
    "ernstig_eenzaam": ("% ernstig eenzaam*", None, "% (zeer) ernstig eenzaam", "% (very) severely lonely",
                        "veiligheid_sociale_cohesie", True),
    "gezondheid_matig_slecht": ("% met goede ervaren gezondheid*", "100-", "% matige tot slechte ervaren gezondheid",
                                "% moderate to poor self-rated health", "veiligheid_sociale_cohesie", True),
    "beperking": ("% met beperking*", None, "% met een beperking", "% with a disability", "overig", True),
    "langdurige_aandoening": ("% met langdurige aandoening*", None, "% met een langdurige aandoening",
                              "% with a long-term condition", "overig", True),
    "onvoldoende_regie": ("% met voldoende regie over het eigen leven*", "100-",
                          "% met onvoldoende regie over het eigen leven", "% with insufficient control over own life",
                          "overig", True),
}
ELAN_FACTORS = {
    "elan_wmo_gebruik": ("%_WMO_user", "% inwoners met Wmo-voorziening (ELAN)", "% inhabitants using Wmo support (ELAN)",
                         "voorzieningen", True),
    "elan_verhuisd_meer_dan_1": ("%_Moving_count_above_1", "% inwoners vaker dan eens verhuisd (ELAN)",
                                 "% inhabitants who moved more than once (ELAN)", "veiligheid_sociale_cohesie", True),
    "elan_levensgebeurtenissen": ("%_Lifeevents_count_above_2", "% inwoners met meer dan 2 levensgebeurtenissen (ELAN)",
                                  "% inhabitants with more than 2 life events (ELAN)", "overig", True),
}


def map_2016_codes(raw_dir: str | Path, codes_2016, table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Map wijk codes of the 2016 indeling to the 2017 indeling of ``table``.

    A 2016 wijk is carried to the 2017 wijk with the same code when its 2016 polygon area lies
    within 10 % of the 2017 area (KWB 2017 OPP_TOT); otherwise (boundary redrawn, e.g. all of
    Rijswijk) it is not mapped. Returns ``(mapping, unmapped)``: mapping has code_2016, wijk_code;
    unmapped lists wijk_code (2017), wijk_name, gemeente_name, reason for every 2017 wijk without a
    2016 value, plus 2016 codes that do not exist in the 2017 table.
    """
    from .geometry import GEOMETRY_2016, _read

    raw_dir = Path(raw_dir)
    codes_2016 = pd.Series(sorted(set(map(str, codes_2016))))
    g16 = _read(raw_dir / GEOMETRY_2016, "WKC")
    area16 = pd.Series(g16.geometry.area.to_numpy() / 10_000.0, index=g16["code"])
    area17 = read_kwb_wijken(raw_dir / KWB_DBF).set_index("wijk_code")["area_ha"]
    rows_map, rows_un = [], []
    present = set(codes_2016)
    for rec in table[["wijk_code", "wijk_name", "gemeente_name"]].itertuples(index=False):
        code = rec.wijk_code
        if code not in present:
            rows_un.append({"wijk_code": code, "wijk_name": rec.wijk_name, "gemeente_name": rec.gemeente_name,
                            "reason": "no 2016 wijk with this code in the factor file"})
            continue
        a16, a17 = area16.get(code), area17.get(code)
        if a16 is not None and a17 is not None and pd.notna(a17) and a17 > 0:
            dev = a16 / a17 - 1.0
            if abs(dev) > AREA_MATCH_TOLERANCE:
                rows_un.append({"wijk_code": code, "wijk_name": rec.wijk_name, "gemeente_name": rec.gemeente_name,
                                "reason": f"boundary changed 2016->2017 (2016 area {dev:+.0%} vs 2017)"})
                continue
        rows_map.append({"code_2016": code, "wijk_code": code})
    in_table = set(table["wijk_code"])
    for code in codes_2016:
        if code not in in_table:
            rows_un.append({"wijk_code": code, "wijk_name": "", "gemeente_name": "",
                            "reason": "2016 code not in the 2017 SCP table (abolished, renumbered or < 100 inhabitants)"})
    mapping = pd.DataFrame(rows_map, columns=["code_2016", "wijk_code"])
    unmapped = pd.DataFrame(rows_un, columns=["wijk_code", "wijk_name", "gemeente_name", "reason"])
    return mapping, unmapped.sort_values("wijk_code").reset_index(drop=True)


def build_public_local_factors(raw_dir: str | Path, table: pd.DataFrame, synthetic: bool = False
                               ) -> tuple[pd.DataFrame, dict, pd.DataFrame]:
    """Public local factors per 2017 wijk, in the local-factor file format.

    Returns ``(data, metadata, unmapped)``: data has wijk_code plus one column per factor (rows
    = wijken of ``table`` with at least one value, sorted); metadata is the sidecar YAML content;
    unmapped lists the wijken without a 2016 value (see :func:`map_2016_codes`).
    ELAN/LUMC shares (fractions) are multiplied by 100; only year 2017 rows are used.
    """
    raw_dir = Path(raw_dir)
    path = raw_dir / GM2016_CSV
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found. Fetch the raw data first (jhw-fetch).")
    gm = pd.read_csv(path, dtype={"wijkcode": str})
    absent = [spec[0] for spec in GM2016_FACTORS.values() if spec[0] not in gm.columns] + (
        [] if "wijkcode" in gm.columns else ["wijkcode"])
    if absent:
        raise DataValidationError(f"{path}: columns {absent} are missing.")
    gm["wijkcode"] = gm["wijkcode"].str.strip()
    bad = ~gm["wijkcode"].str.match(r"^WK\d{6}$")
    if bad.any():
        _fail(path, "wijkcode", "codes not of the form WK######", gm.loc[bad, ["wijkcode"]])
    n_exact_dupes = int(gm.duplicated().sum())
    gm = gm.drop_duplicates()  # identical repeated rows (WK191104 occurs 3x in the 2016 file) are harmless
    if gm["wijkcode"].duplicated().any():
        _fail(path, "wijkcode", "duplicated codes with different values",
              gm.loc[gm["wijkcode"].duplicated(keep=False), ["wijkcode"]])
    values = pd.DataFrame({"code_2016": gm["wijkcode"]})
    for name, (col, transform, *_rest) in GM2016_FACTORS.items():
        v = pd.to_numeric(gm[col], errors="coerce")
        rng = v.notna() & ~v.between(0, 100)
        if rng.any():
            _fail(path, col, "percentages outside 0-100", gm.loc[rng, ["wijkcode", col]])
        values[name] = 100.0 - v if transform == "100-" else v
    mapping, unmapped = map_2016_codes(raw_dir, values["code_2016"], table)
    data = mapping.merge(values, on="code_2016", how="left").drop(columns="code_2016")
    factors = {}
    for name, (col, transform, lnl, len_, cluster, worse) in GM2016_FACTORS.items():
        factors[name] = {"label_nl": lnl, "label_en": len_, "cluster": cluster, "unit": "%",
                         "source": _GM_SOURCE + (f"; = 100 - '{col}'" if transform == "100-" else f"; '{col}'"),
                         "year": 2016, "higher_is_worse": worse}
    elan_path = raw_dir / ELAN_COUNT_CSV
    elan_note = "ELAN/LUMC file not present; no ELAN factors."
    if elan_path.is_file():
        elan = pd.read_csv(elan_path)
        elan = elan[elan["YEAR"] == ELAN_YEAR].copy()
        elan["wijk_code"] = elan["WKC"].astype(str).str.strip()
        elan = elan[elan["wijk_code"].isin(set(table["wijk_code"]))]
        edata = pd.DataFrame({"wijk_code": elan["wijk_code"]})
        for name, (col, lnl, len_, cluster, worse) in ELAN_FACTORS.items():
            if col not in elan.columns:
                raise DataValidationError(f"{elan_path}: column '{col}' is missing.")
            v = pd.to_numeric(elan[col], errors="coerce")
            rng = v.notna() & ~v.between(0, 1)
            if rng.any():
                _fail(elan_path, col, "shares outside 0-1", elan.loc[rng, ["wijk_code", col]])
            edata[name] = 100.0 * v
            factors[name] = {"label_nl": lnl, "label_en": len_, "cluster": cluster, "unit": "%",
                             "source": f"{_ELAN_SOURCE}; '{col}' x 100", "year": ELAN_YEAR, "higher_is_worse": worse,
                             "coverage": ELAN_COVERAGE}
        data = data.merge(edata, on="wijk_code", how="outer")
        gems = ", ".join(sorted(table.loc[table["wijk_code"].isin(edata["wijk_code"]), "gemeente_name"].unique()))
        elan_note = f"ELAN/LUMC {ELAN_YEAR} rows joined on the 2017 wijk code: {len(edata)} wijken ({gems})."
    data = data[data["wijk_code"].isin(set(table["wijk_code"]))]
    data = data.dropna(how="all", subset=[c for c in data.columns if c != "wijk_code"])
    data = data.sort_values("wijk_code").reset_index(drop=True)
    meta = {
        "title": ("Synthetische publieke lokale factoren (fictief)" if synthetic else
                  "Publieke lokale factoren (Gezondheidsmonitor 2016; ELAN/LUMC 2017)"),
        "fictional": bool(synthetic),
        "indeling_year": 2017,
        "mapping": ("Gezondheidsmonitor 2016 values carried to the 2017 wijk with the same code when the 2016 "
                    "polygon area is within 10% of the 2017 area (KWB OPP_TOT); "
                    f"{int((unmapped['wijk_name'] != '').sum())} 2017 wijken unmapped. "
                    f"{n_exact_dupes} identical repeated row(s) in the 2016 file dropped. {elan_note}"),
        "factors": factors,
    }
    return data, meta, unmapped


def raw_sources(optional: bool = False) -> list[str]:
    """Ids (data/sources.yml) of the raw files the data step reads; with ``optional`` also the ELAN
    boundary and count files, which are used when present."""
    from .geometry import GEOMETRY_2016_SOURCE, GEOMETRY_HADOKS_SOURCE

    ids = [SCP_SOURCE, KWB_SOURCE, *REGIONS_SOURCES, GEOMETRY_2016_SOURCE, GM2016_SOURCE]
    return ids + ([GEOMETRY_HADOKS_SOURCE, ELAN_COUNT_SOURCE] if optional else [])


def raw_inputs() -> list[str]:
    """Relative paths (mirror layout) of the raw files the data step needs."""
    return [rel_path(i) for i in raw_sources()]


def step_inputs() -> list[str]:
    """Every raw file (source id) whose content changes the outputs of the data step (declared in pipeline.yml)."""
    return raw_sources(optional=True)
