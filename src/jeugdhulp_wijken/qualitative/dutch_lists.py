"""Dutch name, street and institution knowledge for the pseudonymiser, from ``deduce``.

`deduce <https://github.com/vmenger/deduce>`_ (Menger et al. 2018) de-identifies Dutch text.
Its lookup lists (first names, surnames, particles, place names, streets, care institutions)
ship inside its wheel under ``deduce/data/lookup/src``; nothing is downloaded, ever.

Deduce turns those lists into lookup tries on first use and caches them. For the two largest
lists (all Dutch street names, ~310,000, and care institutions, ~49,000) that takes minutes
and a 60 MB cache that is slow to load, which no test suite or notebook can afford. So this
module splits the work:

* **names** (and deduce's phone, e-mail and BSN rules): a :class:`deduce.Deduce` built on a
  local copy of deduce's lookup folder in which the street and institution lists are empty
  (the route deduce's documentation gives for changed lookup data). It is built once per
  deduce version into :func:`cache_dir` (a few seconds) and loaded from there afterwards;
* **streets and institutions**: the same shipped lists read as plain phrase sets (under a
  second) and matched by :func:`phrase_spans`, with the house-number and context rules of
  :mod:`.detect`.

Deduce sets up root logging at DEBUG level when imported; :func:`_import_deduce` keeps the
caller's logging configuration as it was.
"""
from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Iterable, Iterator

#: The lists that deduce would turn into slow tries; read as phrase sets here instead.
PHRASE_LISTS = {"street": "locations/lst_street", "institution": "institutions/lst_healthcare_institution"}
#: Deduce tags that mean "a person" (its person annotations are normalised to these).
PERSON_TAGS = ("persoon", "patient")
_TOKEN = re.compile(r"[\w'’.\-]+", re.UNICODE)


def _import_deduce():
    root = logging.getLogger()
    guard = None
    if not root.handlers:  # deduce calls logging.basicConfig(level=DEBUG) on import
        guard = logging.NullHandler()
        root.addHandler(guard)
    try:
        import deduce
        import deduce.deduce as deduce_module
    finally:
        if guard is not None:
            root.removeHandler(guard)
    return deduce, deduce_module


def deduce_version() -> str:
    return metadata.version("deduce")


def source_lookup_dir() -> Path:
    """deduce's shipped lookup folder (``.../deduce/data/lookup``)."""
    _, module = _import_deduce()
    return Path(module._LOOKUP_LIST_PATH)


def cache_dir() -> Path:
    """Where the trimmed deduce lookup folder is built: ``$JHW_CACHE_DIR`` or the user cache."""
    base = os.environ.get("JHW_CACHE_DIR") or os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    sub = "" if os.environ.get("JHW_CACHE_DIR") else "jeugdhulp_wijken"
    return Path(base).expanduser() / sub / f"deduce-{deduce_version()}"


def build_trimmed_lookup(target: Path | None = None) -> Path:
    """Copy deduce's lookup lists to ``target`` with the phrase lists emptied, and build the cache.

    Built in a temporary folder beside the target and moved in place, so concurrent processes
    never see half a folder. Returns the folder (unchanged when it already exists).
    """
    target = Path(target) if target else cache_dir()
    if (target / "cache").is_dir():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError:  # no writable user cache: build in the temporary folder instead
        target = Path(tempfile.gettempdir()) / "jeugdhulp_wijken" / target.name
        if (target / "cache").is_dir():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=target.parent))
    try:
        lookup = work / "lookup"
        shutil.copytree(source_lookup_dir(), lookup,
                        ignore=lambda d, names: [n for n in names if n in ("__pycache__", "cache")])
        for rel in PHRASE_LISTS.values():
            folder = lookup / "src" / rel
            shutil.rmtree(folder)
            folder.mkdir()
            (folder / "items.txt").write_text("", encoding="utf-8")
        _construct(lookup)  # builds lookup/cache/lookup_structs.pickle
        try:
            os.replace(lookup, target)
        except OSError:
            if not (target / "cache").is_dir():  # another process won the race: fine
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _construct(lookup: Path):
    deduce, _ = _import_deduce()
    logger = logging.getLogger()
    level = logger.level
    try:
        return deduce.Deduce(lookup_data_path=lookup, cache_path=lookup)
    finally:
        logger.setLevel(level)


@functools.lru_cache(maxsize=1)
def deducer():
    """The process-wide :class:`deduce.Deduce` instance on the trimmed lookup folder."""
    return _construct(build_trimmed_lookup())


def deduce_annotations(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, tag)`` of every annotation deduce makes in ``text``."""
    doc = deducer().deidentify(text)
    return sorted((a.start_char, a.end_char, a.tag) for a in doc.annotations)


def _read_list(folder: Path) -> set[str]:
    """Items of a deduce list folder and its ``lst_*`` sub-lists, minus each folder's exceptions."""
    items: set[str] = set()
    for f in sorted(folder.glob("*.txt")):
        if f.name != "exceptions.txt":
            items.update(ln.strip() for ln in f.read_text(encoding="utf-8").splitlines() if ln.strip())
    exc = folder / "exceptions.txt"
    if exc.is_file():
        items -= {ln.strip() for ln in exc.read_text(encoding="utf-8").splitlines()}
    for sub in sorted(folder.glob("lst_*")):
        items |= _read_list(sub)
    return items


@functools.lru_cache(maxsize=None)
def phrases(kind: str) -> frozenset[str]:
    """A shipped deduce list as case-folded phrases (``"street"`` or ``"institution"``)."""
    items = _read_list(source_lookup_dir() / "src" / PHRASE_LISTS[kind])
    if kind == "institution":  # single words are too often ordinary words ("Zorgmoment")
        items = {i for i in items if len(i.split()) >= 2}
    return frozenset(" ".join(i.split()).casefold() for i in items)


@functools.lru_cache(maxsize=None)
def word_set(rel: str) -> frozenset[str]:
    """Any shipped deduce list (``names/lst_first_name``, ``whitelist/lst_common_word``...), case-folded."""
    return frozenset(i.casefold() for i in _read_list(source_lookup_dir() / "src" / rel))


def tokens(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in _TOKEN.finditer(text)]


def phrase_spans(text: str, kind: str, *, max_tokens: int = 7, min_tokens: int = 1,
                 capitalised: bool = True) -> Iterator[tuple[int, int]]:
    """Longest matches of the phrase list ``kind`` in ``text`` (token boundaries, case-folded).

    With ``capitalised`` the first token must start with an upper-case letter or a digit.
    """
    table = phrases(kind)
    toks = tokens(text)
    i = 0
    while i < len(toks):
        hit = None
        first = text[toks[i][0]]
        if not capitalised or first.isupper() or first.isdigit():
            for n in range(min(max_tokens, len(toks) - i), min_tokens - 1, -1):
                start, end = toks[i][0], toks[i + n - 1][1]
                candidate = " ".join(text[start:end].split()).casefold().rstrip(".")
                if candidate in table:
                    hit = (start, start + len(text[start:end].rstrip(".")), n)
                    break
        if hit:
            yield hit[0], hit[1]
            i += hit[2]
        else:
            i += 1


def is_known(word: str, lists: Iterable[str]) -> bool:
    w = word.casefold()
    return any(w in word_set(rel) for rel in lists)
