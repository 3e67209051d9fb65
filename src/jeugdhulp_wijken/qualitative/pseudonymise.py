"""Pseudonymisation of transcripts, and the only door through which later steps read text.

What is replaced (category -> pseudonym ``[CATEGORY-NN]``):

* ``EMAIL``: e-mail addresses;
* ``TELEFOON``: Dutch phone numbers (``06-12345678``, ``070 123 4567``, ``+31 6 ...``);
* ``BSN``: BSN-like numbers of nine digits (also ``1234.56.789``); with ``bsn_elfproef=True``
  only numbers that pass the elfproef are treated as BSN (default: every nine-digit number, the
  safer choice);
* ``POSTCODE``: Dutch postcodes (``2521 AB``);
* ``ADRES``: a street name with a house number (``Molenstraat 12a``), for streets recognised by
  their suffix (-straat, -laan, -weg, -plein, -kade, ...) or listed in the sidecar;
* ``STRAAT``: a street name without number, when listed in the sidecar or when a suffix-street
  follows a preposition (``in de Molenstraat``);
* ``PERSOON``: person names listed in the sidecar (``identifiers.persons``) or in a names file,
  plus a heuristic: capitalised names after a title or relation word (``mevrouw Bakker``,
  ``juf Samira``, ``vader Mehmet``) and ``Voornaam tussenvoegsel Achternaam`` patterns
  (``Peter de Vries``). Every name found is then also replaced wherever else it occurs, and
  first and last names of a listed person share that person's pseudonym.

Names of the gemeente and of the wijken in the sidecar are never replaced (they are the
unit of analysis), nor are a few institutional terms.

Pseudonyms are *stable*: one key per corpus maps each original (case-insensitively) to its
pseudonym, numbered deterministically (files in name order; within a file patterns first, then
listed names, then heuristic names, longest first). The key
is written only outside the repository (:func:`check_outside_repository`); the anonymisation
log holds counts per category and session, never originals.

Only :class:`PseudonymisedTranscript` objects reach coding and analysis: they can be created
only by this module (a private token guards the constructor), either by pseudonymising or by
:func:`load_pseudonymised_corpus`, which checks the folder's manifest and text hashes.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import yaml

from .. import paths
from .errors import PseudonymisationError, TranscriptError
from .transcripts import Transcript, Turn, load_transcripts, parse_turns, validate_metadata

CATEGORIES = ("EMAIL", "TELEFOON", "BSN", "POSTCODE", "ADRES", "STRAAT", "PERSOON")
MANIFEST = "PSEUDONYMISED.json"
LOG_NAME = "anonymisation_log.json"
KEY_NAME = "pseudonym_key.json"
METHOD_VERSION = "1.0"
_TOKEN = object()

_LOWER = "a-zà-ÿ"
_NAME = rf"[A-Z][{_LOWER}'\-]+"
_PARTICLE = r"(?:van der|van den|van de|van 't|van|de|den|der|ter|ten|te|el|al|op de|in 't)"
_STREET_SUFFIX = r"(?:straat|laan|weg|plein|kade|gracht|singel|dreef|hof|pad|steeg|dijk|markt|plantsoen|erf|allee|boulevard|wal)"
_BARE_STREET_SUFFIX = r"(?:straat|laan|gracht|singel|dreef|kade|steeg|weg)"
_HOUSE_NUMBER = r"\d{1,4}(?:\s?[a-zA-Z](?![\w])|-\d{1,4})?"
TITLES = (r"mevrouw|meneer|mevr\.|mw\.|dhr\.|de heer|juf|juffrouw|meester|moeder|vader|zoon|dochter|"
          r"buurman|buurvrouw|oma|opa|tante|oom|broer|zus|zusje|broertje|stiefvader|stiefmoeder|"
          r"collega|heet|genaamd|jongen|meisje|leerling")
PATTERNS = {
    "EMAIL": re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    "TELEFOON": re.compile(r"(?<![\w+])(?:\+31|0031|0)(?:[\s.-]?\d){9}(?!\d)"),
    "BSN": re.compile(r"(?<![\d.,\-+])(?:\d{9}|\d{4}\.\d{2}\.\d{3}|\d{3}\.\d{3}\.\d{3}|\d{3} \d{3} \d{3})(?![\d])"),
    "POSTCODE": re.compile(r"\b[1-9]\d{3}\s?[A-Z]{2}\b"),
    "ADRES": re.compile(rf"\b[A-Z][{_LOWER}'\-]*{_STREET_SUFFIX}\s+{_HOUSE_NUMBER}"),
    # a bare street name only after a preposition; the named group 'x' is the part replaced
    "STRAAT": re.compile(rf"\b(?i:aan|op|bij|naar|via|uit|in) (?:de|het) (?P<x>[A-Z][{_LOWER}'\-]*{_BARE_STREET_SUFFIX})\b"),
}
TITLE_NAME = re.compile(rf"(?i:\b(?:{TITLES})),?\s+(?P<name>(?:{_PARTICLE}\s+)?{_NAME}(?:\s+(?:{_PARTICLE}\s+)?{_NAME})?)")
PARTICLE_NAME = re.compile(rf"\b(?P<name>{_NAME}\s+{_PARTICLE}\s+{_NAME})")
NEVER_REPLACE = {
    "den haag", "delft", "zoetermeer", "rijswijk", "westland", "wassenaar", "leidschendam-voorburg",
    "midden-delfland", "pijnacker-nootdorp", "haaglanden", "nederland", "cjg", "veilig thuis", "ggz",
    "jeugd-ggz", "j-ggz", "delft support", "de haagse hogeschool", "jgz", "poh", "smw", "ib",
    "kind", "ouders", "school", "wijk", "buurt", "jeugdhulp", "de", "het", "een", "ik", "we", "wij",
    "die", "dat", "zij", "hij", "ze", "er", "en", "ook", "dan", "maar", "nee", "ja",
}


def check_outside_repository(path: str | Path, what: str = "The pseudonymisation key") -> Path:
    """Refuse a location inside the repository: keys and originals never enter the tree."""
    p = Path(path).expanduser().resolve()
    root = paths.ROOT.resolve()
    if p == root or root in p.parents:
        raise PseudonymisationError(f"{what} must be stored outside the repository, but {p} is inside "
                                    f"{root}. Pass key_dir pointing elsewhere (e.g. ~/.jeugdhulp_wijken/keys).")
    return p


def default_key_dir(corpus_name: str, fictional: bool) -> Path:
    """Default key folder: a temporary folder for the fictional example, else a private home folder."""
    base = Path(tempfile.gettempdir()) / "jeugdhulp_wijken_keys" if fictional \
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


def elfproef(digits: str) -> bool:
    """The BSN eleven-test: sum(d_i * (9 - i), i < 8) - d_8 is divisible by 11 (and not 0)."""
    d = [int(c) for c in re.sub(r"\D", "", digits)]
    if len(d) != 9:
        return False
    total = sum(x * (9 - i) for i, x in enumerate(d[:8])) - d[8]
    return total % 11 == 0 and total != 0


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip()).casefold()


@dataclass
class PseudonymKey:
    """Original -> pseudonym per category (normalised originals), plus the counters."""

    mapping: dict[str, dict[str, str]] = field(default_factory=lambda: {c: {} for c in CATEGORIES})

    def pseudonym(self, category: str, original: str, *, alias_of: str | None = None) -> str:
        table = self.mapping.setdefault(category, {})
        key = _norm(original)
        if key in table:
            return table[key]
        if alias_of is not None:
            table[key] = alias_of
            return alias_of
        n = len(set(table.values())) + 1
        table[key] = f"[{category}-{n:02d}]"
        return table[key]

    def save(self, key_dir: str | Path) -> Path:
        key_dir = check_outside_repository(key_dir)
        key_dir.mkdir(parents=True, exist_ok=True)
        target = key_dir / KEY_NAME
        target.write_text(json.dumps({"version": METHOD_VERSION, "mapping": self.mapping}, ensure_ascii=False,
                                     indent=2, sort_keys=True) + "\n", encoding="utf-8")
        try:
            os.chmod(target, 0o600)
        except OSError:
            pass
        return target

    @classmethod
    def load(cls, key_dir: str | Path) -> "PseudonymKey":
        key_dir = check_outside_repository(key_dir)
        f = key_dir / KEY_NAME
        if not f.is_file():
            return cls()
        doc = json.loads(f.read_text(encoding="utf-8"))
        key = cls()
        for cat, table in (doc.get("mapping") or {}).items():
            key.mapping.setdefault(cat, {}).update(table)
        return key


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


# --------------------------------------------------------------------------- detection

def _known_names(meta: dict[str, Any], extra_names: Iterable[str]) -> list[str]:
    ids = meta.get("identifiers") or {}
    names = [str(n) for n in (ids.get("persons") or [])]
    names += [str(p["name"]) for p in meta.get("participants") or [] if p.get("name")]
    names += [str(n) for n in extra_names]
    return [n for n in names if n.strip()]


def _allowlist(meta: dict[str, Any]) -> set[str]:
    allow = set(NEVER_REPLACE)
    allow.add(_norm(str(meta.get("gemeente", ""))))
    for w in meta.get("wijken") or []:
        allow.add(_norm(str(w)))
        allow.update(_norm(part) for part in re.split(r"[/,]", str(w)))
    allow.update(_norm(str(p.get("label", ""))) for p in meta.get("participants") or [])
    return allow


def _name_parts(full: str) -> list[str]:
    particles = set(_PARTICLE.strip("(?:)").split("|"))
    tokens = [t for t in re.split(r"\s+", full.strip()) if t]
    return [t for t in tokens if t.lower() not in particles and len(t) >= 3 and t[0].isupper()]


def _literal(term: str) -> re.Pattern:
    return re.compile(rf"(?<![\w]){re.escape(term)}(?![\w])", re.IGNORECASE)


def _find_spans(text: str, meta: dict[str, Any], key: PseudonymKey, extra_names: Iterable[str],
                heuristic_names: set[str], bsn_elfproef: bool) -> list[tuple[int, int, str, str]]:
    """Candidate spans (start, end, category, pseudonym), before overlap resolution."""
    allow = _allowlist(meta)
    spans: list[tuple[int, int, str, str]] = []

    def add(start: int, end: int, cat: str, original: str, alias_of: str | None = None) -> None:
        if _norm(original) in allow:
            return
        spans.append((start, end, cat, key.pseudonym(cat, original, alias_of=alias_of)))

    for cat in ("EMAIL", "TELEFOON", "BSN", "POSTCODE", "ADRES", "STRAAT"):
        for m in PATTERNS[cat].finditer(text):
            if cat == "BSN" and bsn_elfproef and not elfproef(m.group()):
                continue
            x = "x" if "x" in m.re.groupindex else 0
            add(m.start(x), m.end(x), cat, m.group(x))
    ids = meta.get("identifiers") or {}
    for street in sorted((str(s) for s in ids.get("streets") or []), key=len, reverse=True):
        for m in re.finditer(rf"(?<![\w]){re.escape(street)}(?:\s+{_HOUSE_NUMBER})?(?![\w])", text, re.IGNORECASE):
            cat = "ADRES" if len(m.group()) > len(street) else "STRAAT"
            add(m.start(), m.end(), cat, m.group())
    # persons: listed names (full name and its parts share one pseudonym), then heuristics
    for full in sorted(set(_known_names(meta, extra_names)), key=len, reverse=True):
        hits = [m for term in [full, *_name_parts(full)] for m in _literal(term).finditer(text)]
        if not hits:
            continue
        pseud = key.pseudonym("PERSOON", full)
        for term in _name_parts(full):
            key.pseudonym("PERSOON", term, alias_of=pseud)
        for m in sorted(hits, key=lambda m: m.start()):
            add(m.start(), m.end(), "PERSOON", m.group(), alias_of=pseud)
    for rx in (TITLE_NAME, PARTICLE_NAME):
        for m in rx.finditer(text):
            name = m.group("name")
            if _norm(name) in allow or any(_norm(p) in allow for p in _name_parts(name)):
                continue
            heuristic_names.add(name)
    for name in sorted(heuristic_names, key=len, reverse=True):
        hits = [m for term in [name, *_name_parts(name)] if _norm(term) not in allow
                for m in _literal(term).finditer(text) if m.group()[0].isupper()]
        if not hits:
            continue
        pseud = key.pseudonym("PERSOON", name)
        for m in sorted(hits, key=lambda m: m.start()):
            add(m.start(), m.end(), "PERSOON", m.group(), alias_of=pseud)
    return spans


def _resolve(spans: list[tuple[int, int, str, str]]) -> list[tuple[int, int, str, str]]:
    """Keep non-overlapping spans: higher-priority category first, then the longer span."""
    prio = {c: i for i, c in enumerate(CATEGORIES)}
    chosen: list[tuple[int, int, str, str]] = []
    for s in sorted(spans, key=lambda s: (prio[s[2]], -(s[1] - s[0]), s[0])):
        if all(s[1] <= c[0] or s[0] >= c[1] for c in chosen):
            chosen.append(s)
    return sorted(chosen)


def pseudonymise_text(text: str, meta: dict[str, Any], key: PseudonymKey, *, extra_names: Iterable[str] = (),
                      heuristic_names: set[str] | None = None, bsn_elfproef: bool = False) -> tuple[str, Counter]:
    """Replace identifiers in ``text``; returns the new text and replacement counts per category."""
    heuristic_names = heuristic_names if heuristic_names is not None else set()
    spans = _resolve(_find_spans(text, meta, key, extra_names, heuristic_names, bsn_elfproef))
    counts: Counter = Counter()
    out, last = [], 0
    for start, end, cat, pseud in spans:
        out.append(text[last:start])
        out.append(pseud)
        counts[cat] += 1
        last = end
    out.append(text[last:])
    return "".join(out), counts


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


def pseudonymise_corpus(transcripts_dir: str | Path, out_dir: str | Path, *, key_dir: str | Path | None = None,
                        names_file: str | Path | None = None, bsn_elfproef: bool = False,
                        corpus_name: str | None = None) -> PseudonymisedCorpus:
    """Pseudonymise every transcript of ``transcripts_dir`` into ``out_dir``.

    Writes ``<session>.txt`` + ``<session>.yml`` (public metadata), the manifest
    ``PSEUDONYMISED.json`` (text hashes) and ``anonymisation_log.json`` (counts only) to
    ``out_dir``; the key goes to ``key_dir`` (outside the repository; default
    :func:`default_key_dir`). An existing key there is reused so pseudonyms stay stable.
    """
    originals = load_transcripts(transcripts_dir)
    check_transcript_location(transcripts_dir, originals)
    fictional = all(t.metadata.get("fictional") is True for t in originals)
    corpus_name = corpus_name or Path(transcripts_dir).resolve().name
    key_dir = Path(key_dir) if key_dir else default_key_dir(corpus_name, fictional)
    key = PseudonymKey.load(key_dir)
    extra = []
    if names_file:
        extra = [ln.strip() for ln in Path(names_file).read_text(encoding="utf-8").splitlines()
                 if ln.strip() and not ln.startswith("#")]
    for t in originals:
        known = {_norm(n) for n in _known_names(t.metadata, extra)}
        bad = [p["label"] for p in t.metadata["participants"] if _norm(str(p["label"])) in known]
        if bad:
            raise TranscriptError(f"{t.path}: speaker label(s) {bad} are person names. Use role labels "
                                  f"('Jeugdprofessional 1', 'Ouder 2') and keep names under identifiers.persons.")
    # first pass collects heuristic names across the corpus so every later occurrence is caught
    heuristic: set[str] = set()
    for t in originals:
        _find_spans(t.text, t.metadata, PseudonymKey(), extra, heuristic, bsn_elfproef)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    items, log_sessions, manifest = [], {}, {}
    for t in originals:
        text, counts = pseudonymise_text(t.text, t.metadata, key, extra_names=extra,
                                         heuristic_names=set(heuristic), bsn_elfproef=bsn_elfproef)
        meta = public_metadata(t.metadata)
        pt = _make(t.session_id, text, meta, str(t.path))
        (out_dir / f"{t.session_id}.txt").write_text(text, encoding="utf-8")
        (out_dir / f"{t.session_id}.yml").write_text(
            yaml.safe_dump(meta, allow_unicode=True, sort_keys=True), encoding="utf-8")
        manifest[t.session_id] = pt.text_sha256
        log_sessions[t.session_id] = {c: int(counts.get(c, 0)) for c in CATEGORIES}
        items.append(pt)
    key.save(key_dir)
    totals = {c: sum(s[c] for s in log_sessions.values()) for c in CATEGORIES}
    log = {
        "method_version": METHOD_VERSION,
        "categories": list(CATEGORIES),
        "replacements_per_session": log_sessions,
        "replacements_total": totals,
        "distinct_pseudonyms": {c: len(set(key.mapping.get(c, {}).values())) for c in CATEGORIES},
        "settings": {"bsn_elfproef": bsn_elfproef, "names_file_used": bool(names_file),
                     "heuristics": ["title/relation word + capitalised name",
                                    "Voornaam tussenvoegsel Achternaam", "street suffix + house number",
                                    "street suffix after preposition"]},
        "fictional_corpus": fictional,
        "key_location": "outside the repository (path not recorded)",
        "note": "Counts only; this log never contains original identifiers. Pseudonymisation is "
                "automatic and must be checked by reading the output before any quote is published.",
    }
    (out_dir / MANIFEST).write_text(json.dumps({"method_version": METHOD_VERSION, "sha256": manifest},
                                               indent=2, sort_keys=True) + "\n", encoding="utf-8")
    (out_dir / LOG_NAME).write_text(json.dumps(log, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                                    encoding="utf-8")
    return PseudonymisedCorpus(sorted(items, key=lambda t: t.session_id), out_dir, log)


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
