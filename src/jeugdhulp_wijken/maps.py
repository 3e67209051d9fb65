"""Wijk maps in the conventions of the HHS report, and a self-contained interactive map.

Class schemes (:func:`class_scheme`) use mapclassify:

* ``"hhs"`` (default) - the report's six classes (<= 6,4%; 6,5-8,4%; 8,5-10,4%; 10,5-12,4%;
  12,5-14,4%; >= 14,5%) as a mapclassify ``UserDefined`` scheme. Values are rounded half up to
  one decimal first, as the class labels imply (12,45 -> 12,5 -> class 12,5-14,4).
* for other regions, data-driven schemes: ``"quantiles"``, ``"equal_interval"``,
  ``"natural_breaks"`` (Fisher-Jenks optimal breaks: deterministic, unlike k-means based
  NaturalBreaks), ``"fisher_jenks"``, ``"maximum_breaks"``, each with ``k`` classes. Observed
  and expected maps share one scheme, fitted on both columns, so their colours compare.

Static maps (:func:`class_map`, :func:`diverging_map`) draw gemeente boundaries (the wijken
dissolved by gemeente) over the wijken, and the gemeente names when there are at most
:data:`MAX_GEMEENTE_LABELS` gemeenten.

:func:`interactive_map` renders ``templates/interactive_map.html.j2`` (Jinja2) into one HTML
file that works offline: Leaflet (vendored from the npm package, ``vendor/leaflet``) and the
data are inlined, with layers observed, expected, difference and class, a tooltip per wijk and
the gemeente boundaries. An OpenStreetMap basemap is an optional overlay, off by default: the
page makes no network request unless the reader switches it on. Coordinates are WGS84,
simplified and rounded, so the output is small and byte-for-byte reproducible.

Labels are Dutch by default (``lang="nl"``) or English (``lang="en"``). All functions take a
GeoDataFrame in EPSG:28992 (RD New) with the value column(s) already joined.
"""
from __future__ import annotations

import base64
import math
import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import deviation, geometry, paths

#: Upper bounds (after rounding to one decimal) of the first five HHS classes; the sixth is open.
CLASS_UPPER = (6.4, 8.4, 10.4, 12.4, 14.4)
CLASS_LABELS = {
    "nl": ["≤ 6,4%", "6,5 – 8,4%", "8,5 – 10,4%", "10,5 – 12,4%", "12,5 – 14,4%", "≥ 14,5%"],
    "en": ["≤ 6.4%", "6.5 – 8.4%", "8.5 – 10.4%", "10.5 – 12.4%", "12.5 – 14.4%", "≥ 14.5%"],
}
NO_DATA_LABEL = {"nl": "Geen gegevens", "en": "No data"}
#: Sequential palette of the HHS classes, light (low use) to dark (high use).
CLASS_COLORS = ["#fff5eb", "#fdd0a2", "#fdae6b", "#f16913", "#d94801", "#7f2704"]
NO_DATA_COLOR = "#d9d9d9"
DIFF_LABEL = {"nl": "Waargenomen min verwacht (procentpunt)", "en": "Observed minus expected (percentage points)"}
#: mapclassify classifier per scheme name (``"hhs"`` is UserDefined with the report's bins).
SCHEMES = {"hhs": "UserDefined", "quantiles": "Quantiles", "equal_interval": "EqualInterval",
           "natural_breaks": "FisherJenks", "fisher_jenks": "FisherJenks", "maximum_breaks": "MaximumBreaks"}
MAX_GEMEENTE_LABELS = 40
OUTLINE_COLOR = "#333333"
LEAFLET_VERSION = "1.9.4"
VENDOR = paths.PACKAGE / "vendor" / "leaflet"
TEMPLATES = paths.PACKAGE / "templates"


def _check_lang(lang: str) -> str:
    if lang not in CLASS_LABELS:
        raise ValueError(f"Unknown lang {lang!r}; use 'nl' or 'en'.")
    return lang


def _num(x: float, lang: str, digits: int = 1) -> str:
    text = f"{x:.{digits}f}"
    return text.replace(".", ",") if lang == "nl" else text


# --------------------------------------------------------------------------------------------
# class schemes (mapclassify)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClassScheme:
    """Upper class bounds (the last may be +inf) and how values are prepared (HHS: rounded)."""
    name: str
    bins: tuple[float, ...]
    rounded: bool = False

    @property
    def k(self) -> int:
        return len(self.bins)

    def labels(self, lang: str = "nl") -> list[str]:
        _check_lang(lang)
        if self.name == "hhs":
            return list(CLASS_LABELS[lang])
        out, lower = [], None
        for b in self.bins:
            upper = "∞" if math.isinf(b) else _num(b, lang)
            out.append(f"≤ {upper}%" if lower is None else f"> {_num(lower, lang)} – {upper}%")
            lower = b
        return out

    def colors(self) -> list[str]:
        if self.name == "hhs":
            return list(CLASS_COLORS)
        import matplotlib as mpl

        cmap = mpl.colormaps["Oranges"]
        return [mpl.colors.to_hex(cmap(v)) for v in np.linspace(0.08, 0.95, self.k)]


def _prepare(values, rounded: bool) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if rounded:
        v = np.floor(v * 10 + 0.5 + 1e-9) / 10  # round half up to one decimal
    return v


def class_scheme(values=None, scheme: str | ClassScheme = "hhs", k: int = 6) -> ClassScheme:
    """The class scheme ``scheme`` (a name of :data:`SCHEMES`) fitted on ``values`` with ``k`` classes.

    ``"hhs"`` needs no values. Data-driven schemes are computed by mapclassify on the finite values.
    """
    if isinstance(scheme, ClassScheme):
        return scheme
    if scheme not in SCHEMES:
        raise ValueError(f"Unknown map scheme {scheme!r}; use one of {sorted(SCHEMES)} (parameter map_scheme).")
    if scheme == "hhs":
        return ClassScheme("hhs", CLASS_UPPER + (math.inf,), rounded=True)
    import mapclassify

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        raise ValueError(f"Map scheme {scheme!r} needs values; the column has none.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FisherJenks warns that numba is not installed (pure Python is used)
        clf = getattr(mapclassify, SCHEMES[scheme])(v, k=min(k, len(np.unique(v))))
    bins = tuple(float(round(b, 6)) for b in np.asarray(clf.bins, dtype=float))
    return ClassScheme(scheme, bins)


def classify_values(values, scheme: str | ClassScheme = "hhs") -> np.ndarray:
    """Class index 0..k-1 (low to high) per value under ``scheme``; -1 for missing (mapclassify UserDefined)."""
    import mapclassify

    s = class_scheme(values, scheme)
    v = _prepare(values, s.rounded)
    out = np.full(len(v), -1, dtype=int)
    ok = np.isfinite(v)
    if ok.any():
        bins = [b + 1e-9 if math.isfinite(b) else b for b in s.bins[:-1]] + [math.inf]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out[ok] = mapclassify.UserDefined(v[ok], bins=bins).yb
    return out


SCHEME_NAMES = {
    "nl": {"hhs": "de klassen van het HHS-rapport", "quantiles": "kwantielen", "equal_interval": "gelijke intervallen",
           "natural_breaks": "natuurlijke grenzen (Fisher-Jenks)", "fisher_jenks": "Fisher-Jenks",
           "maximum_breaks": "grootste sprongen"},
    "en": {"hhs": "the classes of the HHS report", "quantiles": "quantiles", "equal_interval": "equal intervals",
           "natural_breaks": "natural breaks (Fisher-Jenks)", "fisher_jenks": "Fisher-Jenks",
           "maximum_breaks": "maximum breaks"},
}


def scheme_label(scheme: str | ClassScheme, lang: str = "nl") -> str:
    """Caption text naming the class scheme, e.g. "kwantielen, 5 klassen"."""
    s = class_scheme(scheme=scheme) if isinstance(scheme, str) and scheme == "hhs" else scheme
    name = s.name if isinstance(s, ClassScheme) else s
    if name not in SCHEMES:
        raise ValueError(f"Unknown map scheme {name!r}; use one of {sorted(SCHEMES)} (parameter map_scheme).")
    text = SCHEME_NAMES[_check_lang(lang)][name]
    if name != "hhs" and isinstance(s, ClassScheme):
        text += f", {s.k} {'klassen' if lang == 'nl' else 'classes'}"
    return text


def class_labels(lang: str = "nl") -> list[str]:
    """The HHS class labels."""
    return list(CLASS_LABELS[_check_lang(lang)])


# --------------------------------------------------------------------------------------------
# static maps
# --------------------------------------------------------------------------------------------
def _check(gdf, column):
    if column not in gdf.columns:
        raise KeyError(f"Column {column!r} is not in the GeoDataFrame (columns: {list(gdf.columns)}).")
    if gdf.geometry is None:
        raise ValueError("The GeoDataFrame has no geometry.")


def display_tolerance(gdf, pixels: int = 3000) -> float:
    """Simplification tolerance (metres) that is invisible at map size: the larger extent / ``pixels``."""
    if not len(gdf):
        return 0.0
    minx, miny, maxx, maxy = gdf.total_bounds
    return max(maxx - minx, maxy - miny) / pixels


def _simplified(gdf, tolerance: float):
    if tolerance <= 0:
        return gdf
    g = gdf.copy()
    g["geometry"] = g.geometry.simplify(tolerance, preserve_topology=True)
    return g


def plot_geo(data, ax, **kwargs):
    """``data.plot(ax=ax, **kwargs)`` (a GeoDataFrame or GeoSeries) without the ``plt.draw()`` geopandas
    ends with: on a non-interactive canvas that is a full render of the figure, which saving it renders
    again anyway (about a third of a map's time). The saved figure is the same."""
    canvas = ax.figure.canvas
    canvas.draw_idle = _no_draw
    try:
        return data.plot(ax=ax, **kwargs)
    finally:
        del canvas.draw_idle


def _no_draw(*args, **kwargs) -> None:
    return None


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


def draw_gemeenten(ax, gdf, labels: bool | None = None, outlines=None):
    """Gemeente boundaries over the wijken and, for at most :data:`MAX_GEMEENTE_LABELS` gemeenten, their names
    (largest gemeente first, those that fit: :class:`.figures.SparseLabels`)."""
    import matplotlib.patheffects as pe
    from matplotlib.text import Text

    from .figures import SparseLabels

    if "gemeente_code" not in gdf.columns:
        return ax
    outlines = geometry.gemeente_boundaries(gdf) if outlines is None else outlines
    outlines = _simplified(outlines, display_tolerance(outlines))
    plot_geo(outlines.boundary, ax, color=OUTLINE_COLOR, linewidth=0.9)
    if labels is None:
        labels = len(outlines) <= MAX_GEMEENTE_LABELS
    if labels and "gemeente_name" in outlines.columns:
        halo = [pe.withStroke(linewidth=2.2, foreground="white")]
        largest_first = outlines.assign(area=outlines.geometry.area).sort_values(
            ["area", "gemeente_name"], ascending=[False, True], kind="stable")
        texts = [Text(point.x, point.y, name, ha="center", va="center", fontsize=6.5, color="#111111",
                      path_effects=halo)
                 for name, point in zip(largest_first["gemeente_name"], largest_first.geometry.representative_point())]
        ax.add_artist(SparseLabels(texts, ax))  # names that fit; the interactive map names all on hover
    return ax



def class_map(gdf, column: str, ax=None, lang: str = "nl", title: str | None = None,
              scheme: str | ClassScheme = "hhs", k: int = 6, gemeenten: bool = True, labels: bool | None = None,
              outlines=None, edgecolor: str = "white", linewidth: float = 0.2):
    """Choropleth of ``column`` in the classes of ``scheme`` plus 'Geen gegevens', with gemeente
    boundaries and names (``outlines``: :func:`geometry.gemeente_boundaries` of ``gdf``, computed
    when not given; pass it to draw several maps of one region). Returns the Axes."""
    from matplotlib.patches import Patch

    _check(gdf, column)
    _check_lang(lang)
    s = class_scheme(gdf[column], scheme, k)
    labs, cols = s.labels(lang), s.colors()
    fig, ax = _new_ax(ax, gdf)
    cls = classify_values(gdf[column], s)
    colors = [cols[c] if c >= 0 else NO_DATA_COLOR for c in cls]
    plot_geo(_simplified(gdf, display_tolerance(gdf)), ax, color=colors, edgecolor=edgecolor, linewidth=linewidth)
    if gemeenten:
        draw_gemeenten(ax, gdf, labels, outlines)
    handles = [Patch(facecolor=cols[i], edgecolor="#999999", linewidth=0.4,
                     label=f"{labs[i]} ({int((cls == i).sum())})") for i in range(s.k - 1, -1, -1)]
    handles.append(Patch(facecolor=NO_DATA_COLOR, edgecolor="#999999", linewidth=0.4,
                         label=f"{NO_DATA_LABEL[lang]} ({int((cls < 0).sum())})"))
    ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, frameon=False, title="%",
              title_fontsize=7)
    ax.set_axis_off()
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    return ax


def default_vmax(values) -> float:
    """95th percentile of |values| rounded up to a half point (at least 0.5)."""
    a = np.abs(pd.Series(values, dtype=float).dropna())
    return max(0.5, float(np.ceil(np.percentile(a, 95) * 2) / 2)) if len(a) else 1.0


def diverging_colors(values, vmax: float, cmap: str = "RdBu_r") -> list[str]:
    import matplotlib as mpl

    norm = mpl.colors.TwoSlopeNorm(vmin=-vmax, vcenter=0.0, vmax=vmax)
    cm = mpl.colormaps[cmap]
    return [mpl.colors.to_hex(cm(norm(np.clip(v, -vmax, vmax)))) if np.isfinite(v) else NO_DATA_COLOR
            for v in np.asarray(values, dtype=float)]


def diverging_map(gdf, column: str, ax=None, lang: str = "nl", title: str | None = None, vmax: float | None = None,
                  cmap: str = "RdBu_r", gemeenten: bool = True, labels: bool | None = None, outlines=None,
                  edgecolor: str = "white", linewidth: float = 0.2):
    """Choropleth of a difference on a diverging palette centred on 0 (symmetric limits +-vmax).

    ``vmax`` defaults to :func:`default_vmax`, so a few extreme wijken do not wash out the rest;
    values beyond are drawn in the end colours.
    """
    import matplotlib as mpl
    from matplotlib.patches import Patch

    _check(gdf, column)
    _check_lang(lang)
    fig, ax = _new_ax(ax, gdf)
    vals = gdf[column].astype(float)
    vmax = default_vmax(vals) if vmax is None else vmax
    plot_geo(_simplified(gdf, display_tolerance(gdf)), ax, color=diverging_colors(vals, vmax, cmap),
             edgecolor=edgecolor, linewidth=linewidth)
    if gemeenten:
        draw_gemeenten(ax, gdf, labels, outlines)
    norm = mpl.colors.TwoSlopeNorm(vmin=-vmax, vcenter=0.0, vmax=vmax)
    sm = mpl.cm.ScalarMappable(norm=norm, cmap=mpl.colormaps[cmap])
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


# --------------------------------------------------------------------------------------------
# interactive map (Leaflet, Jinja2)
# --------------------------------------------------------------------------------------------
TEXT = {
    "nl": {"layers": {"observed": "Waargenomen (%)", "expected": "Verwacht SCP (%)",
                      "difference": "Verschil (procentpunt)", "class": "Oordeel"},
           "rows": {"gemeente": "Gemeente", "observed": "Waargenomen", "expected": "Verwacht (SCP)",
                    "difference": "Verschil", "class": "Oordeel", "youths": "Jeugdigen (geschat)"},
           "gemeenten": "Gemeentegrenzen", "basemap": "Achtergrondkaart (OpenStreetMap, alleen online)",
           "no_data": NO_DATA_LABEL["nl"], "pp": "pp"},
    "en": {"layers": {"observed": "Observed (%)", "expected": "Expected SCP (%)",
                      "difference": "Difference (percentage points)", "class": "Assessment"},
           "rows": {"gemeente": "Municipality", "observed": "Observed", "expected": "Expected (SCP)",
                    "difference": "Difference", "class": "Assessment", "youths": "Youths (estimated)"},
           "gemeenten": "Municipal boundaries", "basemap": "Basemap (OpenStreetMap, online only)",
           "no_data": NO_DATA_LABEL["en"], "pp": "pp"},
}
TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
TILE_ATTRIBUTION = "&copy; OpenStreetMap contributors"


def _round_coords(obj, digits: int):
    if isinstance(obj, (list, tuple)):
        if obj and isinstance(obj[0], (int, float)):
            return [round(float(c), digits) for c in obj]
        return [_round_coords(o, digits) for o in obj]
    return obj


def _features(g, props: list[dict], digits: int) -> dict:
    from shapely.geometry import mapping

    feats = []
    for geom, p in zip(g.geometry, props):
        if geom is None or geom.is_empty:
            continue
        m = mapping(geom)
        feats.append({"type": "Feature", "properties": p,
                      "geometry": {"type": m["type"], "coordinates": _round_coords(m["coordinates"], digits)}})
    return {"type": "FeatureCollection", "features": feats}


def _wgs84(gdf, simplify_m: float):
    g = gdf.copy()
    if simplify_m:
        g["geometry"] = g.geometry.simplify(simplify_m, preserve_topology=True)
    return g.to_crs(4326)


def leaflet_assets() -> tuple[str, str]:
    """(css, js) of the vendored Leaflet; the CSS image references become data URIs."""
    css = (VENDOR / "leaflet.css").read_text(encoding="utf-8")

    def inline(mo):
        data = base64.b64encode((VENDOR / "images" / mo.group(1)).read_bytes()).decode("ascii")
        return f"url(data:image/png;base64,{data})"

    css = re.sub(r"url\(images/([a-z0-9-]+\.png)\)", inline, css)
    return css, (VENDOR / "leaflet.js").read_text(encoding="utf-8")


def _environment():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "separators": (",", ":"), "ensure_ascii": False}
    return env


def interactive_map(gdf, observed: str = "observed", expected: str = "expected_scp", difference: str = "difference",
                    lang: str = "nl", title: str | None = None, scheme: str | ClassScheme = "hhs", k: int = 6,
                    simplify_m: float | None = None, digits: int = 5, vmax: float | None = None,
                    basemap: bool = True, outlines=None) -> str:
    """One self-contained HTML page (string) with the layers observed, expected, difference and class.

    Each wijk has a tooltip with its name, gemeente, observed, expected, difference, class and
    estimated number of youths. Geometry is simplified by ``simplify_m`` metres (default: 10 m, or
    more for large regions, see :func:`display_tolerance`), reprojected to WGS84 and rounded to
    ``digits`` decimals. ``basemap`` adds an OpenStreetMap overlay that is
    off by default (the page works and makes no request without it). ``outlines``: as in :func:`class_map`.
    """
    _check_lang(lang)
    for c in (observed, expected, difference):
        _check(gdf, c)
    T = TEXT[lang]
    src = gdf.sort_values("wijk_code").reset_index(drop=True)
    s = class_scheme(pd.concat([src[observed], src[expected]]), scheme, k)
    labs, cols = s.labels(lang), s.colors()
    cls_o, cls_e = classify_values(src[observed], s), classify_values(src[expected], s)
    d = src[difference].astype(float)
    vmax = default_vmax(d) if vmax is None else vmax
    fill_d = diverging_colors(d, vmax)
    dev = src["deviation_class"] if "deviation_class" in src.columns else pd.Series(deviation.NO_DATA, index=src.index)

    def pct(v):
        return T["no_data"] if pd.isna(v) else f"{_num(v, lang)}%"

    props = []
    for i, row in src.iterrows():
        youths = row.get("youths_0_17_est")
        props.append({
            "code": row["wijk_code"], "name": row.get("wijk_name", row["wijk_code"]),
            "gemeente": row.get("gemeente_name", ""),
            "observed": pct(row[observed]), "expected": pct(row[expected]),
            "difference": T["no_data"] if pd.isna(row[difference]) else
            f"{'+' if row[difference] > 0 else ''}{_num(row[difference], lang)} {T['pp']}",
            "class": deviation.CLASS_LABELS[lang].get(dev[i], dev[i]),
            "youths": T["no_data"] if youths is None or pd.isna(youths) else
            f"{int(round(float(youths))):,}".replace(",", "." if lang == "nl" else ","),
            "fill": {"observed": cols[cls_o[i]] if cls_o[i] >= 0 else NO_DATA_COLOR,
                     "expected": cols[cls_e[i]] if cls_e[i] >= 0 else NO_DATA_COLOR,
                     "difference": fill_d[i], "class": deviation.CLASS_COLORS.get(dev[i], NO_DATA_COLOR)},
        })
    if simplify_m is None:
        simplify_m = max(10.0, display_tolerance(src, 4000))
    wgs = _wgs84(src, simplify_m)
    wijken = _features(wgs, props, digits)
    gem = outlines
    if gem is None and "gemeente_code" in src.columns:
        gem = geometry.gemeente_boundaries(src)
    gemeenten = {"type": "FeatureCollection", "features": []}
    label_points = []
    if gem is not None and len(gem):
        gw = _wgs84(gem, simplify_m)
        gemeenten = _features(gw, [{"name": n} for n in gw.get("gemeente_name", gw["gemeente_code"])], digits)
        if len(gem) <= MAX_GEMEENTE_LABELS and "gemeente_name" in gem.columns:
            pts = gem.geometry.representative_point().to_crs(4326)
            label_points = [{"name": n, "lat": round(p.y, digits), "lon": round(p.x, digits)}
                            for n, p in zip(gem["gemeente_name"], pts)]
    minx, miny, maxx, maxy = wgs.total_bounds
    class_legend = [{"color": deviation.CLASS_COLORS[c], "label": deviation.CLASS_LABELS[lang][c]}
                    for c in deviation.CLASSES]
    scale = [{"color": cols[i], "label": labs[i]} for i in range(s.k - 1, -1, -1)]
    scale.append({"color": NO_DATA_COLOR, "label": T["no_data"]})
    ticks = [vmax, vmax / 2, 0.0, -vmax / 2, -vmax]
    diff_legend = [{"color": c, "label": f"{'+' if t > 0 else ''}{_num(t, lang)} {T['pp']}"}
                   for c, t in zip(diverging_colors(ticks, vmax), ticks)]
    layers = [{"key": "observed", "name": T["layers"]["observed"], "legend": scale},
              {"key": "expected", "name": T["layers"]["expected"], "legend": scale},
              {"key": "difference", "name": T["layers"]["difference"], "legend": diff_legend},
              {"key": "class", "name": T["layers"]["class"], "legend": class_legend}]
    css, js = leaflet_assets()
    html = _environment().get_template("interactive_map.html.j2").render(
        lang=lang, title=title or T["layers"]["observed"], leaflet_css=css, leaflet_js=js,
        leaflet_version=LEAFLET_VERSION, wijken=wijken, gemeenten=gemeenten, labels=label_points, layers=layers,
        text={"rows": T["rows"], "gemeenten": T["gemeenten"], "basemap": T["basemap"]},
        basemap={"url": TILE_URL, "attribution": TILE_ATTRIBUTION} if basemap else None,
        bounds=[[round(miny, digits), round(minx, digits)], [round(maxy, digits), round(maxx, digits)]])
    return html

