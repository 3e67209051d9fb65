"""Transcripts with speaker turns and a metadata sidecar.

File format
-----------
A transcript is a UTF-8 Markdown or plain-text file ``<name>.md`` / ``<name>.txt`` with a
sidecar ``<name>.yml`` beside it. Lines before the first turn are a header (title, remarks).
A *turn* starts on a line in one of two forms::

    **[Jeugdprofessional 1]:** Wat we in de wijk zien is ...
    JEUGDPROFESSIONAL 1: Wat we in de wijk zien is ...

and runs until the next turn. Continuation lines belong to the current turn. Every speaker
label must be declared in the sidecar's ``participants`` (matching ignores case). Labels are
*roles with a number*, never names (pseudonymisation would otherwise break the turn structure).
In case reviews (Rondom het Kind) a turn is a timeline entry and the label names the person the
entry is about (``MOEDER``, ``KIND-1``).

Sidecar (all keys required unless marked optional)::

    session_id: DH1                  # unique in the corpus; letters, digits, '-' and '_'
    type: groepsgesprek              # groepsgesprek | interview | casusreview
    gemeente: Den Haag
    wijken: [Laak, Escamp]           # wijk(en) discussed; may be empty only for interviews
    date: 2020-03-12
    fictional: true                  # true for the shipped example corpus; false for real data
    participants:
      - {label: Gespreksleider, role: onderzoeker}
      - {label: Jeugdprofessional 1, role: jeugdprofessional}
    gemeente_code: GM0518            # optional
    identifiers:                     # optional, private: names/streets the pseudonymiser must
      persons: [...]                 # replace; never copied to the pseudonymised output
      streets: [...]

Offsets are character offsets (Python ``str`` indices, i.e. Unicode code points, as in REFI-QDA)
into the text after line endings are normalised to ``\\n``.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import TranscriptError
from .yamlfile import load_unique

REQUIRED_KEYS = ("session_id", "type", "gemeente", "wijken", "date", "fictional", "participants")
SESSION_TYPES = ("groepsgesprek", "interview", "casusreview")
TEXT_SUFFIXES = (".md", ".txt")
BOLD_TURN = re.compile(r"^\*\*\[(?P<label>[^\]\n]{1,60})\]:?\*\*:?[ \t]*")
PLAIN_TURN = re.compile(r"^(?P<label>[A-Za-zÀ-ÿ][\w .\-'À-ÿ]{0,59}?):(?:[ \t]+|$)")
#: A line that starts like a speaker label in markup: ``**(Ouder 1):**``, ``**Ouder 1:**``, ``[Ouder 1]:``.
MARKUP_LABEL = re.compile(r"^\s*(?:\*\*|__)?\s*[\[(]?\s*(?P<label>[^\s\[\]():*][^\[\]():*\n]{0,58}?)\s*[\])]?"
                          r"\s*(?:(?:\*\*|__)\s*:|:\s*(?:\*\*|__)|[\])]\s*:)")
#: Role words that, followed by ``:`` (and perhaps a number), are a speaker label in plain form.
ROLE_WORDS = ("ouder", "moeder", "vader", "kind", "jongere", "jeugdprofessional", "professional", "gespreksleider",
              "interviewer", "onderzoeker", "respondent", "deelnemer", "leerkracht", "docent", "wijkagent",
              "jeugdagent", "begeleider", "intern begeleider", "coach", "hulpverlener", "moderator", "spreker",
              "huisarts", "poh", "smw", "ib'er", "ib", "jgz", "cjg", "medewerker", "zoon", "dochter", "opa", "oma")
ROLE_LABEL = re.compile(rf"^\s*(?P<label>(?i:{'|'.join(ROLE_WORDS)})(?:[ \-]?\d{{1,2}}|[ \-][A-Z])?)\s*:", re.UNICODE)
SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


@dataclass(frozen=True)
class Turn:
    """One speaker turn: ``start``/``end`` span the whole turn, ``text_start`` skips the label."""

    index: int
    label: str
    role: str
    start: int
    text_start: int
    end: int
    line: int


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def sidecar_path(text_path: Path) -> Path:
    return text_path.with_suffix(".yml")


def read_metadata(text_path: str | Path) -> dict[str, Any]:
    """Read and validate the sidecar of a transcript; refuse missing or empty required keys."""
    text_path = Path(text_path)
    side = sidecar_path(text_path)
    if not side.is_file():
        raise TranscriptError(f"{text_path}: metadata sidecar {side.name} is missing. Every transcript "
                              f"needs a YAML sidecar with {list(REQUIRED_KEYS)}.")
    meta = load_unique(side, TranscriptError) or {}
    if not isinstance(meta, dict):
        raise TranscriptError(f"{side}: expected a mapping of metadata keys.")
    validate_metadata(meta, side)
    return meta


def validate_metadata(meta: dict[str, Any], where: str | Path) -> None:
    missing = [k for k in REQUIRED_KEYS if k not in meta or meta[k] is None
               or (isinstance(meta[k], str) and not meta[k].strip())]
    if missing:
        raise TranscriptError(f"{where}: required metadata missing or empty: {missing}. "
                              f"Fill them in (see jeugdhulp_wijken.qualitative.transcripts for the format).")
    if not SESSION_ID.match(str(meta["session_id"])):
        raise TranscriptError(f"{where}: session_id '{meta['session_id']}' may hold only letters, digits, "
                              f"'-' and '_' (max 40).")
    if meta["type"] not in SESSION_TYPES:
        raise TranscriptError(f"{where}: type '{meta['type']}' is not one of {list(SESSION_TYPES)}.")
    if not isinstance(meta["fictional"], bool):
        raise TranscriptError(f"{where}: 'fictional' must be true or false.")
    if not isinstance(meta["wijken"], list) or (not meta["wijken"] and meta["type"] == "groepsgesprek"):
        raise TranscriptError(f"{where}: 'wijken' must be a list of the wijk names discussed "
                              f"(non-empty for a groepsgesprek).")
    date = meta["date"]
    if isinstance(date, str):
        try:
            dt.date.fromisoformat(date)
        except ValueError:
            raise TranscriptError(f"{where}: date '{date}' is not an ISO date (YYYY-MM-DD).") from None
    elif not isinstance(date, dt.date):
        raise TranscriptError(f"{where}: date must be an ISO date (YYYY-MM-DD).")
    parts = meta["participants"]
    if not isinstance(parts, list) or not parts:
        raise TranscriptError(f"{where}: 'participants' must be a non-empty list of {{label, role}}.")
    labels = []
    for i, p in enumerate(parts, start=1):
        if not isinstance(p, dict) or not str(p.get("label") or "").strip() or not str(p.get("role") or "").strip():
            raise TranscriptError(f"{where}: participant {i} needs a 'label' and a 'role'.")
        labels.append(str(p["label"]).strip().casefold())
    if len(set(labels)) != len(labels):
        raise TranscriptError(f"{where}: participant labels must be unique.")


def parse_turns(text: str, participants: list[dict[str, Any]], where: str | Path = "") -> list[Turn]:
    """Split ``text`` into speaker turns (see the module docstring for the two line forms)."""
    roles = {str(p["label"]).strip().casefold(): (str(p["label"]).strip(), str(p["role"]).strip())
             for p in participants}
    starts: list[tuple[int, int, str, str, int]] = []  # (start, text_start, label, role, line)
    pos = 0
    for lineno, line in enumerate(text.split("\n"), start=1):
        m = BOLD_TURN.match(line)
        plain = None if m else PLAIN_TURN.match(line)
        if m:
            key = m.group("label").strip().casefold()
            if key not in roles:
                raise TranscriptError(f"{where}, line {lineno}: speaker '{m.group('label')}' is not declared "
                                      f"in the sidecar's participants {[v[0] for v in roles.values()]}.")
            starts.append((pos, pos + m.end(), *roles[key], lineno))
        elif plain and plain.group("label").strip().casefold() in roles:
            label, role = roles[plain.group("label").strip().casefold()]
            starts.append((pos, pos + plain.end(), label, role, lineno))
        elif plain and plain.group("label").isupper() and len(plain.group("label")) > 1:
            raise TranscriptError(f"{where}, line {lineno}: speaker '{plain.group('label')}' is not declared "
                                  f"in the sidecar's participants {[v[0] for v in roles.values()]}.")
        else:
            _refuse_label_like(line, lineno, roles, where)
        pos += len(line) + 1
    turns = []
    for i, (start, text_start, label, role, line) in enumerate(starts):
        stop = starts[i + 1][0] if i + 1 < len(starts) else len(text)
        end = start + len(text[start:stop].rstrip())
        turns.append(Turn(i + 1, label, role, start, min(text_start, end), end, line))
    if not turns:
        raise TranscriptError(f"{where}: no speaker turns found. Start turns with '**[Label]:** text' or "
                              f"'LABEL: text', using labels declared in the sidecar.")
    return turns


def _refuse_label_like(line: str, lineno: int, roles: dict[str, tuple[str, str]], where: str | Path) -> None:
    """A line that looks like a speaker label but is not a valid turn is an error, never a continuation."""
    m = MARKUP_LABEL.match(line)
    if m is not None:
        label = m.group("label").strip()
        bracketed = re.match(r"^\s*(?:\*\*|__)?\s*[\[(]", line) is not None
        if not (bracketed or re.search(r"\d", label) or label.casefold() in roles
                or ROLE_LABEL.match(label + ":")):
            m = None
    m = m or ROLE_LABEL.match(line)
    if m is None:
        return
    declared = [v[0] for v in roles.values()]
    known = m.group("label").strip().casefold() in roles
    hint = (f"write it as '**[{m.group('label').strip()}]:** text'" if known else
            f"declare '{m.group('label').strip()}' in the sidecar's participants {declared}, or use one of them")
    raise TranscriptError(f"{where}, line {lineno}: '{line.strip()[:60]}' looks like a speaker label but is not "
                          f"a valid turn; {hint}. (Lines are never merged into the previous turn silently.)")


@dataclass(frozen=True)
class Transcript:
    """An *original* (not pseudonymised) transcript. Later steps never accept this type."""

    session_id: str
    text: str
    turns: tuple[Turn, ...]
    metadata: dict[str, Any]
    path: Path


def find_transcripts(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise TranscriptError(f"Transcript folder {folder} does not exist. Pass the folder holding your "
                              f"transcripts (e.g. ../private/transcripts) or the example corpus.")
    files = sorted(p for p in folder.iterdir() if p.suffix in TEXT_SUFFIXES and p.is_file()
                   and not p.name.upper().startswith("README"))
    if not files:
        raise TranscriptError(f"{folder}: no transcripts (*.md or *.txt with a .yml sidecar).")
    return files


def load_transcript(path: str | Path) -> Transcript:
    path = Path(path)
    meta = read_metadata(path)
    text = normalise_newlines(path.read_text(encoding="utf-8"))
    turns = parse_turns(text, meta["participants"], path)
    return Transcript(str(meta["session_id"]), text, tuple(turns), meta, path)


def load_transcripts(folder: str | Path) -> list[Transcript]:
    """All transcripts of a folder, sorted by file name; session ids must be unique."""
    out = [load_transcript(p) for p in find_transcripts(folder)]
    seen: dict[str, Path] = {}
    for t in out:
        if t.session_id in seen:
            raise TranscriptError(f"session_id '{t.session_id}' is used by both {seen[t.session_id].name} "
                                  f"and {t.path.name}.")
        seen[t.session_id] = t.path
    return out
