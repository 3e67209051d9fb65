"""The pseudonymisation gate: >= 95% of a planted, fictional identifier set removed, no study word lost.

Test data (both fictional or public, neither from raw data):
* ``tests/fixtures/pseudonymisation/planted_identifiers.yml``: fragments with planted identifiers;
* ``tests/fixtures/pseudonymisation/haaglanden_places.yml``: gemeente and wijk names of the study
  area, used with the code names of the packaged codebooks as the study's own words.
The sidecars list only two wijken, so the study words survive on the detectors' own merit.
"""
from __future__ import annotations

import itertools
import json
import re
from collections import Counter

import pytest
import yaml

from _qualitative_helpers import minimal_meta, write_transcript
from jeugdhulp_wijken import paths
from jeugdhulp_wijken.qualitative import load_codebook
from jeugdhulp_wijken.qualitative import pseudonymise as ps

FIXTURES = paths.ROOT / "tests" / "fixtures" / "pseudonymisation"
PLANTED = yaml.safe_load((FIXTURES / "planted_identifiers.yml").read_text(encoding="utf-8"))
PLACES = yaml.safe_load((FIXTURES / "haaglanden_places.yml").read_text(encoding="utf-8"))
GATE = 0.95


def study_words() -> dict[str, list[str]]:
    wijken = sorted({w for ws in PLACES["wijken"].values() for w in ws})
    themes = sorted({c.name for cb in ("hhs", "rondom_het_kind") for c in load_codebook(cb).codes.values()})
    return {"gemeente": list(PLACES["gemeenten"]), "wijk": wijken, "theme": themes}


def study_sentences() -> list[str]:
    words = study_words()
    places = words["gemeente"] + words["wijk"]
    themes = itertools.cycle(words["theme"])
    templates = ["In {p} noemden ouders {t} als belangrijk thema.", "{p} is een wijk waar {t} vaak speelt.",
                 "Ook in {p} hoorden we over {t}, zei de jeugdprofessional.", "{T} speelt vooral in {p}.",
                 "Bij ons in {p} is het anders; daar gaat het om {t}."]
    out = []
    for i, p in enumerate(places):
        t = next(themes)
        out.append(templates[i % len(templates)].format(p=p, t=t, T=t[:1].upper() + t[1:]))
    out += [f"{t[:1].upper() + t[1:]} kwam ook ter sprake." for t in words["theme"]]
    return out


def _turns(sentences: list[str]) -> str:
    return "# Fictief testtranscript\n\n" + "\n\n".join(f"**[Ouder 1]:** {s}" for s in sentences) + "\n"


@pytest.fixture(scope="module")
def gate(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gate")
    folder = tmp / "transcripts"
    fragments = [f["text"] for f in PLANTED["fragments"]]
    write_transcript(folder, "P01", _turns(fragments),
                     minimal_meta(session_id="P01", gemeente="Den Haag", wijken=["Laak", "Escamp"]))
    write_transcript(folder, "P02", _turns(study_sentences()),
                     minimal_meta(session_id="P02", gemeente="Den Haag", wijken=["Moerwijk"]))
    corpus = ps.pseudonymise_corpus(folder, tmp / "out", key_dir=tmp / "key")
    p01 = corpus["P01"]
    outputs = [p01.text[t.text_start:t.end] for t in p01.turns]
    assert len(outputs) == len(fragments)
    return corpus, outputs


def _survives(identifier: str, output: str) -> bool:
    terms = [identifier]
    if re.search(r"[A-Za-zÀ-ÿ]", identifier) and "@" not in identifier:
        terms += [p for p in identifier.split() if len(p) >= 3 and p[0].isupper() and p not in ("Het", "Den", "Van")]
    return any(re.search(rf"(?<![\w-]){re.escape(t)}(?![\w-])", output, re.IGNORECASE) for t in terms)


def _count(word: str, text: str) -> int:
    return len(re.findall(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text))


def test_planted_set_is_large_and_covers_every_kind():
    ids = [i for f in PLANTED["fragments"] for i in f["identifiers"]]
    assert PLANTED["fictional"] is True
    assert len(ids) >= 60
    assert {i["kind"] for i in ids} == set(PLANTED["kinds"])
    for f in PLANTED["fragments"]:
        for i in f["identifiers"]:
            assert i["text"] in f["text"], f"planted '{i['kind']}' identifier is not in its fragment"


def test_at_least_95_percent_of_planted_identifiers_are_removed(gate):
    _, outputs = gate
    total, leaked = Counter(), Counter()
    for frag, out in zip(PLANTED["fragments"], outputs):
        for i in frag["identifiers"]:
            total[i["kind"]] += 1
            leaked[i["kind"]] += _survives(i["text"], out)
    removed = 1 - sum(leaked.values()) / sum(total.values())
    per_kind = {k: f"{total[k] - leaked[k]}/{total[k]}" for k in sorted(total)}
    assert removed >= GATE, f"only {removed:.1%} removed; per kind {per_kind}"
    assert all(total[k] - leaked[k] >= 0.8 * total[k] for k in total), per_kind


@pytest.mark.parametrize("kind", ["gemeente", "wijk", "theme"])
def test_no_study_word_is_removed(gate, kind):
    corpus, outputs = gate
    fragments_in = "\n".join(f["text"] for f in PLANTED["fragments"]) + "\n" + "\n".join(study_sentences())
    text_out = "\n".join(outputs) + "\n" + corpus["P02"].text
    lost = [w for w in study_words()[kind] if _count(w, fragments_in) != _count(w, text_out)]
    assert _count(study_words()[kind][0], fragments_in) > 0
    assert not lost, f"study words removed ({kind}): {lost}"


def test_log_counts_per_kind_and_names_no_identifier(gate):
    corpus, _ = gate
    log = corpus.log
    text = json.dumps(log, ensure_ascii=False).casefold()
    for f in PLANTED["fragments"]:
        for i in f["identifiers"]:
            assert i["text"].casefold() not in text
    p01 = log["replacements_per_session"]["P01"]
    assert set(p01) == set(ps.CATEGORIES)
    assert p01["ADRES"] >= 10 and p01["POSTCODE"] >= 5 and p01["TELEFOON"] >= 6 and p01["EMAIL"] == 3
    assert p01["BSN"] == 3 and p01["ORGANISATIE"] >= 9 and p01["PERSOON"] >= 20
    assert log["replacements_total"] == {c: sum(s[c] for s in log["replacements_per_session"].values())
                                         for c in ps.CATEGORIES}
    assert set(log["needs_human_check"]) == set(log["human_check_reasons"])
    assert (corpus.folder / ps.LOG_NAME).is_file()
