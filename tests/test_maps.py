"""Map classes (mapclassify), the class and diverging maps with gemeente boundaries, and the offline
interactive map, on a small constructed geometry."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from jeugdhulp_wijken import deviation, figures, files, maps


@pytest.fixture()
def grid():
    import geopandas as gpd
    from shapely.geometry import box

    vals = [5.0, 6.44, 6.45, 8.4, 10.45, 12.4, 14.44, 14.45, 20.0, np.nan]
    geoms = [box(80000 + i * 1000, 450000, 80000 + i * 1000 + 900, 450900) for i in range(len(vals))]
    return gpd.GeoDataFrame({"wijk_code": [f"WK9001{i:02d}" for i in range(len(vals))],
                             "wijk_name": [f"Wijk {i}" for i in range(len(vals))],
                             "gemeente_code": ["GM9001"] * 6 + ["GM9002"] * 4,
                             "gemeente_name": ["Gemeente Een"] * 6 + ["Gemeente <Twee>"] * 4, "observed": vals,
                             "youths_0_17_est": [1234.4] * len(vals),
                             "expected_scp": [10.0] * len(vals),
                             "difference": [v - 10.0 for v in vals],
                             "deviation_class": "conform verwachting"}, geometry=geoms, crs="EPSG:28992")


def test_report_classes():
    # <=6,4 | 6,5-8,4 | 8,5-10,4 | 10,5-12,4 | 12,5-14,4 | >=14,5 ; values rounded to one decimal first
    v = [5.0, 6.44, 6.45, 8.4, 10.45, 12.4, 14.44, 14.45, 20.0, np.nan]
    assert list(maps.classify_values(v)) == [0, 0, 1, 1, 3, 3, 4, 5, 5, -1]
    assert maps.class_labels("nl")[-1] == "≥ 14,5%"
    assert maps.class_labels("en")[0] == "≤ 6.4%"
    with pytest.raises(ValueError):
        maps.class_labels("de")


def test_class_map_legend_dutch_and_english(grid):
    figures.set_style()
    ax = maps.class_map(grid, "observed")
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts[0].startswith("≥ 14,5%") and texts[-1] == "Geen gegevens (1)"
    assert "≤ 6,4% (2)" in texts
    ax = maps.class_map(grid, "observed", lang="en")
    assert ax.get_legend().get_texts()[-1].get_text() == "No data (1)"
    with pytest.raises(KeyError):
        maps.class_map(grid, "nope")


def test_diverging_map_is_centred(grid):
    figures.set_style()
    ax = maps.diverging_map(grid, "difference", vmax=4)
    cbar = ax.figure.axes[-1]
    lo, hi = cbar.get_ylim()
    assert lo == pytest.approx(-4) and hi == pytest.approx(4)
    colours = [tuple(np.round(c, 3)) for c in ax.collections[0].get_facecolor()]
    # the wijk with difference 0 ... none here; value 10.45 - 10 is near white, 20 - 10 is dark red
    assert colours[8][0] > colours[8][2]  # positive difference: red
    assert colours[0][2] > colours[0][0]  # negative difference: blue


def test_hhs_scheme_is_a_mapclassify_user_defined_scheme():
    s = maps.class_scheme(scheme="hhs")
    assert s.k == 6 and s.rounded and s.bins[:5] == maps.CLASS_UPPER
    assert s.labels("nl") == maps.class_labels("nl") and s.colors() == maps.CLASS_COLORS
    with pytest.raises(ValueError, match="map_scheme"):
        maps.class_scheme([1.0], "astrology")


@pytest.mark.parametrize("name", ["quantiles", "equal_interval", "natural_breaks", "maximum_breaks"])
def test_data_driven_schemes_are_deterministic(name):
    rng = np.random.default_rng(3)
    v = rng.normal(11, 3, 300)
    a, b = maps.class_scheme(v, name, k=5), maps.class_scheme(v, name, k=5)
    assert a == b and a.k == 5 and len(a.labels("nl")) == 5 and len(a.colors()) == 5
    assert a.bins[-1] == pytest.approx(v.max(), abs=1e-6)
    cls = maps.classify_values(np.r_[v, np.nan], a)
    assert cls[-1] == -1 and set(cls[:-1]) == set(range(5))
    assert (np.diff(cls[:-1][np.argsort(v)]) >= 0).all()  # classes increase with the value
    if name == "quantiles":
        assert np.bincount(cls[:-1]).min() >= 55


def _labels(ax) -> list:
    return [a for a in ax.artists if isinstance(a, figures.SparseLabels)]


def _names(ax) -> set[str]:
    return {t.get_text() for layer in _labels(ax) for t in layer.texts}


def test_static_maps_draw_gemeente_boundaries_and_names(grid):
    figures.set_style()
    ax = maps.class_map(grid, "observed")
    names = _names(ax)
    assert names == {"Gemeente Een", "Gemeente <Twee>"}
    ax.figure.canvas.draw()
    assert set(_labels(ax)[0].drawn) == names  # two gemeenten side by side: both names fit
    ax = maps.class_map(grid, "observed", labels=False)
    assert not _labels(ax) and not ax.texts
    ax = maps.diverging_map(grid, "difference", vmax=4)
    assert _names(ax) == names
    ax = maps.class_map(grid, "observed", scheme="quantiles", k=3)
    assert len(ax.get_legend().get_texts()) == 4  # three classes and 'Geen gegevens'


def test_a_map_names_the_largest_gemeente_and_leaves_out_a_name_that_would_overlap_it():
    import geopandas as gpd
    from shapely.geometry import box

    figures.set_style()
    # a small gemeente in the middle of a large one, and another small one far from both
    crowded = gpd.GeoDataFrame({"wijk_code": ["WK900101", "WK900201", "WK900301"],
                                "gemeente_code": ["GM9001", "GM9002", "GM9003"],
                                "gemeente_name": ["Groot", "Klein", "Ver"], "observed": [8.0, 12.0, 15.0]},
                               geometry=[box(80000, 450000, 90000, 451000), box(85050, 450400, 85150, 450600),
                                         box(96000, 450000, 98000, 451000)], crs="EPSG:28992")
    ax = maps.class_map(crowded, "observed")
    png = figures.figure_bytes(ax.figure, "png")  # the names are chosen while the figure is drawn
    layer = _labels(ax)[0]
    assert png and [t.get_text() for t in layer.texts] == ["Groot", "Ver", "Klein"]  # the largest first
    assert layer.drawn == ["Groot", "Ver"]
    renderer = ax.figure.canvas.get_renderer()
    boxes = {t.get_text(): t.get_window_extent(renderer) for t in layer.texts}
    assert boxes["Klein"].overlaps(boxes["Groot"]) and not boxes["Ver"].overlaps(boxes["Groot"])


def _data(html: str, name: str):
    return json.loads(re.search(rf"var {name} = (.*?);\n", html).group(1))


def test_interactive_map_is_self_contained_deterministic_and_complete(grid):
    a = maps.interactive_map(grid, lang="nl", title="Test")
    assert a == maps.interactive_map(grid, lang="nl", title="Test")
    # no external script or style: Leaflet is inlined, nothing is loaded from a network
    assert not re.search(r"<script[^>]+src=", a) and not re.search(r"<link[^>]+href=", a)
    assert "Leaflet 1.9.4" in a and "url(images/" not in a
    wijken = _data(a, "wijken")
    assert len(wijken["features"]) == len(grid)
    p = {f["properties"]["code"]: f["properties"] for f in wijken["features"]}["WK900103"]
    assert (p["name"], p["gemeente"], p["observed"], p["expected"], p["difference"], p["youths"]) == \
        ("Wijk 3", "Gemeente Een", "8,4%", "10,0%", "-1,6 pp", "1.234")
    assert p["class"] == deviation.CLASS_LABELS["nl"][deviation.AS_EXPECTED]
    assert set(p["fill"]) == {"observed", "expected", "difference", "class"}
    assert [x["name"] for x in _data(a, "layerSpecs")] == ["Waargenomen (%)", "Verwacht SCP (%)",
                                                           "Verschil (procentpunt)", "Oordeel"]
    assert len(_data(a, "gemeenten")["features"]) == 2
    coords = re.findall(r"-?\d+\.\d+", json.dumps(wijken["features"][0]["geometry"]))
    assert coords and all(len(c.split(".")[1]) <= 5 for c in coords)
    # the basemap is an optional overlay (off by default); without it there is no tile URL at all
    assert "tile.openstreetmap.org" in a and "tile.openstreetmap.org" not in maps.interactive_map(grid, basemap=False)
    assert "&lt;Twee&gt;" not in json.dumps(_data(a, "gemeenten"))  # names travel as data, escaped by the DOM
    en = maps.interactive_map(grid, lang="en")
    assert "Observed (%)" in en and '"8.4%"' in en and 'lang="en"' in en


def test_vendored_leaflet_matches_its_checksums():
    sums = (maps.VENDOR / "SHA256SUMS").read_text().split("\n")
    entries = [line.split() for line in sums if line.strip()]
    assert {"leaflet.js", "leaflet.css", "LICENSE"} <= {name for _, name in entries}
    for digest, name in entries:
        assert files.sha256_file(maps.VENDOR / name) == digest, name
    assert "BSD" in (maps.VENDOR / "LICENSE").read_text() or "Redistribution" in (maps.VENDOR / "LICENSE").read_text()


def test_plot_geo_skips_the_idle_render_and_saves_the_same_figure(grid):
    import matplotlib.pyplot as plt

    def saved(plot) -> tuple[bytes, int]:
        figures.set_style()
        fig, ax = plt.subplots(figsize=(3, 2))
        renders = []
        original = fig.canvas.draw
        fig.canvas.draw = lambda *a, **k: (renders.append(1), original(*a, **k))[1]
        plot(ax)
        drawn = len(renders)
        out = figures.figure_bytes(fig, "png")
        plt.close(fig)
        return out, drawn

    plain, plain_renders = saved(lambda ax: grid.plot(ax=ax, column="observed", edgecolor="white"))
    quiet, quiet_renders = saved(lambda ax: maps.plot_geo(grid, ax, column="observed", edgecolor="white"))
    assert plain_renders >= 1, "geopandas renders the figure at the end of plot()"
    assert quiet_renders == 0
    assert quiet == plain
    fig, ax = plt.subplots()
    maps.plot_geo(grid, ax)
    assert "draw_idle" not in vars(fig.canvas), "the canvas gets its own draw_idle back"
    plt.close(fig)
