"""The region report on the synthetic study: numbers from the artefacts, Dutch formatting, every
registered figure, the published-vs-reproduced table, no network references, errors that name
what is missing, determinism."""
from __future__ import annotations

import html as htmllib
import json
import re
import shutil

import pytest

from jeugdhulp_wijken import catalog, figures, files, pipeline, study
from jeugdhulp_wijken.report import ReportError, check_offline, fmt, write_report
from jeugdhulp_wijken.report import figures as report_figures

from _report_helpers import synthetic_report_study

pytestmark = pytest.mark.slow


def visible_text(html: str) -> str:
    """The text a reader sees: no style block, no tags, entities decoded."""
    html = re.sub(r"<style>.*?</style>", " ", html, flags=re.S)
    return htmllib.unescape(re.sub(r"<[^>]+>", " ", html))


@pytest.fixture(scope="module")
def study_run():
    return synthetic_report_study()


@pytest.fixture(scope="module")
def rep_nl(study_run):
    return study_run.build("nl")


@pytest.fixture(scope="module")
def rep_en(study_run):
    return study_run.build("en")


# --------------------------------------------------------------------------- formatting

def test_dutch_and_english_number_formatting():
    assert fmt.pct(11.67) == "11,7%" and fmt.pct(11.67, lang="en") == "11.7%"
    assert fmt.integer(2918) == "2.918" and fmt.integer(2918, "en") == "2,918"
    assert fmt.decimal(0.99092, 3) == "0,991" and fmt.decimal(0.99092, 3, "en") == "0.991"
    assert fmt.decimal(1234567.891, 2) == "1.234.567,89"
    assert fmt.share(0.382) == "38%" and fmt.share(0.382, 1) == "38,2%"
    assert fmt.pp(0.21) == "+0,2" and fmt.pp(-0.21) == "-0,2" and fmt.pp(0.01) == "0,0"
    assert fmt.pct(None) == "n.b." and fmt.pct(float("nan"), lang="en") == "n/a"
    num = fmt.Num("x", 10.31, "pct")
    assert str(num) == "10,3%" and num.record() == {"value": 10.31, "kind": "pct", "text": "10,3%"}
    with pytest.raises(ValueError, match="lang"):
        fmt.pct(1.0, lang="de")


def test_offline_check_refuses_network_references():
    check_offline('<img src="data:image/png;base64,AAAA"><a href="fig.html">x</a>')
    for bad in ('<script src="https://cdn.example/x.js"></script>', '<link rel="stylesheet" href="http://x/y.css">',
                '<img src="//cdn.example/a.png">', '<style>@import "https://x/y.css";</style>',
                '<div style="background: url(https://x/a.png)"></div>',
                # a reference right after an embedded figure (whose payload the check skips) is found all the same
                '<img src="data:image/png;base64,QUJD/+9="><img src="https://x/b.png">'):
        with pytest.raises(ReportError, match="network"):
            check_offline(bad)


# --------------------------------------------------------------------------- the report

def test_every_key_number_is_printed_the_dutch_way(rep_nl, study_run):
    text = visible_text(rep_nl.html)
    numbers = rep_nl.key_numbers["numbers"]
    assert len(numbers) >= 25
    for name, rec in numbers.items():
        assert rec["text"] in text, f"{name} = {rec['text']} is not in the report"
    # the values are the artefacts' values
    metrics = catalog.read("scp_metrics_nl", study_run.national_dir, True)
    r = metrics["target"]["r_complete_headline"]
    assert numbers["agreement_r_complete"]["value"] == r
    assert numbers["agreement_r_complete"]["text"] == f"{r:.3f}".replace(".", ",")
    data = catalog.read("data_summary_nl", study_run.national_dir, True)
    n_wijken = data["national"]["n_wijken"]
    assert numbers["nl_n_wijken"]["text"] == f"{n_wijken:,}".replace(",", ".")
    assert f"r = {numbers['agreement_r_complete']['text']}" in text
    for rec in numbers.values():
        if rec["kind"] in ("pct", "pct2"):
            assert "," in rec["text"] and "." not in rec["text"], rec


def test_report_follows_the_study_structure(rep_nl):
    html = rep_nl.html
    assert html.startswith("<!DOCTYPE html>") and '<html lang="nl">' in html
    heads = re.findall(r"<h2>(.*?)</h2>", html)
    assert heads[:3] == ["1. Samenvatting", "2. Het model van het SCP",
                         "3. Uitkomsten voor Synthetische jeugdzorgregio 1 (JZ01, 6 gemeenten)"]
    assert heads[3:] == ["4. Verklaringen", "5. Conclusies", "6. Bijlagen"]
    summary = visible_text(re.search(r'<section id="samenvatting".*?</section>', html, re.S).group(0))
    summary = summary.replace("1. Samenvatting", "")
    sentences = [s for s in re.split(r"\.(?:\s|$)", " ".join(summary.split())) if s.strip()]
    assert len(sentences) == 5, sentences
    for anchor in ("gemeente-table", "extremes-table", "published-table", "sources-table", "deviations", "colophon",
                   "themes-table"):
        assert f'id="{anchor}"' in html, anchor
    text = visible_text(html)
    assert "geen teken van slecht beleid" in text and "geen voorspelling voor latere jaren" in text
    assert "SYNTHETISCHE DATA" in text


def test_every_registered_figure_is_embedded(rep_nl, study_run):
    spec = pipeline.load_spec()
    expected = {f.id for f, step, _ in report_figures.locate(study_run.figures_root, study_run.region, True, spec)}
    stages = {getattr(s, "stage", None) for s in spec.steps}
    assert expected == {f.id for f in figures.load_registry().values()
                        if "atlas" not in f.step and getattr(spec.step(f.step), "stage", None) != "atlas"}, stages
    shown = set(re.findall(r'data-figure-id="([a-z0-9_]+)"', rep_nl.html))
    assert shown == expected
    srcs = re.findall(r'<img src="([^"]+)"', rep_nl.html)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    links = re.findall(r'<p class="interactive-link"><a href="([^"]+)"', rep_nl.html)
    for link in links:
        assert "/" not in link and (study_run.report_dir / link).is_file(), link
    assert [f["id"] for f in rep_nl.key_numbers["figures"]] == [f.id for f in rep_nl.figures]


def test_no_network_reference_anywhere(rep_nl, rep_en):
    for rep in (rep_nl, rep_en):
        assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", rep.html, re.I)
        assert not re.findall(r"<[^>]*https?://[^>]*>", rep.html), "a tag refers to the network"
        assert not re.search(r"url\(\s*[\"']?\s*(https?:)?//", rep.html)
        assert "<script" not in rep.html


def test_published_table_outside_the_study_area(rep_nl, rep_en):
    rows = rep_nl.key_numbers["published_vs_reproduced"]
    assert [r["figure"] for r in rows] == ["nl_observed", "agreement"]
    assert rows[0]["published"]["text"] == "10,3%" and rows[0]["published"]["value"] == study.PUBLISHED["nl_observed"]
    assert rows[0]["aggregation"]
    table = re.search(r'<table class="data" id="published-table">.*?</table>', rep_nl.html, re.S).group(0)
    assert "10,3%" in table and "r = " in table
    text = visible_text(rep_nl.html)
    assert "HHS publiceerde geen cijfers voor Synthetische jeugdzorgregio 1" in text
    assert "HHS published no figures for Synthetische jeugdzorgregio 1" in visible_text(rep_en.html)
    for rep in (rep_nl, rep_en):
        assert study.STUDY_AREA.lower() not in visible_text(rep.html).lower()
        assert "bijna 40" not in visible_text(rep.html) and "almost 40" not in visible_text(rep.html)


def test_study_area_deviations_are_left_out_elsewhere(rep_nl, study_run):
    metrics = catalog.read("scp_metrics_nl", study_run.national_dir, True)
    stated = metrics["meta"]["deviations_from_published"]
    listed = [d["text"] for d in rep_nl.key_numbers["deviations"]]
    for text in stated:
        assert (text in listed) != (study.STUDY_AREA.lower() in text.lower())
    lf = catalog.read("lf_metrics", study_run.region_dir, True)
    data = catalog.read("data_summary_nl", study_run.national_dir, True)
    qual = catalog.read("qual_agreement", study_run.qualitative_dir, True)
    for text in data["deviations_from_published_study"] + qual["deviations"] + lf["deviations_from_hhs"]:
        if study.STUDY_AREA.lower() not in text.lower():
            assert text in listed


def test_fictional_corpus_warning(rep_nl, rep_en, study_run):
    qual = catalog.read("qual_agreement", study_run.qualitative_dir, True)
    assert qual["corpus"]["fictional"] is True
    assert 'id="fictional-corpus"' in rep_nl.html and "Fictief voorbeeldcorpus" in rep_nl.html
    assert "Fictional example corpus" in rep_en.html


def test_english_report(rep_en):
    assert '<html lang="en">' in rep_en.html
    text = visible_text(rep_en.html)
    for rec in rep_en.key_numbers["numbers"].values():
        assert rec["text"] in text
    assert rep_en.key_numbers["numbers"]["agreement_r_complete"]["text"].startswith("0.")
    assert "2. The SCP model" in text and "not a sign of bad policy" in text and "no forecast" in text


def test_colophon_and_sources(rep_nl, study_run):
    colo = rep_nl.key_numbers["colophon"]
    assert re.fullmatch(r"[0-9a-f]{64}", colo["manifest_sha256"]) and colo["manifest_sha256"] in rep_nl.html
    assert colo["git"]["commit"] is None or colo["git"]["commit"] in rep_nl.html
    assert colo["packages"]["pandas"] and colo["packages"]["jinja2"]
    raw = {f["path"]: f["sha256"] for f in colo["raw_files"]}
    ods = next(p for p in raw if p.endswith(".ods"))
    assert raw[ods] == files.sha256_file(study_run.raw_dir / ods) and raw[ods] in rep_nl.html
    for name, sha in colo["inputs"].items():
        assert "/" in name and not name.startswith("/") and len(sha) == 64
    assert any("scp_metrics_nl" in n or "02_scp_metrics" in n for n in colo["inputs"])
    assert "CC BY 4.0" in rep_nl.html and "Schellingerhout" in rep_nl.html


def test_written_through_the_catalog_and_deterministic(rep_nl, study_run, tmp_path):
    written = write_report(rep_nl, tmp_path, synthetic=True)
    assert [p.name for p in written] == ["synthetic_rapport.html", "synthetic_06_key_numbers.json"]
    assert catalog.read("key_numbers", tmp_path, True)["numbers"] == rep_nl.key_numbers["numbers"]
    again = study_run.build("nl")
    assert again.html == rep_nl.html
    assert files.json_text(again.key_numbers) == files.json_text(rep_nl.key_numbers)


# --------------------------------------------------------------------------- errors and options

def test_missing_figure_is_named(study_run, tmp_path):
    root = tmp_path / "figures"
    shutil.copytree(study_run.figures_root, root)
    fig, _, fs = report_figures.locate(root, study_run.region, True)[2]
    fs[0].unlink()
    with pytest.raises(ReportError, match=re.escape(fig.id)) as err:
        study_run.build("nl", figures_root=root)
    assert fs[0].name in str(err.value)


def test_missing_key_names_the_artefact(study_run, tmp_path):
    region_dir = tmp_path / "region"
    shutil.copytree(study_run.region_dir, region_dir)
    p = catalog.path("region_metrics", region_dir, True)
    doc = files.read_json(p)
    for k in ("summary_numbers", "summary", "headline", "n_wijken"):
        doc.pop(k, None)
    files.write_json(p, doc)
    with pytest.raises(ReportError, match=r"region_n_wijken.*05_region_metrics\.json"):
        study_run.build("nl", region_dir=region_dir)


def test_robust_findings_replace_significant_ones(study_run, tmp_path):
    region_dir = tmp_path / "region"
    shutil.copytree(study_run.region_dir, region_dir)
    p = catalog.path("lf_metrics", region_dir, True)
    doc = files.read_json(p)
    scope = doc["scopes"]["region"]
    factors = scope["factors_analysed"]
    scope["findings"] = [{"factor": factors[0], "classification": "robust"},
                         {"factor": factors[1], "classification": "fragile"}]
    files.write_json(p, doc)
    rep = study_run.build("nl", region_dir=region_dir)
    table = catalog.read("lf_factor_table", region_dir, True).set_index("factor")["label_nl"]
    text = visible_text(rep.html)
    assert f"Robuuste bevindingen (houden stand in de controles van de stap): {table[factors[0]]}." in text
    assert f"Kwetsbaar, en daarom niet als bevinding genoemd: {table[factors[1]]}." in text
    assert "Robuust samenhangend" in text


def test_unknown_language_is_refused(study_run):
    with pytest.raises(ValueError, match="lang"):
        study_run.build("de")


def test_key_numbers_json_is_plain(rep_nl):
    json.loads(files.json_text(rep_nl.key_numbers))
