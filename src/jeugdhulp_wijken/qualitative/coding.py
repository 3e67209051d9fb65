"""The coding table: coded segments of pseudonymised transcripts.

One row per coded segment::

    segment_id, session, start, end, code_id, coder, date, memo   (+ optional: text, status)

``start``/``end`` are character offsets into the *pseudonymised* text of ``session``
(``end`` exclusive; REFI-QDA ``startPosition``/``endPosition`` use the same convention).
Tables are typed by hand as CSV (one file, or one per coder) or imported from a REFI-QDA
``.qdpx`` project (:func:`jeugdhulp_wijken.qualitative.refi_qda.import_qdpx`).

Hand entry without offsets: leave ``start`` and ``end`` empty and put the exact coded passage
in ``text``; the offsets are then found in the pseudonymised transcript (the passage must occur
exactly once). When ``start``/``end`` *and* ``text`` are given, the text must match the offsets,
which catches tables that no longer fit a re-pseudonymised transcript.

``status`` is ``coded`` (default) for human coding and ``suggestion`` for rows proposed by the
dictionary pre-coder; suggestions never count as human coding until a coder confirms them
(changes the status to ``coded`` and puts their own name as coder).

*Units for agreement.* :func:`unit_matrix` maps segments onto speaker turns: a turn carries
a code for a coder when one of that coder's segments with that code overlaps the turn's text.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Iterable

import pandas as pd

from .codebook import Codebook
from .errors import CodingTableError
from .pseudonymise import PseudonymisedCorpus, require_pseudonymised

COLUMNS = ["segment_id", "session", "start", "end", "code_id", "coder", "date", "memo"]
OPTIONAL = ["text", "status"]
STATUSES = ("coded", "suggestion")
MAX_LISTED = 12


def _fail(source: str, problems: list[str]) -> None:
    if problems:
        more = f"\n  ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        raise CodingTableError(f"{source}: {len(problems)} problem(s) in the coding table:\n  "
                               + "\n  ".join(problems[:MAX_LISTED]) + more)


def read_coding_csv(paths: str | Path | Iterable[str | Path]) -> pd.DataFrame:
    """Read one or more coding CSV files (UTF-8); remembers file and line of every row."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    frames = []
    for p in paths:
        p = Path(p)
        if not p.is_file():
            raise CodingTableError(f"Coding table {p} does not exist.")
        df = pd.read_csv(p, dtype=str, keep_default_na=False, encoding="utf-8")
        missing = [c for c in COLUMNS if c not in df.columns and not (c in ("start", "end") and "text" in df.columns)]
        if missing:
            raise CodingTableError(f"{p}: required column(s) {missing} missing; expected {COLUMNS} "
                                   f"(optional {OPTIONAL}).")
        df["_source"] = p.name
        df["_line"] = range(2, len(df) + 2)
        frames.append(df)
    if not frames:
        raise CodingTableError("No coding files given.")
    return pd.concat(frames, ignore_index=True)


def validate_coding_table(df: pd.DataFrame, codebook: Codebook, corpus: PseudonymisedCorpus,
                          source: str = "coding table") -> pd.DataFrame:
    """Check codes, sessions, offsets, coder and date; fill offsets from ``text`` where needed.

    Every problem is reported with file, line (or row), segment id and code, and all problems
    are listed at once.
    """
    corpus = require_pseudonymised(corpus, "validate_coding_table")
    df = df.copy()
    for c in OPTIONAL + ["start", "end"]:
        if c not in df.columns:
            df[c] = ""
    if "_source" not in df.columns:
        df["_source"] = source
        df["_line"] = range(1, len(df) + 1)
    df = df.fillna("")
    problems: list[str] = []
    starts, ends = [], []
    for _, r in df.iterrows():
        where = f"{r['_source']} line {r['_line']} (segment '{r.get('segment_id', '')}', code '{r.get('code_id', '')}')"
        s = None
        for col in ("segment_id", "session", "code_id", "coder", "date"):
            if not str(r[col]).strip():
                problems.append(f"{where}: '{col}' is empty.")
        code = str(r["code_id"]).strip()
        if code and code not in codebook:
            problems.append(f"{where}: code '{code}' is not in codebook '{codebook.id}'.")
        elif code and not codebook[code].codable:
            problems.append(f"{where}: code '{code}' is a grouping node (codable: false); code on a theme "
                            f"or sub-theme.")
        session = str(r["session"]).strip()
        if session and session not in corpus:
            problems.append(f"{where}: session '{session}' is not in the pseudonymised corpus "
                            f"{corpus.session_ids}.")
        else:
            s = corpus[session] if session else None
        date = str(r["date"]).strip()
        if date:
            try:
                dt.date.fromisoformat(date)
            except ValueError:
                problems.append(f"{where}: date '{date}' is not YYYY-MM-DD.")
        status = str(r["status"]).strip() or "coded"
        if status not in STATUSES:
            problems.append(f"{where}: status '{status}' is not one of {list(STATUSES)}.")
        start, end = str(r["start"]).strip(), str(r["end"]).strip()
        quote = str(r["text"])
        if s is not None and not start and not end:
            if not quote.strip():
                problems.append(f"{where}: give start/end offsets or the coded passage in 'text'.")
                starts.append(None), ends.append(None)
                continue
            n = s.text.count(quote)
            if n != 1:
                problems.append(f"{where}: the passage in 'text' occurs {n} times in session '{session}'; "
                                f"it must occur exactly once (give start/end instead).")
                starts.append(None), ends.append(None)
                continue
            i = s.text.index(quote)
            starts.append(i), ends.append(i + len(quote))
            continue
        try:
            a, b = int(start), int(end)
        except ValueError:
            problems.append(f"{where}: start '{start}' / end '{end}' must be whole numbers.")
            starts.append(None), ends.append(None)
            continue
        if s is not None:
            if not (0 <= a < b <= len(s.text)):
                problems.append(f"{where}: offsets {a}-{b} are out of range for session '{session}' "
                                f"(text length {len(s.text)}; need 0 <= start < end <= length).")
            elif quote and s.text[a:b] != quote:
                problems.append(f"{where}: offsets {a}-{b} do not match the passage in 'text' "
                                f"(the transcript or its pseudonymisation changed?).")
        starts.append(a), ends.append(b)
    dupes = df["segment_id"][df["segment_id"].astype(str).str.strip().duplicated(keep=False)
                             & (df["segment_id"].astype(str).str.strip() != "")]
    for seg in sorted(set(dupes)):
        lines = df.loc[df["segment_id"] == seg, ["_source", "_line"]].astype(str).agg(" line ".join, axis=1)
        problems.append(f"segment_id '{seg}' is used more than once ({', '.join(lines)}).")
    _fail(source, problems)
    df["start"], df["end"] = starts, ends
    df["start"] = df["start"].astype(int)
    df["end"] = df["end"].astype(int)
    df["status"] = df["status"].replace("", "coded")
    df["text"] = [corpus[s].text[a:b] for s, a, b in zip(df["session"], df["start"], df["end"])]
    for c in ("segment_id", "session", "code_id", "coder", "date", "memo"):
        df[c] = df[c].astype(str).str.strip()
    return (df[COLUMNS + OPTIONAL].sort_values(["session", "start", "end", "code_id", "coder"])
            .reset_index(drop=True))


def load_coding_table(paths: str | Path | Iterable[str | Path], codebook: Codebook,
                      corpus: PseudonymisedCorpus) -> pd.DataFrame:
    """Read and validate hand-entered coding CSV file(s)."""
    raw = read_coding_csv(paths)
    names = sorted(set(raw["_source"]))
    return validate_coding_table(raw, codebook, corpus, source=", ".join(names))


def human_coding(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of human coders only (status ``coded``)."""
    return table[table["status"] == "coded"].reset_index(drop=True)


def segment_turns(table: pd.DataFrame, corpus: PseudonymisedCorpus,
                  exclude_roles: Iterable[str] = ("onderzoeker",)) -> pd.DataFrame:
    """Attach each segment to every turn whose text it overlaps (one row per segment x turn).

    Adds ``turn``, ``label``, ``role``, ``gemeente`` and ``type``. Segments in the header
    (before the first turn) get no turn and are dropped; turns of ``exclude_roles``
    (by default the moderator) are not units of analysis.
    """
    corpus = require_pseudonymised(corpus, "segment_turns")
    exclude = set(exclude_roles)
    rows = []
    for r in table.itertuples(index=False):
        t = corpus[r.session]
        for u in t.turns:
            if u.role in exclude:
                continue
            if r.start < u.end and r.end > u.text_start:
                rows.append({**r._asdict(), "turn": u.index, "label": u.label, "role": u.role,
                             "gemeente": t.gemeente, "type": t.metadata["type"]})
    return pd.DataFrame(rows, columns=[*table.columns, "turn", "label", "role", "gemeente", "type"])


def unit_matrix(table: pd.DataFrame, corpus: PseudonymisedCorpus, codebook: Codebook, *,
                level: str = "theme", coders: list[str] | None = None,
                exclude_roles: Iterable[str] = ("onderzoeker",)) -> pd.DataFrame:
    """Presence (0/1) of each code (rolled up to ``level``) per turn and coder.

    Rows: every turn of the corpus except ``exclude_roles`` (index session, turn); columns:
    MultiIndex (coder, code). Turns nobody coded are kept as all-zero rows: deciding that a
    turn carries no code is also a coding decision.
    """
    corpus = require_pseudonymised(corpus, "unit_matrix")
    human = human_coding(table)
    coders = coders or sorted(human["coder"].unique())
    units = [(t.session_id, u.index) for t in corpus for u in t.turns if u.role not in set(exclude_roles)]
    codes = sorted({c for c in (codebook.roll_up(x, level) for x in codebook.codable_ids()) if c})
    cols = pd.MultiIndex.from_product([coders, codes], names=["coder", "code"])
    mat = pd.DataFrame(0, index=pd.MultiIndex.from_tuples(units, names=["session", "turn"]), columns=cols)
    st = segment_turns(human, corpus, exclude_roles)
    for r in st.itertuples(index=False):
        code = codebook.roll_up(r.code_id, level)
        if r.coder in coders and code:
            mat.loc[(r.session, r.turn), (r.coder, code)] = 1
    return mat
