"""Pseudonymisation: nothing identifying survives, pseudonyms are stable, the key stays outside."""
from __future__ import annotations

import json

import pytest

from _qualitative_helpers import HHS_TRANSCRIPTS, RHK_TRANSCRIPTS, minimal_meta, planted, write_transcript
from jeugdhulp_wijken import paths
from jeugdhulp_wijken.qualitative import PseudonymisationError, TranscriptError, coding, load_codebook
from jeugdhulp_wijken.qualitative import pseudonymise as ps
from jeugdhulp_wijken.qualitative.transcripts import load_transcripts


@pytest.fixture(scope="module")
def hhs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ps")
    return ps.pseudonymise_corpus(HHS_TRANSCRIPTS, tmp / "out", key_dir=tmp / "key"), tmp


@pytest.mark.parametrize("study,folder", [("hhs", HHS_TRANSCRIPTS), ("rondom_het_kind", RHK_TRANSCRIPTS)])
def test_no_original_identifier_survives(tmp_path, study, folder):
    corpus = ps.pseudonymise_corpus(folder, tmp_path / "out", key_dir=tmp_path / "key")
    identifiers = planted(study)
    originals = "\n".join(t.text + t.path.with_suffix(".yml").read_text(encoding="utf-8")
                          for t in load_transcripts(folder))
    missing = [x for x in identifiers if x.lower() not in originals.lower()]
    assert not missing, f"planted identifiers {missing} are not in the original files"
    written = "\n".join(p.read_text(encoding="utf-8") for p in (tmp_path / "out").iterdir())
    for x in identifiers:
        for t in corpus:
            assert x.lower() not in t.text.lower(), f"'{x}' survived in {t.session_id}"
        assert x.lower() not in written.lower(), f"'{x}' is in a file of the pseudonymised folder"


def test_log_has_counts_only(hhs):
    corpus, tmp = hhs
    log = json.dumps(corpus.log)
    for x in planted("hhs"):
        assert x.lower() not in log.lower()
    totals = corpus.log["replacements_total"]
    assert totals["EMAIL"] == 2 and totals["TELEFOON"] == 3 and totals["BSN"] == 2 and totals["POSTCODE"] == 1
    assert totals["PERSOON"] >= 8


def test_pseudonyms_are_stable_and_shared_by_name_parts(hhs, tmp_path):
    corpus, tmp = hhs
    again = ps.pseudonymise_corpus(HHS_TRANSCRIPTS, tmp_path / "again", key_dir=tmp / "key")
    assert [t.text for t in again] == [t.text for t in corpus]
    key = json.loads((tmp / "key" / ps.KEY_NAME).read_text(encoding="utf-8"))["mapping"]["PERSOON"]
    assert key["noor"] == key["noor hamdi"]
    assert key["kuipers"] == key["ingrid kuipers"]


def test_wijk_and_gemeente_names_are_kept(hhs):
    corpus, _ = hhs
    assert "Tanthof" in corpus["S01"].text and "Voorhof" in corpus["S01"].text
    assert "Den Haag" in corpus["I01"].text or "Laak" in corpus["S02"].text


def test_key_inside_the_repository_is_refused(tmp_path):
    with pytest.raises(PseudonymisationError, match="outside the repository"):
        ps.pseudonymise_corpus(HHS_TRANSCRIPTS, tmp_path / "o", key_dir=paths.ROOT / "private" / "keys")


def test_real_transcripts_inside_the_repository_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    folder = tmp_path / "data" / "transcripts"
    write_transcript(folder, "t", "**[Ouder 1]:** Tekst.\n", minimal_meta(fictional=False))
    with pytest.raises(PseudonymisationError, match="private/"):
        ps.pseudonymise_corpus(folder, tmp_path.parent / "o", key_dir=tmp_path.parent / "k")
    private = tmp_path / "private" / "transcripts"
    write_transcript(private, "t", "**[Ouder 1]:** Tekst.\n", minimal_meta(fictional=False))
    assert len(ps.pseudonymise_corpus(private, tmp_path.parent / "o2", key_dir=tmp_path.parent / "k2")) == 1


def test_name_as_speaker_label_is_refused(tmp_path):
    meta = minimal_meta(identifiers={"persons": ["Ouder 1"]})
    write_transcript(tmp_path / "t", "t", "**[Ouder 1]:** Tekst.\n", meta)
    with pytest.raises(TranscriptError, match="person names"):
        ps.pseudonymise_corpus(tmp_path / "t", tmp_path / "o", key_dir=tmp_path / "k")


def test_patterns_and_elfproef():
    assert ps.elfproef("123456782") and not ps.elfproef("2345.67.891")
    meta = minimal_meta()
    text = ("Bel 06-12345678, 070 123 4567 of +31 6 12345678; mail a.b@c.nl; post 2521 AB; "
            "woont aan de Dorpsstraat 12a; BSN 123456782 en nummer 234567891.")
    out, counts = ps.pseudonymise_text(text, meta, ps.PseudonymKey())
    assert counts["TELEFOON"] == 3 and counts["EMAIL"] == 1 and counts["POSTCODE"] == 1
    assert counts["ADRES"] == 1 and counts["BSN"] == 2
    out2, counts2 = ps.pseudonymise_text(text, meta, ps.PseudonymKey(), bsn_elfproef=True)
    assert counts2["BSN"] == 1 and "234567891" in out2


def test_heuristic_names(tmp_path):
    out, counts = ps.pseudonymise_text("Ik sprak mevrouw De Groot en later Jan van Dijk. De Groot was boos.",
                                       minimal_meta(), ps.PseudonymKey())
    assert "Groot" not in out and "Dijk" not in out and counts["PERSOON"] >= 2


def test_later_steps_accept_only_pseudonymised_text(hhs):
    corpus, _ = hhs
    originals = load_transcripts(HHS_TRANSCRIPTS)
    with pytest.raises(PseudonymisationError, match="pseudonymised"):
        coding.unit_matrix(None, originals, load_codebook("hhs"))
    with pytest.raises(PseudonymisationError, match="made only by"):
        ps.PseudonymisedTranscript("S9", "tekst", (), {}, "x")


def test_loading_checks_the_manifest(hhs, tmp_path):
    corpus, tmp = hhs
    folder = corpus.folder
    loaded = ps.load_pseudonymised_corpus(folder)
    assert [t.text for t in loaded] == [t.text for t in corpus]
    with pytest.raises(PseudonymisationError, match="not a pseudonymised folder"):
        ps.load_pseudonymised_corpus(HHS_TRANSCRIPTS)
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in folder.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    (copy / "S01.txt").write_text(corpus["S01"].text + " extra", encoding="utf-8")
    with pytest.raises(PseudonymisationError, match="edited after pseudonymisation"):
        ps.load_pseudonymised_corpus(copy)
