"""Transcript format, sidecar metadata and refusals."""
from __future__ import annotations

import pytest

from _qualitative_helpers import HHS_TRANSCRIPTS, RHK_TRANSCRIPTS, minimal_meta, write_transcript
from jeugdhulp_wijken.qualitative import TranscriptError
from jeugdhulp_wijken.qualitative.transcripts import load_transcript, load_transcripts, read_metadata

TEXT = ("# Titel (FICTIEF)\n\n**[Gespreksleider]:** Welkom.\n\n**[Jeugdprofessional 1]:** Eerste zin.\n"
        "Tweede regel.\n\nOUDER 1: Plat formaat.\n")


def test_both_turn_forms_and_offsets(tmp_path):
    t = load_transcript(write_transcript(tmp_path, "t", TEXT, minimal_meta()))
    assert [(u.label, u.role) for u in t.turns] == [("Gespreksleider", "onderzoeker"),
                                                    ("Jeugdprofessional 1", "jeugdprofessional"),
                                                    ("Ouder 1", "ouder")]
    assert t.text[t.turns[1].text_start:t.turns[1].end] == "Eerste zin.\nTweede regel."
    assert t.text[t.turns[2].text_start:t.turns[2].end] == "Plat formaat."


@pytest.mark.parametrize("key", ["gemeente", "session_id", "date", "participants", "fictional", "wijken"])
def test_missing_metadata_is_refused_naming_the_key(tmp_path, key):
    meta = minimal_meta()
    del meta[key]
    path = write_transcript(tmp_path, "t", TEXT, meta)
    with pytest.raises(TranscriptError, match=rf"t\.yml.*{key}"):
        load_transcript(path)


def test_missing_sidecar_and_bad_values(tmp_path):
    (tmp_path / "x.md").write_text(TEXT, encoding="utf-8")
    with pytest.raises(TranscriptError, match="sidecar x.yml is missing"):
        load_transcript(tmp_path / "x.md")
    with pytest.raises(TranscriptError, match="ISO date"):
        load_transcript(write_transcript(tmp_path / "a", "t", TEXT, minimal_meta(date="10-03-2020")))
    with pytest.raises(TranscriptError, match="type"):
        load_transcript(write_transcript(tmp_path / "b", "t", TEXT, minimal_meta(type="chat")))


def test_undeclared_speaker_is_refused_with_line(tmp_path):
    path = write_transcript(tmp_path, "t", TEXT + "\n**[Wethouder]:** Hallo\n", minimal_meta())
    with pytest.raises(TranscriptError, match="line 10.*Wethouder"):
        load_transcript(path)


def test_duplicate_session_ids_are_refused(tmp_path):
    write_transcript(tmp_path, "a", TEXT, minimal_meta())
    write_transcript(tmp_path, "b", TEXT, minimal_meta())
    with pytest.raises(TranscriptError, match="used by both"):
        load_transcripts(tmp_path)


@pytest.mark.parametrize("folder", [HHS_TRANSCRIPTS, RHK_TRANSCRIPTS], ids=["hhs", "rhk"])
def test_every_example_file_says_it_is_fictional(folder):
    ts = load_transcripts(folder)
    assert ts
    for t in ts:
        assert read_metadata(t.path)["fictional"] is True
        assert "FICTIEF" in t.text
        assert "FICTIEF" in t.path.with_suffix(".yml").read_text(encoding="utf-8")


def test_example_hhs_design():
    ts = load_transcripts(HHS_TRANSCRIPTS)
    groups = [t for t in ts if t.metadata["type"] == "groepsgesprek"]
    assert sorted(t.metadata["gemeente"] for t in groups) == ["Delft", "Den Haag", "Den Haag", "Zoetermeer"]
    assert sum(t.metadata["type"] == "interview" for t in ts) == 2
    for t in groups:
        assert 15 <= len(t.turns) <= 30


@pytest.mark.parametrize("bad", ["**(Ouder 1):** Ik vond het lastig.", "Moeder: Ik vond het lastig.", "Moeder:",
                                 "**Ouder 1:** Ik vond het lastig.", "[Ouder 1]: Ik vond het lastig.",
                                 "Ouder 3: Ik vond het lastig.", "__Jeugdprofessional 1__: Ja."])
def test_a_malformed_speaker_line_is_an_error_naming_file_and_line(tmp_path, bad):
    path = write_transcript(tmp_path, "t", TEXT + bad + "\n", minimal_meta())
    with pytest.raises(TranscriptError, match=r"t\.md, line 9: .*looks like a speaker label"):
        load_transcript(path)


@pytest.mark.parametrize("fine", ["Wat mij opvalt: de wachtlijsten.", "**Let op:** dit is een notitie.",
                                  "Om 10:30 begon het gesprek.", "OUDER 1:", "ouder 1: kleine letters."])
def test_ordinary_lines_and_valid_turns_still_parse(tmp_path, fine):
    t = load_transcript(write_transcript(tmp_path, "t", TEXT + fine + "\n", minimal_meta()))
    assert len(t.turns) == 3 + (fine.lower().startswith("ouder 1:"))


def test_example_transcripts_parse_into_the_same_turns():
    """The shipped transcripts give the turn structure the coding tables were made on."""
    hhs = {t.session_id: len(t.turns) for t in load_transcripts(HHS_TRANSCRIPTS)}
    rhk = {t.session_id: len(t.turns) for t in load_transcripts(RHK_TRANSCRIPTS)}
    assert sum(hhs.values()) > 50 and len(rhk) == 5


def test_duplicate_key_in_a_sidecar_is_an_error(tmp_path):
    path = write_transcript(tmp_path, "t", TEXT, minimal_meta())
    side = path.with_suffix(".yml")
    side.write_text(side.read_text(encoding="utf-8") + "gemeente: Delft\n", encoding="utf-8")
    with pytest.raises(TranscriptError, match=r"t\.yml: key 'gemeente' appears twice"):
        load_transcript(path)
