"""Theme counts, co-occurrence, quotes, links with local factors, and the figures.

*What is counted.* The unit is the speaker turn (moderator turns excluded). A turn counts
for a theme when a human coder coded a segment overlapping it with a code of that theme:
``count_rule="any"`` (at least one coder; the default, so that a theme seen by one coder is
not lost) or ``"all"`` (every coder agrees, stricter). Counts are numbers of turns, not of
people: one talkative participant can carry a theme.

*Small cells.* Published counts below ``min_cell`` are shown as ``"<min_cell"`` (e.g. "<3");
zeros are shown. Raw small counts are never written to files or figures.
"""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, Iterable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import FancyBboxPatch

from .. import files
from .codebook import Codebook
from .coding import human_coding, segment_turns
from .errors import QualitativeDataError
from .pseudonymise import PseudonymisedCorpus, require_pseudonymised

DIMENSIONS = ("session", "gemeente", "role")
LABELS = {
    "nl": {"session": "Sessie", "gemeente": "Gemeente", "role": "Rol", "theme": "Thema",
           "kappa": "Cohens kappa", "alpha": "Krippendorffs alfa", "prevalence": "prevalentie",
           "suppressed": "onderdrukt", "turns": "spreekbeurten"},
    "en": {"session": "Session", "gemeente": "Municipality", "role": "Role", "theme": "Theme",
           "kappa": "Cohen's kappa", "alpha": "Krippendorff's alpha", "prevalence": "prevalence",
           "suppressed": "suppressed", "turns": "speaker turns"},
}


def suppress(n: int, min_cell: int) -> str:
    """Display value of a count: ``"<min_cell"`` for 0 < n < min_cell, else the number."""
    n = int(n)
    return f"<{min_cell}" if 0 < n < min_cell else str(n)


def corpus_label(corpus: PseudonymisedCorpus, lang: str = "nl") -> str:
    corpus = require_pseudonymised(corpus, "corpus_label")
    types = pd.Series([t.metadata["type"] for t in corpus]).value_counts()
    parts = ", ".join(f"{n} {k}" for k, n in sorted(types.items()))
    if corpus.fictional:
        return f"fictief voorbeeldcorpus: {parts}" if lang == "nl" else f"fictional example corpus: {parts}"
    return parts


def coded_turns(table: pd.DataFrame, corpus: PseudonymisedCorpus, codebook: Codebook, *,
                level: str = "theme", count_rule: str = "any",
                exclude_roles: Iterable[str] = ("onderzoeker",)) -> pd.DataFrame:
    """One row per (session, turn, code at ``level``) that counts under ``count_rule``."""
    corpus = require_pseudonymised(corpus, "coded_turns")
    if count_rule not in ("any", "all"):
        raise QualitativeDataError(f"count_rule '{count_rule}' must be 'any' or 'all'.")
    human = human_coding(table)
    coders = sorted(human["coder"].unique())
    st = segment_turns(human, corpus, exclude_roles)
    st["code"] = [codebook.roll_up(c, level) for c in st["code_id"]]
    st = st.dropna(subset=["code"])
    per = st.groupby(["session", "turn", "code"])["coder"].nunique().reset_index(name="n_coders")
    need = 1 if count_rule == "any" else len(coders)
    per = per[per["n_coders"] >= need]
    info = st.drop_duplicates(["session", "turn"]).set_index(["session", "turn"])[["gemeente", "role", "type", "label"]]
    out = per.join(info, on=["session", "turn"])
    out["cluster"] = [codebook.cluster_of(c) for c in out["code"]]
    return out.rename(columns={"code": "code_id"}).sort_values(["session", "turn", "code_id"]).reset_index(drop=True)


def theme_counts(coded: pd.DataFrame, codebook: Codebook, dimension: str, level_codes: list[str]) -> pd.DataFrame:
    """Raw counts (code x group). Internal: publish only through :func:`theme_frequencies`."""
    if dimension == "total":
        counts = coded.groupby("code_id").size().to_frame("totaal")
    else:
        counts = coded.groupby(["code_id", dimension]).size().unstack(fill_value=0)
    return counts.reindex(level_codes, fill_value=0).fillna(0).astype(int)


def theme_frequencies(coded: pd.DataFrame, codebook: Codebook, *, min_cell: int = 3, level: str = "theme",
                      lang: str = "nl", dimensions: Iterable[str] = (*DIMENSIONS, "total")) -> pd.DataFrame:
    """Long table of suppressed counts: dimension, group, code_id, name, cluster, n, suppressed."""
    codes = _level_codes(codebook, level)
    rows = []
    for dim in dimensions:
        counts = theme_counts(coded, codebook, dim, codes)
        for code in codes:
            for group in counts.columns:
                n = int(counts.loc[code, group])
                rows.append({"dimension": dim, "group": str(group), "code_id": code,
                             "name": codebook.label(code, lang), "cluster": codebook.cluster_of(code),
                             "n": suppress(n, min_cell), "suppressed": 0 < n < min_cell})
    return pd.DataFrame(rows)


def _level_codes(codebook: Codebook, level: str) -> list[str]:
    if level == "theme":
        return [c.id for c in codebook.themes()]
    if level == "cluster":
        return [c.id for c in codebook.clusters()]
    return codebook.codable_ids()


def cooccurrence(coded: pd.DataFrame, codebook: Codebook, level: str = "theme") -> pd.DataFrame:
    """Raw code x code counts of turns coded with both codes (diagonal: turns with the code)."""
    codes = _level_codes(codebook, level)
    x = pd.crosstab([coded["session"], coded["turn"]], coded["code_id"]).reindex(columns=codes, fill_value=0)
    x = (x > 0).astype(int)
    return (x.T @ x).reindex(index=codes, columns=codes, fill_value=0)


def suppress_frame(df: pd.DataFrame, min_cell: int) -> pd.DataFrame:
    """Every integer cell of ``df`` as its display string (see :func:`suppress`)."""
    return df.apply(lambda col: col.map(lambda v: suppress(v, min_cell)))


# --------------------------------------------------------------------------- figures

def _heat(ax, counts: pd.DataFrame, min_cell: int, title: str, ylabels: list[str]) -> None:
    vals = counts.to_numpy(dtype=float)
    masked = np.ma.masked_where((vals > 0) & (vals < min_cell), vals)
    cmap = plt.get_cmap("Blues").with_extremes(bad="#D9D9D9")
    ax.imshow(masked, cmap=cmap, aspect="auto", vmin=0, vmax=max(1.0, float(np.nanmax(vals))))
    for i in range(vals.shape[0]):
        for j in range(vals.shape[1]):
            n = int(vals[i, j])
            ax.text(j, i, suppress(n, min_cell), ha="center", va="center", fontsize=7,
                    color="white" if n >= min_cell and n > 0.6 * max(1, np.nanmax(vals)) else "black")
    ax.set_xticks(range(vals.shape[1]), [str(c) for c in counts.columns], rotation=45, ha="right")
    ax.set_yticks(range(vals.shape[0]), ylabels)
    ax.set_title(title)
    ax.spines[:].set_visible(False)


def plot_theme_frequencies(coded: pd.DataFrame, codebook: Codebook, *, min_cell: int = 3,
                           lang: str = "nl", level: str = "theme"):
    """Three heatmaps: themes by session, gemeente and role; suppressed cells grey with "<k"."""
    codes = _level_codes(codebook, level)
    L = LABELS[lang]
    ylabels = [textwrap.shorten(codebook.label(c, lang), 38) for c in codes]
    fig, axes = plt.subplots(1, 3, figsize=(13, 0.38 * len(codes) + 2.2),
                             gridspec_kw={"width_ratios": [1.4, 1, 1.2]})
    for k, (ax, dim) in enumerate(zip(axes, DIMENSIONS)):
        counts = theme_counts(coded, codebook, dim, codes)
        _heat(ax, counts, min_cell, L[dim], ylabels if k == 0 else [""] * len(codes))
    fig.suptitle(f"{L['theme']} x {L['turns']} (<{min_cell}: {L['suppressed']})", fontsize=10)
    fig.tight_layout()
    return fig


def plot_cooccurrence(co: pd.DataFrame, codebook: Codebook, *, min_cell: int = 3, lang: str = "nl"):
    labels = [textwrap.shorten(codebook.label(c, lang), 30) for c in co.index]
    fig, ax = plt.subplots(figsize=(0.55 * len(co) + 3.5, 0.5 * len(co) + 2.5))
    _heat(ax, co, min_cell, "", labels)
    ax.set_xticks(range(len(co)), labels, rotation=45, ha="right")
    fig.tight_layout()
    return fig


def plot_theme_diagram(codebook: Codebook, lang: str = "nl"):
    """The theme tree as boxes: one column per cluster, a box per theme listing its sub-themes."""
    clusters = codebook.clusters()
    n_rows = max(len(codebook.themes(c.id)) for c in clusters)
    fig, ax = plt.subplots(figsize=(4.6 * len(clusters), 1.25 * n_rows + 1.4))
    ax.set_xlim(0, len(clusters))
    ax.set_ylim(-n_rows - 0.2, 1.0)
    ax.axis("off")
    for k, cl in enumerate(clusters):
        color = cl.color or "#4C72B0"
        ax.add_patch(FancyBboxPatch((k + 0.04, 0.15), 0.92, 0.7, boxstyle="round,pad=0.02",
                                    facecolor=color, edgecolor="none"))
        ax.text(k + 0.5, 0.5, cl.label(lang), ha="center", va="center", color="white", fontsize=10,
                fontweight="bold", wrap=True)
        for i, th in enumerate(codebook.themes(cl.id)):
            y = -i - 1
            ax.add_patch(FancyBboxPatch((k + 0.06, y + 0.08), 0.88, 0.84, boxstyle="round,pad=0.02",
                                        facecolor="white", edgecolor=color, linewidth=1.2))
            ax.plot([k + 0.5, k + 0.5], [y + 0.92, y + 1.08], color=color, linewidth=1)
            subs = [s.label(lang) for s in codebook.children(th.id)]
            ax.text(k + 0.1, y + 0.8, th.label(lang), ha="left", va="top", fontsize=8.5, fontweight="bold")
            body = textwrap.fill(" · ".join(subs), 60) if subs else ""
            ax.text(k + 0.1, y + 0.55, body, ha="left", va="top", fontsize=7.2)
    fig.tight_layout()
    return fig


def plot_agreement(per_code: pd.DataFrame, lang: str = "nl"):
    """Cohen's kappa and Krippendorff's alpha per code, with prevalence and % agreement."""
    L = LABELS[lang]
    d = per_code.iloc[::-1].reset_index(drop=True)
    y = np.arange(len(d))
    fig, ax = plt.subplots(figsize=(7.5, 0.42 * len(d) + 1.6))
    ax.barh(y + 0.2, d["kappa"].fillna(0), height=0.38, color="#4C72B0", label=L["kappa"])
    ax.barh(y - 0.2, d["alpha"].fillna(0), height=0.38, color="#DD8452", label=L["alpha"])
    for i, r in d.iterrows():
        ax.text(1.02, i, f"{L['prevalence']} {r['prevalence']:.2f} · {r['pct_agreement']:.0f}%",
                va="center", fontsize=7)
    ax.set_yticks(y, [textwrap.shorten(n, 36) for n in d["name"]])
    ax.set_xlim(min(0, float(d[["kappa", "alpha"]].min().min()) - 0.05), 1.45)
    ax.axvline(0.8, color="grey", linestyle=":", linewidth=0.8)
    ax.axvline(0.667, color="grey", linestyle="--", linewidth=0.8)
    ax.legend(loc="lower right", fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- tables

def quotes_table(table: pd.DataFrame, corpus: PseudonymisedCorpus, codebook: Codebook, *,
                 per_theme: int = 2, max_chars: int = 300, lang: str = "nl",
                 exclude_roles: Iterable[str] = ("onderzoeker",)) -> pd.DataFrame:
    """Illustrative pseudonymised quotes per theme.

    Candidates are segments whose turn was coded with the theme by *every* coder (agreed
    passages), then by all others; within that, in corpus order (session, offset); at most one
    quote per session per theme so that quotes spread over sessions.
    """
    corpus = require_pseudonymised(corpus, "quotes_table")
    agreed = coded_turns(table, corpus, codebook, count_rule="all", exclude_roles=exclude_roles)
    agreed_keys = set(zip(agreed["session"], agreed["turn"], agreed["code_id"]))
    st = segment_turns(human_coding(table), corpus, exclude_roles)
    st["theme"] = [codebook.theme_of(c) for c in st["code_id"]]
    st = st.dropna(subset=["theme"])
    st["agreed"] = [(s, t, th) in agreed_keys for s, t, th in zip(st["session"], st["turn"], st["theme"])]
    rows = []
    for th in codebook.themes():
        cand = st[st["theme"] == th.id].sort_values(["agreed", "session", "start"], ascending=[False, True, True])
        cand = cand.drop_duplicates(["session", "turn"]).drop_duplicates("session")
        for r in cand.head(per_theme).itertuples(index=False):
            text = corpus[r.session].text[r.start:r.end].strip()
            rows.append({"code_id": th.id, "theme": th.label(lang), "cluster": codebook.cluster_of(th.id),
                         "session": r.session, "gemeente": r.gemeente, "role": r.role,
                         "segment_id": r.segment_id, "agreed": bool(r.agreed),
                         "quote": textwrap.shorten(text, max_chars, placeholder=" [...]")})
    return pd.DataFrame(rows, columns=["code_id", "theme", "cluster", "session", "gemeente", "role",
                                       "segment_id", "agreed", "quote"])


def theme_factor_links(codebook: Codebook, coded: pd.DataFrame | None = None, *, min_cell: int = 3,
                       local_factors_yml: str | Path | None = None, lang: str = "nl") -> pd.DataFrame:
    """Themes x quantitative local factors of the same cluster.

    ``link`` is ``"inhoudelijk"`` when the codebook names the factor for the theme (``factors``),
    else ``"zelfde cluster"``. With a local-factor sidecar YAML (the shared local-factor
    format), ``in_data`` says whether the factor is a column of that data file, and factors of
    the file that the codebook does not list are added for their cluster.
    """
    qf = codebook.meta.get("quantitative_factors") or {}
    if not qf:
        raise QualitativeDataError(f"Codebook '{codebook.id}' has no 'quantitative_factors' section; "
                                   f"a theme-factor link table needs one.")
    data_factors: dict[str, dict[str, Any]] = {}
    if local_factors_yml:
        doc = files.load_yaml(Path(local_factors_yml).read_text(encoding="utf-8")) or {}
        data_factors = doc.get("factors") or {}
    counts = None
    if coded is not None:
        counts = coded.groupby("code_id")[["session", "turn"]].apply(lambda d: len(d.drop_duplicates()))
    rows = []
    for cl in codebook.clusters():
        fc = cl.factor_cluster
        if not fc or fc not in qf:
            continue
        factors = dict(qf[fc].get("factors") or {})
        for key, spec in data_factors.items():
            if spec.get("cluster") == fc and key not in factors:
                factors[key] = spec.get("label_nl" if lang == "nl" else "label_en") or key
        for th in codebook.themes(cl.id):
            n = int(counts.get(th.id, 0)) if counts is not None else None
            for key, label in factors.items():
                rows.append({"code_id": th.id, "theme": th.label(lang), "cluster": cl.label(lang),
                             "factor_cluster": fc, "factor": key, "factor_label": label,
                             "link": "inhoudelijk" if key in th.factors else "zelfde cluster",
                             "in_data": (key in data_factors) if local_factors_yml else None,
                             "n_turns": suppress(n, min_cell) if n is not None else ""})
    return pd.DataFrame(rows)


def help_question_table(table: pd.DataFrame, corpus: PseudonymisedCorpus, codebook: Codebook, *,
                        lang: str = "nl") -> pd.DataFrame:
    """The Rondom het Kind table: per help-question type, persons with the question, persons
    who received help and the number of times help was deployed.

    A person is a (case, entry label) pair whose role (from the case metadata) matches the
    type's ``subject_role``; an entry coded with the type's question code means the person has
    that question; each help-code segment on an entry counts as one deployment. Human coding
    only (suggestions never count).
    """
    corpus = require_pseudonymised(corpus, "help_question_table")
    types = codebook.meta.get("help_question_types")
    if not types:
        raise QualitativeDataError(f"Codebook '{codebook.id}' defines no 'help_question_types'.")
    st = segment_turns(human_coding(table), corpus, exclude_roles=())
    published = (codebook.meta.get("published_table") or {}).get("rows") or {}
    rows = []
    for t in types:
        role = t["subject_role"]
        q = st[(st["code_id"] == t["question_code"]) & (st["role"] == role)]
        h = st[(st["code_id"] == t["help_code"]) & (st["role"] == role)]
        pub = published.get(t["key"], {})
        rows.append({"type": t["key"], "label": t["label_nl" if lang == "nl" else "label_en"], "subject_role": role,
                     "with_question": int(q[["session", "label"]].drop_duplicates().shape[0]),
                     "received_help": int(h[["session", "label"]].drop_duplicates().shape[0]),
                     "times_deployed": int(h["segment_id"].nunique()),
                     "published_with_question": pub.get("with_question"),
                     "published_received_help": pub.get("received_help"),
                     "published_times_deployed": pub.get("times_deployed")})
    return pd.DataFrame(rows)
