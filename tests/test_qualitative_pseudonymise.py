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


KINDS = [
    ("single first names", "Fatima zei dat Kevin en Ahmed vaak buiten zijn.", ["Fatima", "Kevin", "Ahmed"], "PERSOON"),
    ("first name and surname", "Sanne Bakker, Noor Yilmaz en Mohamed El Amrani werken in Tanthof.",
     ["Sanne", "Bakker", "Noor", "Yilmaz", "Mohamed", "Amrani"], "PERSOON"),
    ("diacritics", "Émile Öztürk en Zoë Kaçar zitten in dezelfde klas.", ["Émile", "Öztürk", "Zoë", "Kaçar"], "PERSOON"),
    ("title", "Dat weet juf Anne-Marie, en meester Rachid ook.", ["Anne-Marie", "Rachid"], "PERSOON"),
    ("schools", "Hij zit op De Springbok, zijn broer op het Hofstad Lyceum en zijn zus op Het Palet.",
     ["Springbok", "Hofstad", "Palet"], "ORGANISATIE"),
    ("postcode", "Post naar 2526hx of 2526 HX of 2611AB, niet in 2019 en 2020.", ["2526hx", "2526 HX", "2611AB"],
     "POSTCODE"),
    ("phone", "Bel 06 - 123 456 78, +31 6 2345 6789, 070-3456789 of (015) 212 34 56.",
     ["123 456 78", "2345 6789", "3456789", "212 34 56"], "TELEFOON"),
]


@pytest.mark.parametrize("label,text,gone,category", KINDS, ids=[k[0] for k in KINDS])
def test_each_kind_of_identifier_is_replaced(label, text, gone, category):
    out, counts = ps.pseudonymise_text(text, minimal_meta(), ps.PseudonymKey())
    for x in gone:
        assert x not in out, f"{label}: '{x}' survived in {out!r}"
    assert counts[category] >= 1
    assert "Tanthof" in out or "Tanthof" not in text
    if label == "title":
        assert "juf [PERSOON-" in out and "meester [PERSOON-" in out
    if label == "postcode":
        assert "in 2019 en 2020" in out and counts["POSTCODE"] == 3
        assert out.count("[POSTCODE-01]") == 2, "the same postcode in two spellings shares one pseudonym"


def test_street_with_house_number_is_an_address_not_a_person():
    text = "Mohamed woont aan de Laan van Meerdervoort 1203, daarvoor op de Weimarstraat 32a."
    out, counts = ps.pseudonymise_text(text, minimal_meta(), ps.PseudonymKey())
    assert out == "[PERSOON-01] woont aan de [ADRES-01], daarvoor op de [ADRES-02]."
    assert counts["ADRES"] == 2 and counts["PERSOON"] == 1


def test_needs_human_check_lists_sessions_with_leftovers_without_identifiers(tmp_path):
    folder = tmp_path / "t"
    write_transcript(folder, "a", "**[Ouder 1]:** Het dossiernummer is 7712 4490 2.\n", minimal_meta(session_id="A"))
    write_transcript(folder, "b", "**[Ouder 1]:** Het ging goed in Tanthof.\n", minimal_meta(session_id="B"))
    corpus = ps.pseudonymise_corpus(folder, tmp_path / "o", key_dir=tmp_path / "k")
    assert corpus.log["needs_human_check"] == ["A"]
    assert corpus.log["human_check_reasons"]["A"] == {"reasons": {"long_number": 1}}
    assert "7712" not in json.dumps(corpus.log)


def test_deduce_works_offline_from_the_lists_in_its_wheel(tmp_path, monkeypatch):
    """The trimmed lookup folder is built from deduce's shipped lists with the network blocked."""
    import socket

    from jeugdhulp_wijken.qualitative import dutch_lists

    def refuse(*args, **kwargs):
        raise AssertionError("deduce tried to open a network connection")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    src = dutch_lists.source_lookup_dir()
    assert (src / "src" / "names" / "lst_first_name" / "items.txt").is_file()
    target = dutch_lists.build_trimmed_lookup(tmp_path / "deduce")
    assert (target / "cache" / "lookup_structs.pickle").is_file()
    assert (target / "src" / "locations" / "lst_street" / "items.txt").read_text() == ""
    deducer = dutch_lists._construct(target)
    tags = {a.tag for a in deducer.deidentify("Fatima Bakker belde gisteren.").annotations}
    assert tags == {"persoon"}
    assert "laan van meerdervoort" in dutch_lists.phrases("street")
