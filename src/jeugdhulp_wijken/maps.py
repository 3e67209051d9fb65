"""Wijk maps in the conventions of the HHS report, and an interactive (folium) map.

* :func:`class_map` - observed or expected use in the report's six classes
  (>= 14,5%; 12,5-14,4%; 10,5-12,4%; 8,5-10,4%; 6,5-8,4%; <= 6,4%) plus *Geen gegevens*.
  Values are rounded to one decimal before classification, as the class labels imply
  (round half up: 12,45 -> 12,5 -> class 12,5-14,4).
* :func:`diverging_map` - a difference (percentage points) on a diverging palette centred on 0.
* :func:`interactive_map` - HTML with observed, expected and difference layers and hover
  tooltips; element ids are renumbered so that the same input gives the same bytes.

Labels are Dutch by default (``lang="nl"``) or English (``lang="en"``). All functions take a
GeoDataFrame in EPSG:28992 (RD New) with the value column(s) already joined.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

#: Upper bounds (after rounding to one decimal) of the first five classes; the sixth is open.
CLASS_UPPER = (6.4, 8.4, 10.4, 12.4, 14.4)
CLASS_LABELS = {
    "nl": ["≤ 6,4%", "6,5 – 8,4%", "8,5 – 10,4%", "10,5 – 12,4%", "12,5 – 14,4%", "≥ 14,5%"],
    "en": ["≤ 6.4%", "6.5 – 8.4%", "8.5 – 10.4%", "10.5 – 12.4%", "12.5 – 14.4%", "≥ 14.5%"],
}
NO_DATA_LABEL = {"nl": "Geen gegevens", "en": "No data"}
#: Sequential palette, light (low use) to dark (high use).
CLASS_COLORS = ["#fff5eb", "#fdd0a2", "#fdae6b", "#f16913", "#d94801", "#7f2704"]
NO_DATA_COLOR = "#d9d9d9"
DIFF_LABEL = {"nl": "Waargenomen min verwacht (procentpunt)", "en": "Observed minus expected (percentage points)"}


def classify_values(values) -> np.ndarray:
    """Class index 0..5 (low to high) per value; -1 for missing."""
    v = np.floor(np.asarray(values, dtype=float) * 10 + 0.5 + 1e-9) / 10  # round half up to one decimal
    idx = np.searchsorted(np.array(CLASS_UPPER) + 1e-9, v, side="left")
    return np.where(np.isfinite(v), idx, -1)


def class_labels(lang: str = "nl") -> list[str]:
    if lang not in CLASS_LABELS:
        raise ValueError(f"Unknown lang {lang!r}; use 'nl' or 'en'.")
    return CLASS_LABELS[lang]


def _check(gdf, column):
    if column not in gdf.columns:
        raise KeyError(f"Column {column!r} is not in the GeoDataFrame (columns: {list(gdf.columns)}).")
    if gdf.geometry is None:
        raise ValueError("The GeoDataFrame has no geometry.")


def _new_ax(ax, gdf):
    import matplotlib.pyplot as plt

    if ax is not None:
        return ax.figure, ax
    minx, miny, maxx, maxy = gdf.total_bounds if len(gdf) else (0, 0, 1, 1)
    aspect = (maxy - miny) / max(maxx - minx, 1.0)
    width = 6.5
    height = min(9.0, max(3.5, width * aspect * 0.85))
    fig, ax = plt.subplots(figsize=(width, height))
    return fig, ax


def class_map(gdf, column: str, ax=None, lang: str = "nl", title: str | None = None, edgecolor: str = "white",
              linewidth: float = 0.2):
    """Choropleth of ``column`` in the report's six classes plus 'Geen gegevens'. Returns the Axes."""
    from matplotlib.patches import Patch

    _check(gdf, column)
    labels = class_labels(lang)
    fig, ax = _new_ax(ax, gdf)
    cls = classify_values(gdf[column])
    colors = np.array([CLASS_COLORS[c] if c >= 0 else NO_DATA_COLOR for c in cls], dtype=object)
    gdf.plot(ax=ax, color=list(colors), edgecolor=edgecolor, linewidth=linewidth)
    handles = [Patch(facecolor=CLASS_COLORS[i], edgecolor="#999999", linewidth=0.4,
                     label=f"{labels[i]} ({int((cls == i).sum())})") for i in range(5, -1, -1)]
    handles.append(Patch(facecolor=NO_DATA_COLOR, edgecolor="#999999", linewidth=0.4,
                         label=f"{NO_DATA_LABEL[lang]} ({int((cls < 0).sum())})"))
    ax.legend(handles=handles, loc="lower right", fontsize=7, frameon=False, title="%", title_fontsize=7)
    ax.set_axis_off()
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    return ax


def diverging_map(gdf, column: str, ax=None, lang: str = "nl", title: str | None = None, vmax: float | None = None,
                  cmap: str = "RdBu_r", edgecolor: str = "white", linewidth: float = 0.2):
    """Choropleth of a difference on a diverging palette centred on 0 (symmetric limits +-vmax).

    ``vmax`` defaults to the 95th percentile of |values|, rounded up to a half point, so a few
    extreme wijken do not wash out the rest; values beyond are drawn in the end colours.
    """
    import matplotlib as mpl
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    _check(gdf, column)
    if lang not in DIFF_LABEL:
        raise ValueError(f"Unknown lang {lang!r}; use 'nl' or 'en'.")
    fig, ax = _new_ax(ax, gdf)
    vals = gdf[column].astype(float)
    if vmax is None:
        a = np.abs(vals.dropna())
        vmax = max(0.5, float(np.ceil(np.percentile(a, 95) * 2) / 2)) if len(a) else 1.0
    norm = mpl.colors.TwoSlopeNorm(vmin=-vmax, vcenter=0.0, vmax=vmax)
    cm = plt.get_cmap(cmap)
    colors = [mpl.colors.to_hex(cm(norm(np.clip(v, -vmax, vmax)))) if np.isfinite(v) else NO_DATA_COLOR
              for v in vals]
    gdf.plot(ax=ax, color=colors, edgecolor=edgecolor, linewidth=linewidth)
    sm = mpl.cm.ScalarMappable(norm=norm, cmap=cm)
    cb = fig.colorbar(sm, ax=ax, shrink=0.6, extend="both")
    cb.set_label(DIFF_LABEL[lang], fontsize=7)
    cb.ax.tick_params(labelsize=7)
    if lang == "nl":
        cb.ax.yaxis.set_major_formatter(mpl.ticker.FuncFormatter(lambda x, _: f"{x:g}".replace(".", ",")))
    n_na = int(vals.isna().sum())
    if n_na:
        ax.legend(handles=[Patch(facecolor=NO_DATA_COLOR, edgecolor="#999999", linewidth=0.4,
                                 label=f"{NO_DATA_LABEL[lang]} ({n_na})")], loc="lower right", fontsize=7,
                  frameon=False)
    ax.set_axis_off()
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    return ax


HOVER = {"nl": {"wijk_name": "Wijk", "gemeente_name": "Gemeente", "observed": "Waargenomen (%)",
                "expected_scp": "Verwacht SCP (%)", "difference": "Verschil (pp)", "deviation_class": "Oordeel",
                "layers": ("Waargenomen", "Verwacht", "Verschil")},
         "en": {"wijk_name": "Wijk", "gemeente_name": "Municipality", "observed": "Observed (%)",
                "expected_scp": "Expected SCP (%)", "difference": "Difference (pp)", "deviation_class": "Assessment",
                "layers": ("Observed", "Expected", "Difference")}}


def interactive_map(gdf, observed: str = "observed", expected: str = "expected_scp",
                    difference: str = "difference", lang: str = "nl", title: str | None = None,
                    simplify_m: float = 10.0, vmax: float | None = None) -> str:
    """Folium map (HTML string) with three switchable layers and hover tooltips per wijk.

    Geometry is simplified by ``simplify_m`` metres and reprojected to WGS84. Random element ids
    of folium/branca are replaced by sequential ids so the HTML is reproducible.
    """
    import folium
    import matplotlib as mpl
    import matplotlib.pyplot as plt

    from .deviation import CLASS_LABELS as DEV_LABELS

    for c in (observed, expected, difference):
        _check(gdf, c)
    H = HOVER[lang]
    g = gdf.copy()
    if simplify_m:
        g["geometry"] = g.geometry.simplify(simplify_m, preserve_topology=True)
    g = g.to_crs(4326)
    fields = [c for c in ("wijk_name", "gemeente_name") if c in g.columns]

    def fmt(v):
        return "" if pd.isna(v) else (f"{v:.1f}".replace(".", ",") if lang == "nl" else f"{v:.1f}")

    props = g[fields].copy()
    for c in (observed, expected, difference):
        props[c] = g[c].map(fmt)
    if "deviation_class" in g.columns:
        props["deviation_class"] = g["deviation_class"].map(lambda c: DEV_LABELS[lang].get(c, c))
    cls_o, cls_e = classify_values(g[observed]), classify_values(g[expected])
    props["_fill_o"] = [CLASS_COLORS[c] if c >= 0 else NO_DATA_COLOR for c in cls_o]
    props["_fill_e"] = [CLASS_COLORS[c] if c >= 0 else NO_DATA_COLOR for c in cls_e]
    d = g[difference].astype(float)
    if vmax is None:
        a = np.abs(d.dropna())
        vmax = max(0.5, float(np.ceil(np.percentile(a, 95) * 2) / 2)) if len(a) else 1.0
    norm = mpl.colors.TwoSlopeNorm(vmin=-vmax, vcenter=0.0, vmax=vmax)
    cm = plt.get_cmap("RdBu_r")
    props["_fill_d"] = [mpl.colors.to_hex(cm(norm(np.clip(v, -vmax, vmax)))) if np.isfinite(v) else NO_DATA_COLOR
                        for v in d]
    feat = g[["geometry"]].join(props)
    minx, miny, maxx, maxy = feat.total_bounds
    m = folium.Map(location=[(miny + maxy) / 2, (minx + maxx) / 2], zoom_start=11, tiles="OpenStreetMap",
                   control_scale=True)
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    tip_fields = fields + [observed, expected, difference] + (["deviation_class"] if "deviation_class" in props else [])
    aliases = [H.get(f, f) for f in tip_fields]
    aliases = [H["observed"] if f == observed else H["expected_scp"] if f == expected else
               H["difference"] if f == difference else a for f, a in zip(tip_fields, aliases)]
    for key, name, show in (("_fill_o", H["layers"][0], True), ("_fill_e", H["layers"][1], False),
                            ("_fill_d", H["layers"][2], False)):
        folium.GeoJson(
            feat.__geo_interface__, name=name, show=show,
            style_function=lambda f, k=key: {"fillColor": f["properties"][k], "color": "#666666", "weight": 0.5,
                                             "fillOpacity": 0.75},
            tooltip=folium.GeoJsonTooltip(fields=tip_fields, aliases=aliases, localize=False, sticky=True),
        ).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    legend_rows = "".join(f'<div><span style="background:{CLASS_COLORS[i]};width:12px;height:12px;'
                          f'display:inline-block;margin-right:4px;border:1px solid #999"></span>{lab}</div>'
                          for i, lab in reversed(list(enumerate(class_labels(lang)))))
    legend_rows += (f'<div><span style="background:{NO_DATA_COLOR};width:12px;height:12px;display:inline-block;'
                    f'margin-right:4px;border:1px solid #999"></span>{NO_DATA_LABEL[lang]}</div>')
    head = f"<b>{title}</b><br>" if title else ""
    legend = (f'<div style="position:fixed;bottom:20px;left:20px;z-index:9999;background:white;padding:6px;'
              f'font-size:11px;border:1px solid #999">{head}{legend_rows}</div>')
    m.get_root().html.add_child(folium.Element(legend))
    html = m.get_root().render()
    return _stable_ids(html)


def _stable_ids(html: str) -> str:
    """Replace folium/branca's random 32-hex element ids by sequential ones (first appearance order)."""
    mapping: dict[str, str] = {}

    def sub(mo):
        key = mo.group(0)
        if key not in mapping:
            mapping[key] = f"{len(mapping) + 1:032x}"
        return mapping[key]

    return re.sub(r"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])", sub, html)
