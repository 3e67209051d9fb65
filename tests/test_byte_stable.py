"""Writers that give the same bytes for the same data: GeoPackage, PNG, SVG, HTML, parquet.

The whole pipeline run twice is compared in tests/test_study_synthetic.py; these tests pin
down each writer's source of variation on its own.
"""
from __future__ import annotations

import sqlite3

import geopandas as gpd
import matplotlib.pyplot as plt
import pandas as pd
import pyarrow.parquet as pq
import pyogrio
from shapely.geometry import box

from jeugdhulp_wijken import catalog, figures, files, geometry, maps


def _gdf():
    return gpd.GeoDataFrame({"wijk_code": ["WK000101", "WK000102"], "value": [1.5, 2.5]},
                            geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs=geometry.CRS)


def test_geopackage_carries_the_fixed_date_and_restores_gdal_config(tmp_path):
    before = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    path = geometry.write_geometry(_gdf(), tmp_path / "g.gpkg")
    with sqlite3.connect(path) as con:
        stamps = con.execute("SELECT last_change FROM gpkg_contents").fetchall()
    assert stamps == [(geometry.GPKG_FIXED_DATE,)]
    assert pyogrio.get_gdal_config_option("OGR_CURRENT_DATE") == before
    assert [p.name for p in tmp_path.iterdir()] == ["g.gpkg"]  # no temporary file left behind
    again = geometry.write_geometry(_gdf(), tmp_path / "h.gpkg")
    assert files.sha256_file(path) == files.sha256_file(again)
    assert geometry.read_geometry(path)["wijk_code"].tolist() == ["WK000101", "WK000102"]


def _figure():
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1, 2], [2, 0, 1])
    ax.set_title("Waargenomen")
    return fig


def test_png_metadata_is_fixed_and_has_no_creation_time():
    png = figures.figure_bytes(_figure(), "png")
    assert b"Creation Time" not in png
    assert b"Software\x00matplotlib" in png
    assert b"version" not in png.split(b"IDAT")[0]  # no matplotlib version string in the header


def test_svg_has_no_date_and_ids_do_not_depend_on_the_global_hashsalt():
    with plt.rc_context({"svg.hashsalt": None}):
        a = figures.figure_bytes(_figure(), "svg")
    with plt.rc_context({"svg.hashsalt": "something else"}):
        b = figures.figure_bytes(_figure(), "svg")
    assert a == b
    assert b"<dc:date>" not in a
    assert b"Matplotlib v" not in a


def test_html_ids_of_folium_and_plotly_become_sequential_and_stay_so():
    page = ('<div id="map_9f86d081884c7d659a2feaa0c55ad015"></div><script>'
            'var map_9f86d081884c7d659a2feaa0c55ad015 = L.map("map_9f86d081884c7d659a2feaa0c55ad015");'
            'var geo_json_0cc175b9c0f1b6a831c399e269772661 = L.geoJson();</script>'
            '<div id="7c9e6679-7425-40de-944b-e07fc1f90ae7"></div>'
            '<p>sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855</p>')
    out = files.stable_html_ids(page)
    assert "map_00000000000000000000000000000001" in out
    assert "geo_json_00000000000000000000000000000002" in out
    assert "00000000-0000-4000-8000-000000000003" in out
    assert "9f86d081" not in out and "7c9e6679" not in out
    assert "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" in out  # digests untouched
    assert files.stable_html_ids(out) == out


def test_html_ids_beside_embedded_figures_are_numbered_as_a_scan_of_the_whole_page_numbers_them():
    payload = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    page = ('<div id="map_9f86d081884c7d659a2feaa0c55ad015"></div>'
            f'<img src="data:image/png;base64,{payload}"><div id="7c9e6679-7425-40de-944b-e07fc1f90ae7">'
            f'<img src="data:image/png;base64,{payload}"></div>'
            '<script>L.map("map_9f86d081884c7d659a2feaa0c55ad015")</script>')
    mapping: dict[str, str] = {}

    def whole(mo):  # the plain substitution over the whole text, numbering as stable_html_ids does
        key = mo.group(0)
        n = mapping.setdefault(key, str(len(mapping) + 1))
        return f"{int(n):032x}" if len(key) == 32 else f"00000000-0000-4000-8000-{int(n):012x}"

    expected = files._HTML_ID.sub(whole, page)
    assert files.stable_html_ids(page) == expected
    assert expected.count(payload) == 2 and "map_00000000000000000000000000000001" in expected
    assert files.without_data_uris(page).count("data:image/png;base64,\"") == 2 and payload not in \
        files.without_data_uris(page)


def test_an_edit_outside_data_uris_does_not_see_the_payloads_and_leaves_them_as_they_were():
    page = '<img src="data:image/png;base64,QUJDRA=="><img alt="x" src="data:image/svg+xml;base64,PHN2Zz4=">'
    seen = []

    def edit(text):
        seen.append(text)
        return text.replace("<img", "<img loading=\"lazy\"")

    out = files.outside_data_uris(page, edit)
    assert "QUJDRA" not in seen[0] and "PHN2Zz4" not in seen[0]
    assert out == page.replace("<img", "<img loading=\"lazy\"")
    assert files.outside_data_uris("a\x00b", str.upper) == "A\x00B", "a page with NUL characters is edited whole"


def test_leaflet_map_written_twice_gives_the_same_bytes(tmp_path):
    def page():
        g = _gdf().assign(observed=[10.0, 12.0], expected_scp=[11.0, 11.5], difference=[-1.0, 0.5])
        g = g.set_crs(geometry.CRS, allow_override=True)
        return maps.interactive_map(g, simplify_m=1.0)

    a = catalog.write(page(), "atlas_html", tmp_path / "a")
    b = catalog.write(page(), "atlas_html", tmp_path / "b")
    assert a.read_bytes() == b.read_bytes()
    assert "WK000101" in a.read_text(encoding="utf-8")


def test_parquet_metadata_holds_no_time_or_host(tmp_path):
    df = pd.DataFrame({"wijk_code": ["WK000101"], "observed": [0.1]})
    a = catalog.write(df, "scp_results_nl", tmp_path / "a")
    b = catalog.write(df, "scp_results_nl", tmp_path / "b")
    assert a.read_bytes() == b.read_bytes()
    meta = pq.ParquetFile(a).metadata
    assert meta.created_by.startswith("parquet-cpp-arrow")
    assert set(meta.metadata) == {b"ARROW:schema", b"pandas"}
