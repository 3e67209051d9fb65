"""Best available polygon per SCP wijk (2017 indeling), with its source and year.

No 2017 wijk boundaries are in the data mirror. Two boundary files are:

* ``geometry/wijk_2016_6.geojson`` - CBS/Kadaster wijkgrenzen 2016 for all of the
  Netherlands (EPSG:28992, generalised). It matches the 2017 area (KWB 2017 ``OPP_TOT``)
  within 3 % for almost all wijken whose code exists in both years.
* ``geometry/hadoks_area_wijken_wijkgeo_file.json`` - CBS wijkgrenzen of a later year
  (2018 or later; the exact year is not stated) for 's-Gravenhage, Rijswijk, Wassenaar and
  Leidschendam-Voorburg, exported by ELAN/LUMC (EPSG:4326, reprojected here to EPSG:28992).

Rules, per wijk of the 2017 indeling:

1. 's-Gravenhage (GM0518), Rijswijk (GM0603) and Wassenaar (GM0629): the later file, which
   matches the 2017 areas (Rijswijk was redrawn in 2017: 9 wijken in 2016, 11 in 2017).
2. Leidschendam-Voorburg WK191609 (2017) = union of WK191609 and WK191613 of the later file.
3. Everything else: the 2016 polygon with the same code.
4. A wijk with no polygon under rules 1-3 is listed in the missing-geometry table with the
   reason; it is never silently dropped.

Each polygon's area is compared with KWB 2017 ``OPP_TOT``; deviations above 3 % are written
into ``geometry_note`` (e.g. Pijnacker-Nootdorp wijk 01 and 03, whose boundary moved in 2017).
"""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import geopandas as gpd
import pandas as pd

from .sources import rel_path

#: Boundary files, by their id in data/sources.yml.
GEOMETRY_2016_SOURCE = "cbs_wijkgrenzen_2016"
GEOMETRY_HADOKS_SOURCE = "elan_hadoks_wijkgrenzen"
GEOMETRY_2016 = rel_path(GEOMETRY_2016_SOURCE)
GEOMETRY_HADOKS = rel_path(GEOMETRY_HADOKS_SOURCE)
CRS = "EPSG:28992"
LAYER = "wijken"
SOURCE_2016 = "CBS wijkgrenzen 2016"
SOURCE_HADOKS = "CBS wijkgrenzen (>=2018, via ELAN/LUMC)"
HADOKS_YEAR = 2018  # lower bound: the file states no year; it post-dates the 2017 redrawing of Rijswijk
HADOKS_GEMEENTEN = ("GM0518", "GM0603", "GM0629")
#: 2017 wijk -> union of wijken in the later (Hadoks) file.
HADOKS_UNIONS = {"WK191609": ("WK191609", "WK191613")}
AREA_TOLERANCE = 0.03
GEOMETRY_COLUMNS = ["wijk_code", "wijk_name", "gemeente_code", "gemeente_name", "geometry_source",
                    "geometry_year", "geometry_note", "geometry"]
MISSING_COLUMNS = ["wijk_code", "wijk_name", "gemeente_name", "reason"]


class GeometryError(ValueError):
    """A boundary file is malformed."""


def _read(path: Path, code_col: str) -> gpd.GeoDataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found. Fetch the raw data first (jhw-fetch or scripts/fetch_data.py).")
    gdf = gpd.read_file(path)
    if code_col not in gdf.columns:
        raise GeometryError(f"{path}: column '{code_col}' is missing (found {list(gdf.columns)}).")
    if gdf.crs is None:
        raise GeometryError(f"{path}: no CRS; expected EPSG:28992 or EPSG:4326.")
    gdf = gdf.to_crs(CRS)
    gdf["code"] = gdf[code_col].astype(str).str.strip()
    # "structure" repair without collapsed parts keeps only polygons: the default ("linework") can
    # leave GeometryCollections with stray line pieces that spatial-weights builders reject.
    gdf["geometry"] = gdf.geometry.make_valid(method="structure", keep_collapsed=False)
    gdf["n_parts"] = 1
    dup = gdf["code"].duplicated(keep=False)
    if dup.any():
        # A code split over several features (e.g. WK191104 in the 2016 file): dissolve into one polygon.
        gdf = gdf[["code", "n_parts", "geometry"]].dissolve(by="code", aggfunc="sum").reset_index()
    return gdf[["code", "n_parts", "geometry"]]


def build_wijk_geometry(raw_dir: str | Path, table: pd.DataFrame, area_ha: pd.Series | None = None
                        ) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Assemble one polygon per wijk of ``table`` (columns wijk_code, wijk_name, gemeente_code, gemeente_name).

    ``area_ha``: the KWB 2017 area (``OPP_TOT``, ha) per wijk code, as read by
    :func:`wijktable.read_kwb_wijken`; polygons that differ more than 3 % from it get a note.
    Without it no area check is made. (The wijk table passes it; this module reads no KWB file,
    so that it does not depend on :mod:`wijktable`.)

    Returns ``(geometry, missing)``: a GeoDataFrame (EPSG:28992) with GEOMETRY_COLUMNS, one row
    per wijk that has a polygon, sorted by wijk_code; and a DataFrame (wijk_code, wijk_name,
    gemeente_name, reason) of wijken without a polygon.
    """
    raw_dir = Path(raw_dir)
    g16 = _read(raw_dir / GEOMETRY_2016, "WKC").set_index("code")
    hadoks_path = raw_dir / GEOMETRY_HADOKS
    had = _read(hadoks_path, "WK_CODE").set_index("code") if hadoks_path.is_file() else None
    area = area_ha if area_ha is not None else pd.Series(dtype=float)
    rows, missing = [], []
    for rec in table[["wijk_code", "wijk_name", "gemeente_code", "gemeente_name"]].itertuples(index=False):
        code = rec.wijk_code
        geom, source, year, note = None, None, None, ""
        if had is not None and code in HADOKS_UNIONS and all(c in had.index for c in HADOKS_UNIONS[code]):
            parts = HADOKS_UNIONS[code]
            geom = had.loc[list(parts)].geometry.union_all()
            source, year = SOURCE_HADOKS, HADOKS_YEAR
            note = f"2017 wijk = union of {' + '.join(parts)} of the later boundary file."
        elif had is not None and rec.gemeente_code in HADOKS_GEMEENTEN and code in had.index:
            geom = had.loc[code].geometry
            source, year = SOURCE_HADOKS, HADOKS_YEAR
            note = "Later boundaries; they match the 2017 indeling of this gemeente."
        elif code in g16.index:
            geom = g16.loc[code].geometry
            source, year = SOURCE_2016, 2016
            note = "2016 boundary under the same code."
            if g16.loc[code, "n_parts"] > 1:
                note += f" Dissolved from {int(g16.loc[code, 'n_parts'])} features with this code."
        if geom is None or geom.is_empty:
            reason = f"code {code} not in the 2016 boundary file"
            if rec.gemeente_code in HADOKS_GEMEENTEN or code in HADOKS_UNIONS:
                reason += " nor in the later (ELAN/LUMC) file"
            reason += " (new or renumbered wijk in the 2017 indeling)"
            missing.append({"wijk_code": code, "wijk_name": rec.wijk_name, "gemeente_name": rec.gemeente_name,
                            "reason": reason})
            continue
        ref = area.get(code) if len(area) else None
        if ref is not None and pd.notna(ref) and ref > 0:
            dev = geom.area / 10_000.0 / ref - 1.0
            if abs(dev) > AREA_TOLERANCE:
                note += f" Area differs {dev:+.0%} from KWB 2017 OPP_TOT (boundary or coast line differs from 2017; shape approximate)."
        rows.append({"wijk_code": code, "wijk_name": rec.wijk_name, "gemeente_code": rec.gemeente_code,
                     "gemeente_name": rec.gemeente_name, "geometry_source": source, "geometry_year": int(year),
                     "geometry_note": note.strip(), "geometry": geom})
    gdf = gpd.GeoDataFrame(rows, columns=GEOMETRY_COLUMNS, geometry="geometry", crs=CRS)
    gdf = gdf.sort_values("wijk_code").reset_index(drop=True)
    gdf["geometry_year"] = gdf["geometry_year"].astype("int64")
    miss = pd.DataFrame(missing, columns=MISSING_COLUMNS).sort_values("wijk_code").reset_index(drop=True)
    return gdf, miss


#: GeoPackages record the time they were written; a fixed date keeps the bytes reproducible.
GPKG_FIXED_DATE = "2017-01-01T00:00:00.000Z"


def write_geometry(gdf: gpd.GeoDataFrame, path: str | Path) -> Path:
    """Write a GeoPackage with layer 'wijken', deterministically (fixed timestamp) and atomically."""
    import os

    import pyogrio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    if tmp.exists():
        tmp.unlink()
    previous = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": GPKG_FIXED_DATE})
    try:
        gdf.to_file(tmp, layer=LAYER, driver="GPKG", engine="pyogrio")
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": previous})
    os.replace(tmp, path)
    return path


def read_geometry(path: str | Path, gemeente_codes=None) -> gpd.GeoDataFrame:
    """Read a wijk GeoPackage; with ``gemeente_codes`` only the wijken of those gemeenten (filtered
    while reading, so a region does not load the whole country)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist. Run the data_preparation step "
                                "(notebooks/01_data_preparation.ipynb) that writes it.")
    if gemeente_codes is None:
        return gpd.read_file(path, layer=LAYER)
    codes = sorted({str(c) for c in gemeente_codes})
    bad = [c for c in codes if not c.startswith("GM") or not c[2:].isdigit()]
    if bad:
        raise ValueError(f"gemeente_codes must look like GM0518; got {bad[:5]}.")
    where = "gemeente_code IN ({})".format(", ".join(f"'{c}'" for c in codes))
    out = gpd.read_file(path, layer=LAYER, where=where)
    return out.sort_values("wijk_code").reset_index(drop=True)


def gemeente_boundaries(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One (multi)polygon per gemeente: the union of its wijken, with gemeente_code and gemeente_name.

    Gemeenten whose wijken lack a polygon are outlined by the wijken that have one.
    """
    cols = [c for c in ("gemeente_code", "gemeente_name") if c in gdf.columns]
    if "gemeente_code" not in cols:
        raise KeyError("gemeente_boundaries needs a gemeente_code column in the wijk polygons.")
    g = gdf[cols + [gdf.geometry.name]]
    g = g[g.geometry.notna() & ~g.geometry.is_empty]
    out = g.dissolve(by=cols, as_index=False, sort=True)
    return out.sort_values("gemeente_code").reset_index(drop=True)


def vintage_label(gdf: gpd.GeoDataFrame, lang: str = "nl") -> str:
    """Short caption text of the boundary vintages used, e.g.

    "CBS wijkgrenzen 2016; 's-Gravenhage, Rijswijk, Wassenaar, Leidschendam-Voorburg (1 wijk): CBS wijkgrenzen (>=2018, via ELAN/LUMC)".
    The most used source comes first without gemeente names; other sources name their gemeenten.
    """
    if gdf is None or len(gdf) == 0:
        return "geen geometrie" if lang == "nl" else "no geometry"
    counts = gdf.groupby("geometry_source").size().sort_values(ascending=False, kind="stable")
    main = SOURCE_2016 if SOURCE_2016 in counts.index else counts.index[0]
    parts = [main.replace(">=", "≥")]
    has_names = "gemeente_name" in gdf.columns
    for source in sorted(s for s in counts.index if s != main):
        sub = gdf[gdf["geometry_source"] == source]
        per_gem = OrderedDict()
        key = "gemeente_name" if has_names else "wijk_code"
        for name, grp in sub.groupby(key, sort=True):
            per_gem[name] = len(grp)
        if has_names:
            total = gdf.groupby("gemeente_name").size()
            names = [n if per_gem[n] == total[n] else f"{n} ({per_gem[n]} wijk{'en' if per_gem[n] > 1 else ''})"
                     for n in per_gem]
        else:
            names = [f"{len(per_gem)} wijken"]
        if len(names) > 6:
            names = names[:6] + [f"+{len(names) - 6}"]
        parts.append(f"{', '.join(names)}: {source.replace('>=', '≥')}")
    return "; ".join(parts)
