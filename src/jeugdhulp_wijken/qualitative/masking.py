"""Replacing identifiers in one text: the study's own words, listed names, propagation and the key.

:mod:`.detect` proposes spans; this module

1. drops spans that are the study's own words (:func:`protected_words`: the gemeente and wijken
   of the sidecar, the study-area gemeenten, institutional terms, every code name of the packaged
   codebooks, and any ``protected`` terms the caller adds), Dutch place names and common words;
2. adds the identifiers listed in the sidecar (``identifiers.persons``, ``.streets``,
   ``.organisations``) and in a names file;
3. propagates every person and organisation name found anywhere in the corpus to all its
   occurrences, and the parts of a person's name (``Bakker`` of ``Sanne Bakker``) too, sharing
   the full name's pseudonym;
4. resolves overlaps and replaces each span by a stable pseudonym ``[CATEGORY-NN]``.
"""
from __future__ import annotations

import functools
import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .. import files
from .. import paths
from . import detect
from .errors import PseudonymisationError

CATEGORIES = ("EMAIL", "TELEFOON", "BSN", "POSTCODE", "ADRES", "STRAAT", "ORGANISATIE", "PERSOON")
NAMED = ("PERSOON", "ORGANISATIE")
KEY_NAME = "pseudonym_key.json"
METHOD_VERSION = "2.0"
#: Place names of the study area, protected wherever they occur (also inside a longer candidate).
STUDY_AREA_PLACES = ("Den Haag", "'s-Gravenhage", "Delft", "Zoetermeer", "Rijswijk", "Westland", "Wassenaar",
                     "Leidschendam-Voorburg", "Midden-Delfland", "Pijnacker-Nootdorp", "Voorschoten", "Haaglanden",
                     "Nederland")
NEVER_REPLACE = {p.casefold() for p in STUDY_AREA_PLACES} | {
    "cjg", "veilig thuis", "ggz", "jeugd-ggz", "j-ggz", "delft support", "de haagse hogeschool",
    "haagse hogeschool", "jgz", "poh", "smw", "ib", "ggd", "ggd haaglanden", "scp", "cbs", "wijkteam",
    "kind", "ouders", "school", "wijk", "buurt", "jeugdhulp", "de", "het", "een", "ik", "we", "wij",
    "die", "dat", "zij", "hij", "ze", "er", "en", "ook", "dan", "maar", "nee", "ja", "jeugdhulp in de wijken",
    "rondom het kind", "centrum voor jeugd en gezin", "jeugdzorg",
}


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip()).casefold()


def _key(category: str, original: str) -> str:
    """The key under which an original is stored: numbers and postcodes without separators."""
    if category in ("TELEFOON", "BSN", "POSTCODE"):
        digits = re.sub(r"[^0-9a-z]", "", original.casefold())
        return re.sub(r"^(?:0031|31)", "0", digits) if category == "TELEFOON" else digits
    return _norm(original)


def check_outside_repository(path: str | Path, what: str = "The pseudonymisation key") -> Path:
    """Refuse a location inside the repository: keys and originals never enter the tree."""
    p = Path(path).expanduser().resolve()
    root = paths.ROOT.resolve()
    if p == root or root in p.parents:
        raise PseudonymisationError(f"{what} must be stored outside the repository, but {p} is inside "
                                    f"{root}. Pass key_dir pointing elsewhere (e.g. ~/.jeugdhulp_wijken/keys).")
    return p


@dataclass
class PseudonymKey:
    """Original -> pseudonym per category (normalised originals)."""

    mapping: dict[str, dict[str, str]] = field(default_factory=lambda: {c: {} for c in CATEGORIES})

    def pseudonym(self, category: str, original: str, *, alias_of: str | None = None) -> str:
        table = self.mapping.setdefault(category, {})
        key = _key(category, original)
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
        files.write_json(target, {"version": METHOD_VERSION, "mapping": self.mapping})
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


@functools.lru_cache(maxsize=1)
def codebook_words() -> frozenset[str]:
    """Names (nl and en) of every code of the packaged codebooks, whole and word by word."""
    from .codebook import PACKAGED, load_codebook

    words: set[str] = set()
    for name in PACKAGED:
        for code in load_codebook(name).codes.values():
            for label in (code.name, code.name_en):
                words.add(_norm(label))
                words.update(w for w in re.findall(r"[\w\-]+", label.casefold()) if len(w) >= 4)
    return frozenset(words)


def protected_words(meta: dict[str, Any], extra: Iterable[str] = ()) -> set[str]:
    """The study's own words for one transcript (normalised)."""
    allow = set(NEVER_REPLACE) | codebook_words()
    allow.add(_norm(str(meta.get("gemeente", ""))))
    for w in list(meta.get("wijken") or []) + list(extra):
        allow.add(_norm(str(w)))
        allow.update(_norm(part) for part in re.split(r"[/,]", str(w)))
    allow.update(_norm(str(p.get("label", ""))) for p in meta.get("participants") or [])
    allow.update(_norm(str(p.get("role", ""))) for p in meta.get("participants") or [])
    allow.discard("")
    return allow


def protected_places(meta: dict[str, Any], extra: Iterable[str] = ()) -> list[str]:
    """Place names that no replacement may touch, not even in part: the study area's gemeenten,
    the gemeente and wijken of the sidecar and the caller's ``protected`` words."""
    names = {*STUDY_AREA_PLACES, str(meta.get("gemeente", "")), *map(str, meta.get("wijken") or []), *map(str, extra)}
    return sorted((n.strip() for n in names if len(n.strip()) >= 3), key=len, reverse=True)


def place_ranges(text: str, places: Iterable[str]) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for p in places
            for m in re.finditer(rf"(?<![\w\-]){re.escape(p)}(?![\w\-])", text)]


def known_names(meta: dict[str, Any], extra_names: Iterable[str]) -> list[str]:
    ids = meta.get("identifiers") or {}
    names = [str(n) for n in (ids.get("persons") or [])]
    names += [str(p["name"]) for p in meta.get("participants") or [] if p.get("name")]
    names += [str(n) for n in extra_names]
    return [n for n in names if n.strip()]


def name_parts(full: str) -> list[str]:
    tokens = [t for t in re.split(r"\s+", full.strip()) if t]
    return [t for t in tokens if t.lower() not in detect.PARTICLES and len(t) >= 3 and t[0].isupper()]


def _literal(term: str) -> re.Pattern:
    return re.compile(rf"(?<![\w\-]){re.escape(term)}(?![\w\-])", re.IGNORECASE)


def _is_study_word(name: str, category: str, allow: set[str]) -> bool:
    """A candidate name that is one of the study's own words, a place or (single word) a common word."""
    n = _norm(name)
    if n in allow or n in detect.NOT_NAMES:
        return True
    parts = name_parts(name) or [name]
    if all(_norm(p) in allow or _norm(p) in detect.NOT_NAMES for p in parts):
        return True
    if detect.is_place(name):
        return True
    if category == "PERSOON" and len(name.split()) == 1 and detect.is_common_word(name):
        return True
    return False


@dataclass(frozen=True)
class Candidate:
    span: detect.Span
    original: str
    alias: str | None  # the full name whose pseudonym this span shares


def _detected(text: str, spans: Iterable[detect.Span], meta: dict[str, Any],
              protected: Iterable[str]) -> list[Candidate]:
    """Detector spans that survive the study-word and protected-place filters."""
    allow = protected_words(meta, protected)
    places = place_ranges(text, protected_places(meta, protected))
    out = []
    for s in spans:
        original = s.text(text)
        if s.category in NAMED + ("STRAAT", "ADRES"):
            if _is_study_word(original, s.category, allow) or \
                    any(s.start < b and s.end > a for a, b in places):
                continue
        out.append(Candidate(s, original, original if s.category in NAMED else None))
    return out


def collect_names(text: str, spans: Iterable[detect.Span], meta: dict[str, Any], protected: Iterable[str],
                  found: dict[str, set[str]]) -> None:
    """Add the person and organisation names detected in ``text`` to ``found`` (for propagation)."""
    for c in _detected(text, spans, meta, protected):
        if c.span.category in NAMED and c.original.strip():
            found.setdefault(c.span.category, set()).add(c.original.strip())


def candidates(text: str, spans: Iterable[detect.Span], meta: dict[str, Any], *, extra_names: Iterable[str] = (),
               found: dict[str, set[str]] | None = None, protected: Iterable[str] = ()) -> list[Candidate]:
    """Every span to replace in ``text`` before overlap resolution."""
    allow = protected_words(meta, protected)
    out = _detected(text, spans, meta, protected)
    ids = meta.get("identifiers") or {}
    for street in sorted((str(x) for x in ids.get("streets") or []), key=len, reverse=True):
        for m in re.finditer(rf"(?<![\w]){re.escape(street)}(?:\s+{detect.HOUSE_NUMBER})?(?![\w])", text,
                             re.IGNORECASE):
            cat = "ADRES" if len(m.group()) > len(street) else "STRAAT"
            out.append(Candidate(detect.Span(m.start(), m.end(), cat, 4, "listed"), m.group(), None))
    listed = [("PERSOON", n) for n in known_names(meta, extra_names)]
    listed += [("ORGANISATIE", str(n)) for n in ids.get("organisations") or []]
    for cat, full in sorted(set(listed), key=lambda x: (-len(x[1]), x)):
        terms = [full, *name_parts(full)] if cat == "PERSOON" else [full]
        for term in terms:
            for m in _literal(term).finditer(text):
                out.append(Candidate(detect.Span(m.start(), m.end(), cat, 5, "listed"), m.group(), full))
    places = place_ranges(text, protected_places(meta, protected))
    for cat in NAMED:
        for full in sorted((found or {}).get(cat, ()), key=lambda x: (-len(x), x)):
            terms = [full]
            if cat == "PERSOON":
                terms += [p for p in name_parts(full) if not _is_study_word(p, cat, allow)]
            for term in terms:
                for m in _literal(term).finditer(text):
                    if m.group()[0].isupper() and all(m.end() <= a or m.start() >= b for a, b in places):
                        out.append(Candidate(detect.Span(m.start(), m.end(), cat, 9 if cat == "PERSOON" else 10,
                                                         "propagated"), m.group(), full))
    return out


def resolve(cands: Iterable[Candidate]) -> list[Candidate]:
    """Non-overlapping candidates: lower priority number first, then the longer span, then the earlier."""
    chosen: list[Candidate] = []
    for c in sorted(cands, key=lambda c: (c.span.priority, -(c.span.end - c.span.start), c.span.start)):
        if all(c.span.end <= o.span.start or c.span.start >= o.span.end for o in chosen):
            chosen.append(c)
    return sorted(chosen, key=lambda c: c.span.start)


def replace(text: str, chosen: list[Candidate], key: PseudonymKey) -> tuple[str, Counter, Counter]:
    """Apply resolved candidates; returns the text, counts per category and counts per detector."""
    counts: Counter = Counter()
    sources: Counter = Counter()
    out, last = [], 0
    for c in chosen:
        s = c.span
        if c.alias is not None and _norm(c.alias) != _norm(c.original):
            pseud = key.pseudonym(s.category, c.original, alias_of=key.pseudonym(s.category, c.alias))
        else:
            pseud = key.pseudonym(s.category, c.original)
        out += [text[last:s.start], pseud]
        counts[s.category] += 1
        sources[s.source] += 1
        last = s.end
    out.append(text[last:])
    return "".join(out), counts, sources


def pseudonymise_text(text: str, meta: dict[str, Any], key: PseudonymKey, *, extra_names: Iterable[str] = (),
                      found: dict[str, set[str]] | None = None, protected: Iterable[str] = (),
                      bsn_elfproef: bool = False, spans: list[detect.Span] | None = None) -> tuple[str, Counter]:
    """Replace identifiers in one ``text``; returns the new text and replacement counts per category.

    ``found`` holds names detected elsewhere in the corpus; names detected here are added to it.
    """
    spans = detect.detect(text, bsn_elfproef=bsn_elfproef) if spans is None else spans
    found = found if found is not None else {}
    collect_names(text, spans, meta, protected, found)
    chosen = resolve(candidates(text, spans, meta, extra_names=extra_names, found=found, protected=protected))
    new, counts, _ = replace(text, chosen, key)
    return new, counts
