"""Frequency tables with suppression, co-occurrence, quotes, links, the Rondom het Kind table."""
from __future__ import annotations

import pandas as pd
import pytest

from _qualitative_helpers import build_hhs, build_rhk, planted
from jeugdhulp_wijken import figures
from jeugdhulp_wijken.qualitative import analysis


@pytest.fixture(scope="module")
def hhs(tmp_path_factory):
    corpus, cb, table = build_hhs(tmp_path_factory.mktemp("an"))
    return corpus, cb, table, analysis.coded_turns(table, corpus, cb)


def _independent_turn_themes(table, corpus, cb, rule):
    d = table.assign(theme=[cb.theme_of(c) for c in table["code_id"]],
                     turn=[corpus[s].turn_at(a).index for s, a in zip(table["session"], table["start"])])
    n = d.drop_duplicates(["session", "turn", "theme", "coder"]).groupby(["session", "turn", "theme"]).size()
    return n[n >= (1 if rule == "any" else 2)]


@pytest.mark.parametrize("rule", ["any", "all"])
def test_totals_match_an_independent_count(hhs, rule):
    corpus, cb, table, _ = hhs
    coded = analysis.coded_turns(table, corpus, cb, count_rule=rule)
    expected = _independent_turn_themes(table, corpus, cb, rule).groupby("theme").size()
    freq = analysis.theme_frequencies(coded, cb, min_cell=1)
    tot = freq[freq["dimension"] == "total"].set_index("code_id")["n"].astype(int)
    assert tot.to_dict() == expected.reindex(tot.index, fill_value=0).to_dict()


def test_suppression_hides_every_small_cell(hhs):
    corpus, cb, table, coded = hhs
    for k in (3, 5):
        freq = analysis.theme_frequencies(coded, cb, min_cell=k)
        shown = pd.to_numeric(freq["n"], errors="coerce")
        assert not ((shown > 0) & (shown < k)).any()
        assert (freq.loc[freq["suppressed"], "n"] == f"<{k}").all()
        assert freq["suppressed"].any()
    assert analysis.suppress(0, 3) == "0" and analysis.suppress(2, 3) == "<3" and analysis.suppress(3, 3) == "3"
    by_gem = analysis.theme_frequencies(coded, cb, min_cell=1, dimensions=("gemeente",))
    assert set(by_gem["group"]) == {"Delft", "Den Haag", "Zoetermeer"}
    assert by_gem["n"].astype(int).sum() == len(coded)


def test_cooccurrence_is_symmetric_with_totals_on_the_diagonal(hhs):
    corpus, cb, table, coded = hhs
    co = analysis.cooccurrence(coded, cb)
    assert (co.to_numpy() == co.to_numpy().T).all()
    totals = coded.groupby("code_id").size().reindex(co.index, fill_value=0)
    assert (pd.Series(co.to_numpy().diagonal(), index=co.index) == totals).all()


def test_quotes_are_pseudonymised_and_cover_themes(hhs):
    corpus, cb, table, _ = hhs
    q = analysis.quotes_table(table, corpus, cb, per_theme=2)
    assert set(q["code_id"]) == {t.id for t in cb.themes()}
    assert q.groupby("code_id").size().max() <= 2
    for x in planted("hhs"):
        assert not q["quote"].str.contains(x, case=False, regex=False).any()


def test_theme_factor_links(hhs, tmp_path):
    corpus, cb, table, coded = hhs
    links = analysis.theme_factor_links(cb, coded)
    assert set(links["factor_cluster"]) == {"voorzieningen", "veiligheid_sociale_cohesie"}
    eenz = links[(links["code_id"] == "SCV.PGE") & (links["factor"] == "eenzaam")]
    assert eenz["link"].item() == "inhoudelijk"
    assert set(links.loc[links["code_id"].str.startswith("VZ"), "factor_cluster"]) == {"voorzieningen"}
    side = tmp_path / "lf.yml"
    side.write_text("fictional: true\nfactors:\n  eenzaam: {cluster: veiligheid_sociale_cohesie, label_nl: x}\n"
                    "  speeltuinen: {cluster: voorzieningen, label_nl: Speeltuinen}\n", encoding="utf-8")
    links2 = analysis.theme_factor_links(cb, coded, local_factors_yml=side)
    assert "speeltuinen" in set(links2["factor"])
    assert links2.loc[links2["factor"] == "eenzaam", "in_data"].all()


def test_help_question_table_matches_an_independent_count(tmp_path):
    corpus, cb, table = build_rhk(tmp_path)
    ht = analysis.help_question_table(table, corpus, cb).set_index("type")
    for t in cb.meta["help_question_types"]:
        rows = table.assign(label=[corpus[s].turn_at(a).label for s, a in zip(table["session"], table["start"])])
        q = rows[rows["code_id"] == t["question_code"]]
        h = rows[rows["code_id"] == t["help_code"]]
        assert ht.loc[t["key"], "with_question"] == len(q[["session", "label"]].drop_duplicates())
        assert ht.loc[t["key"], "received_help"] == len(h[["session", "label"]].drop_duplicates())
        assert ht.loc[t["key"], "times_deployed"] == len(h)
    assert ht.loc["opvoeden", "published_times_deployed"] == 25


def test_figures_build_and_are_deterministic(hhs, tmp_path):
    corpus, cb, table, coded = hhs
    figures.set_style()
    a = figures.save_figure(analysis.plot_theme_diagram(cb), "qual_theme_diagram", tmp_path / "a",
                            step="qualitative_coding", codebook_label="x")
    figures.set_style()
    b = figures.save_figure(analysis.plot_theme_diagram(cb), "qual_theme_diagram", tmp_path / "b",
                            step="qualitative_coding", codebook_label="x")
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    fig = analysis.plot_theme_frequencies(coded, cb, min_cell=3, lang="en")
    assert len(fig.axes) == 3
