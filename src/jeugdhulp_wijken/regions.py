"""Regional divisions: gemeente -> jeugdzorgregio / GGD region, and the region parameter.

The gemeente-level divisions come from CBS StatLine table 83553NED *Gebieden in
Nederland 2017* (state on 1 January 2017), as downloaded by cbsodataR
(``data.csv`` plus ``DataProperties.csv``). Which ``Code_n``/``Naam_n`` column
pair holds the jeugdzorgregio and which the GGD region is looked up in
``DataProperties.csv`` (topic group titles "Jeugdzorgregio's" and "GGD-regio's"),
so that a re-download with shifted column numbers still reads correctly.

The study area of the HHS report *Jeugdhulp in de wijken* ("Haaglanden") is the
9 gemeenten of GGD Haaglanden / Kennisnetwerk Jeugd Haaglanden (102 wijken in the
SCP file). Jeugdzorgregio Haaglanden (JZ24) also contains Voorschoten (103 wijken);
every region label produced here says which of the two is meant.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd

from . import files, paths
from .study import STUDY_AREA, STUDY_AREA_GEMEENTEN

#: The raw files this module reads (ids of data/sources.yml).
REGIONS_SOURCES = ("cbs_83553ned_data", "cbs_83553ned_dataproperties")
ALL = "all"

STUDY_AREA_NAME = "Haaglanden (GGD-regio, 9 gemeenten; studiegebied HHS)"
STUDY_AREA_NOTE = ("HHS study area: the 9 gemeenten of GGD Haaglanden / Kennisnetwerk Jeugd Haaglanden "
                   "(102 wijken in the SCP file). Jeugdzorgregio Haaglanden (JZ24) additionally contains "
                   "Voorschoten (GM0626, 1 wijk): 10 gemeenten, 103 wijken; use region='JZ24' for that.")

GEMEENTE_COLUMNS = ["gemeente_code", "gemeente_name", "jz_code", "jz_name", "ggd_code", "ggd_name"]

_GM_RE = re.compile(r"^GM\d{4}$")


class UnknownRegionError(ValueError):
    """The region parameter names no known region."""


class RegionDataError(ValueError):
    """The gemeente -> region file is malformed."""


@dataclass(frozen=True)
class Region:
    name: str
    slug: str
    kind: str  # "study_area" | "jeugdzorgregio" | "ggd" | "gemeenten" | "nl"
    gemeente_codes: tuple[str, ...]
    note: str = ""

    def __contains__(self, gemeente_code: str) -> bool:
        return gemeente_code in self.gemeente_codes


def read_cbs_csv(path: str | Path, **kwargs) -> pd.DataFrame:
    """Read a cbsodataR CSV: UTF-8 (these copies) with a Windows-1252 fallback; strip padded strings."""
    path = Path(path)
    try:
        df = pd.read_csv(path, encoding="utf-8", dtype=str, keep_default_na=False, **kwargs)
    except UnicodeDecodeError:
        df = pd.read_csv(path, encoding="cp1252", dtype=str, keep_default_na=False, **kwargs)
    for col in df.columns:
        df[col] = df[col].str.strip()
    return df


def _division_columns(properties: pd.DataFrame, group_pattern: str, path: Path) -> tuple[str, str]:
    """(code column, name column) of the topic group whose title matches ``group_pattern``."""
    groups = properties[(properties["Type"] == "TopicGroup")
                        & properties["Title"].str.contains(group_pattern, case=False, regex=True)]
    if len(groups) != 1:
        raise RegionDataError(f"{path}: expected one topic group matching '{group_pattern}' in column Title, "
                              f"found {len(groups)}. Is this CBS table 83553NED?")
    gid = groups["ID"].iloc[0]
    children = properties[properties["ParentID"].str.replace(r"\.0$", "", regex=True) == gid]
    code = [k for k in children["Key"] if k.startswith("Code_")]
    name = [k for k in children["Key"] if k.startswith("Naam_")]
    if len(code) != 1 or len(name) != 1:
        raise RegionDataError(f"{path}: topic group '{groups['Title'].iloc[0]}' should have one Code_ and one "
                              f"Naam_ column, found {list(children['Key'])}.")
    return code[0], name[0]


def load_gemeente_regions(raw_dir: str | Path = paths.RAW) -> pd.DataFrame:
    """Gemeente -> jeugdzorgregio and GGD region (CBS 83553NED, 2017).

    Returns one row per gemeente with columns gemeente_code, gemeente_name, jz_code,
    jz_name, ggd_code, ggd_name, sorted by gemeente_code. Codes are validated.
    """
    from .sources import raw_path

    data_path, prop_path = (raw_path(i, raw_dir) for i in REGIONS_SOURCES)
    for p in (data_path, prop_path):
        if not p.is_file():
            raise FileNotFoundError(f"{p} not found. Fetch the raw data first (jhw-fetch or scripts/fetch_data.py).")
    return _gemeente_regions(files.file_version(data_path), files.file_version(prop_path)).copy()


@lru_cache(maxsize=4)
def _gemeente_regions(data_version: tuple[str, int, int], prop_version: tuple[str, int, int]) -> pd.DataFrame:
    """The gemeente table, parsed once per version of the two CBS files (a notebook asks for it several times)."""
    data_path, prop_path = Path(data_version[0]), Path(prop_version[0])
    props = read_cbs_csv(prop_path)
    jz_code, jz_name = _division_columns(props, r"^jeugdzorgregio", prop_path)
    ggd_code, ggd_name = _division_columns(props, r"^GGD-regio", prop_path)
    data = read_cbs_csv(data_path)
    gm_col = "Code_1" if "Code_1" in data.columns else "RegioS"
    needed = [gm_col, "Naam_2", jz_code, jz_name, ggd_code, ggd_name]
    missing = [c for c in needed if c not in data.columns]
    if missing:
        raise RegionDataError(f"{data_path}: columns {missing} are missing (DataProperties names them).")
    out = data[needed].copy()
    out.columns = GEMEENTE_COLUMNS
    _validate_gemeenten(out, data_path)
    return out.sort_values("gemeente_code").reset_index(drop=True)


def _validate_gemeenten(df: pd.DataFrame, path: Path) -> None:
    checks = [("gemeente_code", r"^GM\d{4}$"), ("jz_code", r"^JZ\d{2}$"), ("ggd_code", r"^GG\d{4}$")]
    for col, pattern in checks:
        bad = df[~df[col].str.match(pattern)]
        if len(bad):
            raise RegionDataError(f"{path}: column {col} has {len(bad)} value(s) not matching {pattern}, e.g. rows "
                                  f"{bad.head(5)[['gemeente_code', col]].to_dict('records')}.")
    dup = df[df["gemeente_code"].duplicated(keep=False)]
    if len(dup):
        raise RegionDataError(f"{path}: gemeente codes occur more than once: {sorted(set(dup['gemeente_code']))[:10]}.")
    for col in ("gemeente_name", "jz_name", "ggd_name"):
        empty = df[df[col] == ""]
        if len(empty):
            raise RegionDataError(f"{path}: column {col} is empty for gemeenten {list(empty['gemeente_code'][:10])}.")


def valid_region_values(gemeenten: pd.DataFrame) -> list[str]:
    """Human-readable list of accepted region values (for error messages and docs)."""
    jz = gemeenten[["jz_code", "jz_name"]].drop_duplicates().sort_values("jz_code")
    ggd = sorted(gemeenten["ggd_name"].unique())
    values = ["Haaglanden (study area, default)", "NL"]
    values += [f"{c} ({n})" for c, n in zip(jz["jz_code"], jz["jz_name"])]
    values += [f"GGD: {n}" for n in ggd]
    values += ["a list of GM codes, e.g. ['GM0518', 'GM0503']"]
    return values


def _unknown(region, gemeenten: pd.DataFrame, why: str = "") -> UnknownRegionError:
    return UnknownRegionError(
        f"Unknown region {region!r}{(': ' + why) if why else ''}. Valid values: "
        + "; ".join(valid_region_values(gemeenten)) + ".")


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", str(text).lower()).strip()


def _codes(mask) -> tuple[str, ...]:
    return tuple(sorted(mask))


def n_gemeenten(n: int) -> str:
    """"1 gemeente", "9 gemeenten": a count of gemeenten in a region's name or note."""
    return "1 gemeente" if n == 1 else f"{n} gemeenten"


def resolve_region(region, gemeenten: pd.DataFrame) -> Region:
    """Interpret the ``region`` parameter against the gemeente table.

    Accepts "Haaglanden" (the HHS study area: 9 GGD Haaglanden gemeenten), a
    jeugdzorgregio code ("JZ24") or name ("Holland Rijnland", "Jeugdzorgregio Haaglanden"),
    a GGD code ("GG7014") or name ("GGD Haaglanden"), a list (or comma-separated string)
    of gemeente codes, or "NL".
    """
    slug = paths.region_slug(region)
    if isinstance(region, (list, tuple)) or (isinstance(region, str) and "," in region):
        items = region.split(",") if isinstance(region, str) else region
        codes = sorted({str(c).strip().upper() for c in items if str(c).strip()})
        bad = [c for c in codes if not _GM_RE.match(c)]
        unknown = [c for c in codes if c not in set(gemeenten["gemeente_code"])]
        if not codes or bad or unknown:
            raise _unknown(region, gemeenten, f"gemeente codes not found in 83553NED: {bad or unknown or 'empty list'}")
        sel = gemeenten[gemeenten["gemeente_code"].isin(codes)]
        names = ", ".join(sel.sort_values("gemeente_code")["gemeente_name"][:4])
        more = f" e.a. ({len(codes)} gemeenten)" if len(codes) > 4 else ""
        return Region(name=f"{'Gemeente' if len(codes) == 1 else 'Gemeenten'}: {names}{more}",
                      slug=paths.region_slug(codes), kind="gemeenten", gemeente_codes=tuple(codes),
                      note=f"User-defined region of {n_gemeenten(len(codes))}: {', '.join(codes)}.")
    if not isinstance(region, str) or not region.strip():
        raise _unknown(region, gemeenten)
    text = region.strip()
    key = _norm(text)
    all_codes = set(gemeenten["gemeente_code"])

    if key in ("nl", "nederland", "netherlands"):
        return Region(name="Nederland", slug="nl", kind="nl", gemeente_codes=_codes(all_codes),
                      note=f"All {len(all_codes)} gemeenten of the Netherlands (2017 indeling).")

    if key in ("haaglanden", "studiegebied haaglanden", "study area haaglanden"):
        present = [c for c in STUDY_AREA_GEMEENTEN if c in all_codes]
        if len(present) != len(STUDY_AREA_GEMEENTEN):
            raise _unknown(region, gemeenten, "the Haaglanden study area gemeenten are not in this data set "
                           "(synthetic data? use a JZ code such as 'JZ01')")
        return Region(name=STUDY_AREA_NAME, slug=slug, kind="study_area",
                      gemeente_codes=_codes(STUDY_AREA_GEMEENTEN), note=STUDY_AREA_NOTE)

    jz = gemeenten[["jz_code", "jz_name"]].drop_duplicates()
    jz_by_code = {c.upper(): n for c, n in zip(jz["jz_code"], jz["jz_name"])}
    jz_by_name = {_norm(n): c for c, n in zip(jz["jz_code"], jz["jz_name"])}
    jz_hit = None
    if text.upper() in jz_by_code:
        jz_hit = text.upper()
    elif key in jz_by_name:
        jz_hit = jz_by_name[key]
    elif key.startswith("jeugdzorgregio ") and key[len("jeugdzorgregio "):] in jz_by_name:
        jz_hit = jz_by_name[key[len("jeugdzorgregio "):]]
    if jz_hit:
        sel = gemeenten[gemeenten["jz_code"] == jz_hit]
        jz_name = jz_by_code[jz_hit]
        codes = _codes(sel["gemeente_code"])
        note = f"Jeugdzorgregio {jz_name} ({jz_hit}): {n_gemeenten(len(codes))} (CBS 83553NED, 2017)."
        prefix = "" if "jeugdzorgregio" in jz_name.lower() else "Jeugdzorgregio "
        label = f"{prefix}{jz_name} ({jz_hit}, {n_gemeenten(len(codes))})"
        if jz_hit == "JZ24" and "GM0626" in codes:
            label = f"Jeugdzorgregio {jz_name} ({jz_hit}, {n_gemeenten(len(codes))} incl. Voorschoten)"
            note += (" Unlike the HHS study area 'Haaglanden' (9 GGD Haaglanden gemeenten, 102 wijken), "
                     "JZ24 also contains Voorschoten (GM0626).")
        return Region(name=label, slug=paths.region_slug(jz_hit), kind="jeugdzorgregio",
                      gemeente_codes=codes, note=note)

    ggd = gemeenten[["ggd_code", "ggd_name"]].drop_duplicates()
    ggd_hit = None
    for c, n in zip(ggd["ggd_code"], ggd["ggd_name"]):
        if text.upper() == c.upper() or key == _norm(n) or ("ggd " + key) == _norm(n):
            ggd_hit = (c, n)
            break
    if ggd_hit:
        sel = gemeenten[gemeenten["ggd_code"] == ggd_hit[0]]
        codes = _codes(sel["gemeente_code"])
        note = f"GGD region {ggd_hit[1]} ({ggd_hit[0]}): {n_gemeenten(len(codes))} (CBS 83553NED, 2017)."
        if set(codes) == set(STUDY_AREA_GEMEENTEN):
            note += " Identical to the HHS study area 'Haaglanden'; jeugdzorgregio JZ24 also contains Voorschoten."
        return Region(name=f"{ggd_hit[1]} (GGD-regio, {n_gemeenten(len(codes))})", slug=paths.region_slug(ggd_hit[0]),
                      kind="ggd", gemeente_codes=codes, note=note)

    if _GM_RE.match(text.upper()):
        return resolve_region([text.upper()], gemeenten)
    raise _unknown(region, gemeenten)


def region_table(region: Region, gemeenten: pd.DataFrame, wijken: pd.DataFrame | None = None) -> pd.DataFrame:
    """The gemeenten of ``region`` with their divisions (and wijk counts when ``wijken`` is given)."""
    sel = gemeenten[gemeenten["gemeente_code"].isin(region.gemeente_codes)].copy()
    if wijken is not None:
        counts = wijken.groupby("gemeente_code").size().rename("n_wijken")
        sel = sel.merge(counts, left_on="gemeente_code", right_index=True, how="left")
        sel["n_wijken"] = sel["n_wijken"].fillna(0).astype(int)
    return sel.sort_values("gemeente_code").reset_index(drop=True)


def all_regions(gemeenten: pd.DataFrame) -> list[str]:
    """What ``--region all`` means: the HHS study area (when present), NL and every jeugdzorgregio."""
    study = [STUDY_AREA] if set(STUDY_AREA_GEMEENTEN) <= set(gemeenten["gemeente_code"]) else []
    return study + ["NL"] + sorted(gemeenten["jz_code"].unique())


def expand(entries, gemeenten: pd.DataFrame) -> list:
    """Expand ``all`` and check every entry; refuse the unknown ones all at once, naming them.

    Returns the region values in order, without duplicates (by slug).
    """
    out, bad, seen = [], [], set()
    for entry in entries:
        values = all_regions(gemeenten) if isinstance(entry, str) and entry.strip().lower() == ALL else [entry]
        for value in values:
            try:
                region = resolve_region(value, gemeenten)
            except UnknownRegionError:
                bad.append(value)
                continue
            if region.slug not in seen:
                seen.add(region.slug)
                out.append(value)
    if bad:
        shown = ", ".join(repr("+".join(b) if isinstance(b, (list, tuple)) else b) for b in bad)
        raise UnknownRegionError(
            f"Unknown region{'s' if len(bad) > 1 else ''} {shown}. Use a jeugdzorgregio code "
            "(JZ01-JZ43, 42 codes) or name, "
            "'Haaglanden' (HHS study area), 'NL', 'all', a GGD region, or gemeente codes joined with '+' "
            "(GM0518+GM0503). `jhw-reproduce --list-regions` lists every valid value.")
    return out
