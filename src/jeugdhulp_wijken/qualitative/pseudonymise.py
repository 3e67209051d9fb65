"""Pseudonymisation of transcripts, and the only door through which later steps read text.

What is replaced (category -> pseudonym ``[CATEGORY-NN]``; detectors in :mod:`.detect`, the
study-word filter and name propagation in :mod:`.masking`):

* ``EMAIL``, ``TELEFOON`` (any grouping), ``BSN`` (with ``bsn_elfproef=True`` only numbers that
  pass the elfproef; default: every nine-digit number, the safer choice), ``POSTCODE`` (any case
  and spacing);
* ``ADRES`` (a street with its house number) and ``STRAAT`` (a street without number after a
  preposition), from deduce's list of Dutch streets and from street-name rules;
* ``ORGANISATIE``: schools and organisations (``basisschool De Springbok``, ``Hofstad Lyceum``);
* ``PERSOON``: names found by deduce (Dutch first names, surnames, particles, initials), after
  a title or relation word (``juf Anne-Marie``), or listed in the sidecar
  (``identifiers.persons``) or a names file. Every name found is replaced wherever it occurs in
  the corpus, and the parts of a name share the full name's pseudonym.

The study's own words are never replaced: the gemeente and wijken of the sidecar, the study-area
gemeenten, institutional terms, the code names of the packaged codebooks and any ``protected``
words the caller passes (:func:`.masking.protected_words`), and Dutch place names.

Pseudonyms are *stable*: one key per corpus maps each original (case-insensitively) to its
pseudonym, numbered in order of first occurrence (files in name order). The key is written only
outside the repository (:func:`check_outside_repository`). The anonymisation log holds counts
per category and session and the sessions a person must read (with counts of suspicious
leftovers per reason), never originals.

Only :class:`PseudonymisedTranscript` objects reach coding and analysis: they can be created
only by this module (a private token guards the constructor), either by pseudonymising or by
:func:`load_pseudonymised_corpus`, which checks the folder's manifest and text hashes.
"""
from __future__ import annotations

import hashlib
import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import yaml

from .. import files
from .. import paths
from . import detect, dutch_lists
from .errors import PseudonymisationError, TranscriptError
from .transcripts import Transcript, Turn, load_transcripts, parse_turns, validate_metadata
from .masking import (CATEGORIES, KEY_NAME, METHOD_VERSION, NEVER_REPLACE, PseudonymKey,  # noqa: F401 (API)
                      check_outside_repository, collect_names, known_names, protected_words,
                      pseudonymise_text)

MANIFEST = "PSEUDONYMISED.json"
LOG_NAME = "anonymisation_log.json"
_TOKEN = object()
elfproef = detect.elfproef

def default_key_dir(corpus_name: str, fictional: bool) -> Path:
    """Default key folder: a temporary folder per method version for the fictional example (so
    its pseudonyms match the shipped coding tables), else a private home folder."""
    base = Path(tempfile.gettempdir()) / "jeugdhulp_wijken_keys" / f"method-{METHOD_VERSION}" if fictional \
        else Path.home() / ".jeugdhulp_wijken" / "keys"
    return base / re.sub(r"[^A-Za-z0-9_-]+", "_", corpus_name)


def check_transcript_location(folder: str | Path, transcripts: Iterable[Transcript]) -> None:
    """Originals inside the repository are accepted only under ``private/`` (git-ignored) or
    when every file is marked ``fictional: true`` (the shipped example corpus)."""
    p = Path(folder).resolve()
    root = paths.ROOT.resolve()
    if root not in p.parents and p != root:
        return
    private = root / "private"
    if p == private or private in p.parents:
        return
    real = [t.path.name for t in transcripts if t.metadata.get("fictional") is not True]
    if real:
        raise PseudonymisationError(
            f"{p} is inside the repository but not under private/, and {real} are not marked "
            f"'fictional: true'. Keep real transcripts in a git-ignored private folder "
            f"(e.g. {private / 'transcripts'}) or outside the repository.")


@dataclass(frozen=True)
class PseudonymisedTranscript:
    """A transcript after pseudonymisation: the only text type that coding and analysis accept."""

    session_id: str
    text: str
    turns: tuple[Turn, ...]
    metadata: dict[str, Any]
    text_sha256: str
    _token: object = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        if self._token is not _TOKEN:
            raise PseudonymisationError(
                "PseudonymisedTranscript objects are made only by pseudonymise_corpus() or "
                "load_pseudonymised_corpus(); later steps never read original transcripts.")

    @property
    def gemeente(self) -> str:
        return str(self.metadata["gemeente"])

    def turn_at(self, offset: int) -> Turn | None:
        """The turn that contains character ``offset`` (None for the header)."""
        for t in self.turns:
            if t.start <= offset < max(t.end, t.start + 1):
                return t
        return None


class PseudonymisedCorpus:
    """An ordered collection of :class:`PseudonymisedTranscript` keyed by session id."""

    def __init__(self, transcripts: Iterable[PseudonymisedTranscript], folder: Path | None = None,
                 log: dict[str, Any] | None = None):
        self._items = {t.session_id: t for t in transcripts}
        for t in self._items.values():
            if not isinstance(t, PseudonymisedTranscript):
                raise PseudonymisationError("A PseudonymisedCorpus holds only PseudonymisedTranscript objects.")
        self.folder = folder
        self.log = log or {}

    def __iter__(self) -> Iterator[PseudonymisedTranscript]:
        return iter(self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, session_id: str) -> bool:
        return session_id in self._items

    def __getitem__(self, session_id: str) -> PseudonymisedTranscript:
        return self._items[session_id]

    @property
    def session_ids(self) -> list[str]:
        return list(self._items)

    @property
    def fictional(self) -> bool:
        return all(t.metadata.get("fictional") is True for t in self)

    def turns_frame(self):
        """One row per turn: session, gemeente, type, turn index, label, role, offsets."""
        import pandas as pd

        rows = [{"session": t.session_id, "gemeente": t.gemeente, "type": t.metadata["type"],
                 "turn": u.index, "label": u.label, "role": u.role, "start": u.start,
                 "text_start": u.text_start, "end": u.end} for t in self for u in t.turns]
        return pd.DataFrame(rows)


def require_pseudonymised(obj: Any, what: str = "This function") -> PseudonymisedCorpus:
    """Accept a :class:`PseudonymisedCorpus` (or one transcript); refuse originals and raw text."""
    if isinstance(obj, PseudonymisedTranscript):
        return PseudonymisedCorpus([obj])
    if isinstance(obj, PseudonymisedCorpus):
        return obj
    raise PseudonymisationError(f"{what} reads only pseudonymised transcripts (PseudonymisedCorpus from "
                                f"pseudonymise_corpus() or load_pseudonymised_corpus()), got "
                                f"{type(obj).__name__}.")


def public_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    """The sidecar without private parts (identifiers, participant names), dates as ISO text."""
    pub = {k: v for k, v in meta.items() if k != "identifiers"}
    pub["participants"] = [{"label": str(p["label"]), "role": str(p["role"])} for p in meta["participants"]]
    pub["date"] = str(meta["date"])
    return pub


def _make(session_id: str, text: str, meta: dict[str, Any], where: str) -> PseudonymisedTranscript:
    turns = parse_turns(text, meta["participants"], where)
    return PseudonymisedTranscript(session_id, text, tuple(turns), meta,
                                   hashlib.sha256(text.encode("utf-8")).hexdigest(), _TOKEN)


def _read_names_file(names_file: str | Path | None) -> list[str]:
    if not names_file:
        return []
    return [ln.strip() for ln in Path(names_file).read_text(encoding="utf-8").splitlines()
            if ln.strip() and not ln.startswith("#")]


def pseudonymise_corpus(transcripts_dir: str | Path, out_dir: str | Path, *, key_dir: str | Path | None = None,
                        names_file: str | Path | None = None, bsn_elfproef: bool = False,
                        corpus_name: str | None = None, protected: Iterable[str] = ()) -> PseudonymisedCorpus:
    """Pseudonymise every transcript of ``transcripts_dir`` into ``out_dir``.

    Writes ``<session>.txt`` + ``<session>.yml`` (public metadata), the manifest
    ``PSEUDONYMISED.json`` (text hashes) and ``anonymisation_log.json`` (counts only) to
    ``out_dir``; the key goes to ``key_dir`` (outside the repository; default
    :func:`default_key_dir`). An existing key there is reused so pseudonyms stay stable.
    ``protected`` adds words that are never replaced (e.g. every wijk name of the region).
    """
    originals = load_transcripts(transcripts_dir)
    check_transcript_location(transcripts_dir, originals)
    fictional = all(t.metadata.get("fictional") is True for t in originals)
    corpus_name = corpus_name or Path(transcripts_dir).resolve().name
    key_dir = Path(key_dir) if key_dir else default_key_dir(corpus_name, fictional)
    key = PseudonymKey.load(key_dir)
    extra = _read_names_file(names_file)
    protected = tuple(protected)
    for t in originals:
        known = {n.strip().casefold() for n in known_names(t.metadata, extra)}
        bad = [p["label"] for p in t.metadata["participants"] if str(p["label"]).strip().casefold() in known]
        if bad:
            raise TranscriptError(f"{t.path}: speaker label(s) {bad} are person names. Use role labels "
                                  f"('Jeugdprofessional 1', 'Ouder 2') and keep names under identifiers.persons.")
    # first pass: detect once per file and collect names across the corpus, so that a name found
    # in one place is replaced wherever else it occurs
    spans = {t.session_id: detect.detect(t.text, bsn_elfproef=bsn_elfproef) for t in originals}
    found: dict[str, set[str]] = {}
    for t in originals:
        collect_names(t.text, spans[t.session_id], t.metadata, protected, found)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    items, log_sessions, manifest, checks = [], {}, {}, {}
    for t in originals:
        text, counts = pseudonymise_text(t.text, t.metadata, key, extra_names=extra, found=found,
                                         protected=protected, bsn_elfproef=bsn_elfproef,
                                         spans=spans[t.session_id])
        meta = public_metadata(t.metadata)
        pt = _make(t.session_id, text, meta, str(t.path))
        (out_dir / f"{t.session_id}.txt").write_text(text, encoding="utf-8")
        (out_dir / f"{t.session_id}.yml").write_text(
            yaml.safe_dump(meta, allow_unicode=True, sort_keys=True), encoding="utf-8")
        manifest[t.session_id] = pt.text_sha256
        log_sessions[t.session_id] = {c: int(counts.get(c, 0)) for c in CATEGORIES}
        flags = detect.residual_flags(text, protected_words(t.metadata, protected))
        if flags or not t.metadata.get("fictional"):
            checks[t.session_id] = {"reasons": dict(sorted(flags.items())) or {"real_transcript": 1}}
        items.append(pt)
    key.save(key_dir)
    log = _log(log_sessions, checks, key, fictional, bsn_elfproef, names_file)
    files.write_json(out_dir / MANIFEST, {"method_version": METHOD_VERSION, "sha256": manifest})
    files.write_json(out_dir / LOG_NAME, log)
    return PseudonymisedCorpus(sorted(items, key=lambda t: t.session_id), out_dir, log)


def _log(log_sessions: dict[str, dict[str, int]], checks: dict[str, Any], key: PseudonymKey, fictional: bool,
         bsn_elfproef: bool, names_file) -> dict[str, Any]:
    """The anonymisation log: counts per kind and session, and what a reader must check; no identifiers."""
    totals = {c: sum(s[c] for s in log_sessions.values()) for c in CATEGORIES}
    return {
        "method_version": METHOD_VERSION,
        "categories": list(CATEGORIES),
        "replacements_per_session": log_sessions,
        "replacements_total": totals,
        "distinct_pseudonyms": {c: len(set(key.mapping.get(c, {}).values())) for c in CATEGORIES},
        "needs_human_check": sorted(checks),
        "human_check_reasons": checks,
        "settings": {"bsn_elfproef": bsn_elfproef, "names_file_used": bool(names_file),
                     "deduce_version": dutch_lists.deduce_version(),
                     "detectors": ["rules: e-mail, phone (any grouping), BSN, postcode (any case and spacing)",
                                   "streets with house number: deduce's street list, street suffixes, "
                                   "'Laan van ...'", "organisations: type word + name, deduce's institution "
                                   "list, capitalised article inside a sentence",
                                   "persons: deduce (first names, surnames, initials, particles), "
                                   "title/relation word + name, Voornaam tussenvoegsel Achternaam",
                                   "every name found is replaced wherever it occurs in the corpus"],
                     "lookup_lists": "shipped in the deduce wheel; nothing is downloaded"},
        "fictional_corpus": fictional,
        "key_location": "outside the repository (path not recorded)",
        "note": "Counts only; this log never contains original identifiers. Pseudonymisation is "
                "automatic: read every transcript listed under needs_human_check (reasons are counts of "
                "suspicious leftovers; real transcripts are always listed) before any quote is published.",
    }

def load_pseudonymised_corpus(folder: str | Path) -> PseudonymisedCorpus:
    """Read a folder written by :func:`pseudonymise_corpus`; refuse folders without a valid manifest."""
    folder = Path(folder)
    man = folder / MANIFEST
    if not man.is_file():
        raise PseudonymisationError(f"{folder} has no {MANIFEST}: it is not a pseudonymised folder. Run "
                                    f"pseudonymise_corpus() on the original transcripts first.")
    hashes = json.loads(man.read_text(encoding="utf-8"))["sha256"]
    items = []
    for session_id in sorted(hashes):
        txt = folder / f"{session_id}.txt"
        side = folder / f"{session_id}.yml"
        if not txt.is_file() or not side.is_file():
            raise PseudonymisationError(f"{folder}: {txt.name} or {side.name} listed in {MANIFEST} is missing.")
        text = txt.read_text(encoding="utf-8")
        if hashlib.sha256(text.encode("utf-8")).hexdigest() != hashes[session_id]:
            raise PseudonymisationError(f"{txt}: text differs from the hash in {MANIFEST}; the file was edited "
                                        f"after pseudonymisation. Re-run pseudonymise_corpus().")
        meta = yaml.safe_load(side.read_text(encoding="utf-8")) or {}
        validate_metadata(meta, side)
        items.append(_make(session_id, text, meta, str(txt)))
    log_file = folder / LOG_NAME
    log = json.loads(log_file.read_text(encoding="utf-8")) if log_file.is_file() else {}
    return PseudonymisedCorpus(items, folder, log)
