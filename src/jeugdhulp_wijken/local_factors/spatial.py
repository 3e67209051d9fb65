"""Spatial autocorrelation of the residual: contiguity weights and Moran's I.

Moran's I (``esda.Moran``, row-standardised contiguity weights from ``libpysal``, permutations
with a fixed seed) of the residual before (``difference``) and after (residual of the joint factor
model), on the same wijken. Wijken without a polygon and islands (no neighbour among the analysed
wijken) are listed and left out of Moran's I only.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Sequence

import numpy as np
import pandas as pd


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


