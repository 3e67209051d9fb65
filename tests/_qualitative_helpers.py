"""Shared paths and builders for the tests of the qualitative subpackage (not a test module)."""
from __future__ import annotations

from pathlib import Path

import yaml

from jeugdhulp_wijken import paths

EXAMPLES = paths.DATA / "examples" / "qualitative"
HHS_TRANSCRIPTS = EXAMPLES / "hhs" / "transcripts"
HHS_CODING = [EXAMPLES / "hhs" / "coding" / "codeur_A.csv", EXAMPLES / "hhs" / "coding" / "codeur_B.csv"]
RHK_TRANSCRIPTS = EXAMPLES / "rondom_het_kind" / "case_reviews"
RHK_CODING = [EXAMPLES / "rondom_het_kind" / "coding" / "codeur_A.csv"]


def planted(study: str) -> list[str]:
    return yaml.safe_load((EXAMPLES / study / "planted_identifiers.yml").read_text(encoding="utf-8"))["identifiers"]


def build_hhs(tmp: Path):
    from jeugdhulp_wijken.qualitative import coding, load_codebook, pseudonymise

    corpus = pseudonymise.pseudonymise_corpus(HHS_TRANSCRIPTS, tmp / "ps_hhs", key_dir=tmp / "key_hhs")
    cb = load_codebook("hhs")
    table = coding.load_coding_table(HHS_CODING, cb, corpus)
    return corpus, cb, table


def build_rhk(tmp: Path):
    from jeugdhulp_wijken.qualitative import coding, load_codebook, pseudonymise

    corpus = pseudonymise.pseudonymise_corpus(RHK_TRANSCRIPTS, tmp / "ps_rhk", key_dir=tmp / "key_rhk")
    cb = load_codebook("rondom_het_kind")
    table = coding.load_coding_table(RHK_CODING, cb, corpus)
    return corpus, cb, table


def write_transcript(folder: Path, name: str, text: str, meta: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.md").write_text(text, encoding="utf-8")
    (folder / f"{name}.yml").write_text(yaml.safe_dump(meta, allow_unicode=True), encoding="utf-8")
    return folder / f"{name}.md"


def minimal_meta(**over) -> dict:
    meta = {"session_id": "T1", "type": "groepsgesprek", "gemeente": "Delft", "wijken": ["Tanthof"],
            "date": "2020-03-10", "fictional": True,
            "participants": [{"label": "Gespreksleider", "role": "onderzoeker"},
                             {"label": "Jeugdprofessional 1", "role": "jeugdprofessional"},
                             {"label": "Ouder 1", "role": "ouder"}]}
    meta.update(over)
    return meta
