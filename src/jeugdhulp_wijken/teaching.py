"""The teaching side of the notebooks: the lesson skeleton, the exercises and their answers, the language.

Every notebook is a lesson with the sections of :data:`SKELETON` (Leerdoelen, Voorkennis with an estimated
time, steps each followed by "Zo lees je dit", Probeer zelf, Kernpunten, Verder lezen).

Exercises whose answers cannot go stale. The exercises of all notebooks are listed in
``data/exercises.yml``. In the notebook each exercise's folded answer::

    <details><summary>Antwoord</summary>
    ... the answer, with the numbers it states ...
    <!-- oefening: kwal_niveau_code -->
    </details>

carries a marker with the exercise id. For every exercise the YAML gives ``expect``: the values the
answer states, each with the text the answer prints (``text: "0,78"``) and how the value is printed
(``format``); ``tests/test_exercises.py`` runs the exercise's variant with the package and checks
that the freshly computed value, printed the same way, is still exactly that text, and that the text
is in the answer. A changed model, rule or data set that moves an answer makes the test fail.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import files, paths

EXERCISES_FILE = paths.PACKAGE / "data" / "exercises.yml"

#: The sections every notebook has, as Markdown headings (level 2), in this order.
SKELETON = ("Leerdoelen", "Voorkennis", "Probeer zelf", "Kernpunten", "Verder lezen")
READING_AID = "Zo lees je dit"

_MARKER = re.compile(r"<!--\s*oefening:\s*([A-Za-z0-9_]+)\s*-->")
_DETAILS = re.compile(r"<details>\s*<summary>\s*Antwoord\s*</summary>(.*?)</details>", re.S | re.I)
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*$", re.M)
_WORD = re.compile(r"[A-Za-zÀ-ÿ']+")

#: Frequent function words; a Dutch text uses many more of the first set than of the second.
DUTCH_WORDS = frozenset(
    "de het een en van in is dat op te zijn met voor niet aan er als bij ook door om dan of wat wordt worden "
    "naar hoe je we ze die dit deze meer dan geen nog uit over kan zo maar hun wel tot omdat want waar welke "
    "wie hier daar al zich heeft hebben was werd elke elk per tussen onder binnen zonder veel minder".split())
ENGLISH_WORDS = frozenset(
    "the a an and of in is that on to are with for not at there as by also or what which how we they this "
    "these more than no yet out about can so but their well until because where who here has have was were "
    "each every per between under within without many less be it its from into when".split())
DUTCH_WORDS, ENGLISH_WORDS = DUTCH_WORDS - ENGLISH_WORDS, ENGLISH_WORDS - DUTCH_WORDS  # only telling words


NUMBER_WORDS = ("nul", "één", "twee", "drie", "vier", "vijf", "zes", "zeven", "acht", "negen", "tien", "elf", "twaalf")


@dataclass(frozen=True)
class Exercise:
    id: str
    notebook: str
    question: str
    data: str                                   # examples | synthetic | real
    variant: dict = field(default_factory=dict)
    expect: dict = field(default_factory=dict)  # name -> {text, format} or {min, max, equals}


def load_exercises(path: str | Path = EXERCISES_FILE) -> list[Exercise]:

    doc = files.load_yaml(Path(path).read_text(encoding="utf-8")) or {}
    out = []
    for raw in doc.get("exercises") or []:
        missing = [k for k in ("id", "notebook", "question", "data", "expect") if k not in raw]
        if missing:
            raise ValueError(f"{path}: exercise {raw.get('id', '?')} lacks {missing}.")
        out.append(Exercise(raw["id"], raw["notebook"], raw["question"], raw["data"],
                            dict(raw.get("variant") or {}), dict(raw["expect"])))
    ids = [e.id for e in out]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: exercise ids must be unique.")
    return out


def markdown_cells(nb_path: str | Path) -> list[str]:
    nb = json.loads(Path(nb_path).read_text(encoding="utf-8"))
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in nb["cells"] if c["cell_type"] == "markdown"]


def answers(nb_path: str | Path) -> dict[str, str]:
    """Exercise id -> the text of its folded answer (``<details><summary>Antwoord</summary>``)."""
    out: dict[str, str] = {}
    for text in markdown_cells(nb_path):
        for block in _DETAILS.findall(text):
            for ex_id in _MARKER.findall(block):
                if ex_id in out:
                    raise ValueError(f"{Path(nb_path).name}: exercise '{ex_id}' has two answers.")
                out[ex_id] = block
    return out


def folded_answers(nb_path: str | Path) -> int:
    """The number of folded answers in a notebook (with or without a marker)."""
    return sum(len(_DETAILS.findall(t)) for t in markdown_cells(nb_path))


def headings(nb_path: str | Path) -> list[tuple[int, str]]:
    """(level, text) of every Markdown heading, in order."""
    return [(len(h), t.strip()) for text in markdown_cells(nb_path) for h, t in _HEADING.findall(text)]


def render(value: Any, spec: dict) -> str:
    """``value`` printed as the answer prints it: ``format`` decimal (default; decimals as in ``text``),
    pct (percent units, '11,7%'), share (a fraction, '38%'), integer ('2.918'), signed ('+0,14', '-0,67')
    word ('twee'; capitalised as in ``text``) or text."""
    from .report import fmt

    kind = spec.get("format", "decimal")
    text = str(spec.get("text", ""))
    digits = re.search(r",(\d+)", text)
    decimals = len(digits.group(1)) if digits else 0
    if kind == "text":
        return str(value)
    if kind == "integer":
        return fmt.integer(value)
    if kind == "pct":
        return fmt.pct(value, decimals)
    if kind == "share":
        return fmt.share(value, decimals)
    if kind == "decimal":
        return fmt.decimal(value, decimals)
    if kind == "word":
        word = NUMBER_WORDS[int(value)]
        return word.capitalize() if text[:1].isupper() else word
    if kind == "signed":
        return fmt.decimal(value, decimals, signed=True)
    raise ValueError(f"exercises.yml: unknown format '{kind}' (decimal, pct, share, integer, signed, word, text).")


def check(value: Any, spec: dict) -> str | None:
    """None if ``value`` meets ``spec``, else what is wrong."""
    if "text" in spec:
        got = render(value, spec)
        return None if got == str(spec["text"]) else f"computed {got!r} ({value!r}), the answer says {spec['text']!r}"
    if "equals" in spec and value != spec["equals"]:
        return f"computed {value!r}, expected {spec['equals']!r}"
    if "min" in spec and not value >= spec["min"]:
        return f"computed {value!r}, expected at least {spec['min']!r}"
    if "max" in spec and not value <= spec["max"]:
        return f"computed {value!r}, expected at most {spec['max']!r}"
    return None


def language_shares(text: str) -> tuple[float, float, int]:
    """(share of Dutch function words, share of English function words, number of words) of a text,
    without code (inline and fenced), URLs, HTML tags and identifiers in backticks."""
    text = re.sub(r"```.*?```", " ", text, flags=re.S)
    text = re.sub(r"`[^`]*`", " ", text)
    text = re.sub(r"<[^>]+>|https?://\S+|\([^)]*\.(?:md|ipynb|html)\)", " ", text)
    words = [w.lower() for w in _WORD.findall(text)]
    if not words:
        return 0.0, 0.0, 0
    return (sum(w in DUTCH_WORDS for w in words) / len(words),
            sum(w in ENGLISH_WORDS for w in words) / len(words), len(words))
