"""Geometry: best polygon per wijk with source/year, missing list, GeoPackage, vintage label."""
from __future__ import annotations

import json

import pytest

from jeugdhulp_wijken import geometry

from _data_helpers import real_build, synthetic_build, synthetic_raw_dir


def test_synthetic_geometry_sources_and_missing(tmp_path):
    table, gdf, missing = synthetic_build()
    truth = json.loads((synthetic_raw_dir() / "SYNTHETIC_TRUTH.json").read_text())
    assert list(gdf.columns) == geometry.GEOMETRY_COLUMNS
    assert gdf.crs.to_epsg() == 28992
    assert missing["wijk_code"].tolist() == truth["wijken_without_polygon"]
    assert (missing["reason"].str.contains("not in the 2016 boundary file")).all()
    assert len(gdf) + len(missing) == len(table)
    assert set(gdf["geometry_source"]) == {geometry.SOURCE_2016}
    assert (gdf["geometry_year"] == 2016).all()
    # squares of 1 km2 match KWB OPP_TOT (100 ha): no area warning
    assert not gdf["geometry_note"].str.contains("Area differs").any()
    path = geometry.write_geometry(gdf, tmp_path / "g.gpkg")
    again = geometry.write_geometry(gdf, tmp_path / "again.gpkg")
    assert again.read_bytes() == path.read_bytes()  # same polygons, same bytes
    back = geometry.read_geometry(path)
    assert back["wijk_code"].tolist() == gdf["wijk_code"].tolist()
    assert back["geometry_year"].dtype.kind == "i"
    assert geometry.vintage_label(back) == "CBS wijkgrenzen 2016"
    # a region reads only its gemeenten, filtered while reading
    two = sorted(gdf["gemeente_code"].unique())[:2]
    part = geometry.read_geometry(path, gemeente_codes=two)
    assert set(part["gemeente_code"]) == set(two)
    assert part["wijk_code"].tolist() == gdf.loc[gdf["gemeente_code"].isin(two), "wijk_code"].tolist()
    with pytest.raises(ValueError, match="GM0518"):
        geometry.read_geometry(path, gemeente_codes=["x'; DROP"])


def test_gemeente_boundaries_dissolve_the_wijken():
    _, gdf, _ = synthetic_build()
    out = geometry.gemeente_boundaries(gdf)
    assert out["gemeente_code"].tolist() == sorted(gdf["gemeente_code"].unique())
    assert out.crs == gdf.crs
    areas = gdf.assign(a=gdf.geometry.area).groupby("gemeente_code")["a"].sum()
    assert out.set_index("gemeente_code").geometry.area.to_numpy() == pytest.approx(areas.to_numpy(), rel=1e-9)


def test_geometry_does_not_import_the_wijk_table():
    import ast

    tree = ast.parse(open(geometry.__file__, encoding="utf-8").read())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "wijktable" not in imported and "jeugdhulp_wijken.wijktable" not in imported


def test_vintage_label_names_gemeenten_of_other_sources():
    table, gdf, _ = synthetic_build()
    g = gdf.copy()
    first = g["gemeente_code"] == g["gemeente_code"].iloc[0]
    g.loc[first, "geometry_source"] = geometry.SOURCE_HADOKS
    g.loc[first, "geometry_year"] = geometry.HADOKS_YEAR
    label = geometry.vintage_label(g)
    assert label.startswith("CBS wijkgrenzen 2016; ")
    assert g.loc[first, "gemeente_name"].iloc[0] in label and "≥2018" in label
    assert geometry.vintage_label(g.iloc[0:0]) == "geen geometrie"


@pytest.mark.realdata
def test_real_geometry_rules_for_haaglanden():
    table, gdf, missing = real_build()
    by = gdf.set_index("wijk_code")
    # Rijswijk, Den Haag, Wassenaar from the later file; Rijswijk has all 11 wijken of 2017
    rijswijk = by[by["gemeente_code"] == "GM0603"]
    assert len(rijswijk) == 11 and (rijswijk["geometry_source"] == geometry.SOURCE_HADOKS).all()
    assert (by.loc[by["gemeente_code"] == "GM0518", "geometry_source"] == geometry.SOURCE_HADOKS).all()
    # WK191609 (2017) = 09 + 13 of the later file
    lv = by.loc["WK191609"]
    assert lv["geometry_source"] == geometry.SOURCE_HADOKS and "WK191613" in lv["geometry_note"]
    assert by.loc["WK191601", "geometry_source"] == geometry.SOURCE_2016
    assert (by.loc[by["gemeente_code"] == "GM0503", "geometry_year"] == 2016).all()
    # Pijnacker-Nootdorp 01/03: 2016 boundary, flagged as approximate
    assert "Area differs" in by.loc["WK192603", "geometry_note"]
    # all 102 study-area wijken have a polygon; wijken without one are listed and flagged
    study = table[table["gemeente_code"].isin(["GM0518", "GM0503", "GM1916", "GM1842", "GM1926", "GM0603",
                                               "GM0629", "GM1783", "GM0637"])]
    assert not study["flag_missing_geometry"].any()
    assert set(missing["wijk_code"]) == set(table.loc[table["flag_missing_geometry"], "wijk_code"])
    assert len(gdf) + len(missing) == 2918 and len(missing) > 0
    assert missing["reason"].str.len().gt(0).all()
    label = geometry.vintage_label(gdf[gdf["wijk_code"].isin(study["wijk_code"])])
    assert "CBS wijkgrenzen 2016" in label and "Rijswijk" in label and "Leidschendam-Voorburg (1 wijk)" in label
    # repaired boundaries are polygons only (no GeometryCollections with stray lines)
    assert set(gdf.geom_type) <= {"Polygon", "MultiPolygon"}
    assert gdf.is_valid.all() and not gdf.is_empty.any()
