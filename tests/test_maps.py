"""Map classes, the class and diverging maps and the interactive map on a small constructed geometry."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jeugdhulp_wijken import figures, maps


@pytest.fixture()
def grid():
    import geopandas as gpd
    from shapely.geometry import box

    vals = [5.0, 6.44, 6.45, 8.4, 10.45, 12.4, 14.44, 14.45, 20.0, np.nan]
    geoms = [box(i * 1000, 0, i * 1000 + 900, 900) for i in range(len(vals))]
    return gpd.GeoDataFrame({"wijk_code": [f"WK9001{i:02d}" for i in range(len(vals))],
                             "wijk_name": [f"Wijk {i}" for i in range(len(vals))],
                             "gemeente_name": "Synthetische gemeente 01", "observed": vals,
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


def test_interactive_map_deterministic(grid):
    a = maps.interactive_map(grid, lang="nl", title="Test")
    b = maps.interactive_map(grid, lang="nl", title="Test")
    assert a == b
    assert "Waargenomen" in a and "Geen gegevens" in a and "Wijk 3" in a
    assert "Observed" in maps.interactive_map(grid, lang="en")
