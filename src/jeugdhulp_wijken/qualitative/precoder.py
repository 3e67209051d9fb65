"""A transparent dictionary pre-coder: keyword rules per code suggest codes per speaker turn.

Rules live in the codebook (``keywords`` per code, Dutch, lower case). A keyword matches at a
word start, case-insensitively; ``*`` stands for any word ending (``puber*`` matches
``pubers``, ``puberteit``); multi-word keywords match as phrases. Each turn whose text matches
at least one keyword of a code gets a *suggestion* for that code: a coding-table row with
``status = "suggestion"``, ``coder = "precoder"`` and the matched keywords in the memo. A
coder confirms a suggestion by changing status to ``coded`` and putting their own name.

Quality is reported per code (rolled up to the analysis level) against the human coding on
the same turns: precision (share of suggested turns that humans coded), recall (share of
human-coded turns that were suggested) and F1. The reference is, by default, the union of the
human coders (a turn counts when at least one coder used the code).
"""
from __future__ import annotations

import re
from typing import Iterable

import numpy as np
import pandas as pd

from .codebook import Codebook
from .coding import COLUMNS, unit_matrix
from .pseudonymise import PseudonymisedCorpus, require_pseudonymised

PRECODER = "precoder"


def keyword_pattern(keyword: str) -> re.Pattern:
    """Compile one keyword rule (see the module docstring)."""
    kw = keyword.strip().lower()
    wildcard = kw.endswith("*")
    body = re.escape(kw.rstrip("*")).replace(r"\ ", r"\s+")
    return re.compile(rf"(?<![\w]){body}" + (r"[\w'-]*" if wildcard else r"(?![\w])"), re.IGNORECASE)


def compile_rules(codebook: Codebook) -> dict[str, list[tuple[str, re.Pattern]]]:
    return {c.id: [(k, keyword_pattern(k)) for k in c.keywords]
            for c in codebook.codes.values() if c.codable and c.keywords}


def precode(corpus: PseudonymisedCorpus, codebook: Codebook, *, date: str = "",
            exclude_roles: Iterable[str] = ("onderzoeker",)) -> pd.DataFrame:
    """Suggestions (coding-table rows with status 'suggestion') for every turn."""
    corpus = require_pseudonymised(corpus, "precode")
    rules = compile_rules(codebook)
    rows = []
    for t in corpus:
        for u in t.turns:
            if u.role in set(exclude_roles):
                continue
            text = t.text[u.text_start:u.end]
            for code_id, pats in rules.items():
                hits = sorted({k for k, rx in pats if rx.search(text)})
                if hits:
                    rows.append({"segment_id": f"P-{t.session_id}-{u.index:03d}-{code_id}", "session": t.session_id,
                                 "start": u.text_start, "end": u.end, "code_id": code_id, "coder": PRECODER,
                                 "date": date, "memo": "trefwoorden: " + ", ".join(hits),
                                 "text": text, "status": "suggestion"})
    return pd.DataFrame(rows, columns=COLUMNS + ["text", "status"])


def evaluate_precoder(suggestions: pd.DataFrame, table: pd.DataFrame, corpus: PseudonymisedCorpus,
                      codebook: Codebook, *, level: str = "theme", reference: str = "union",
                      lang: str = "nl") -> pd.DataFrame:
    """Precision, recall and F1 per code of the suggestions against human coding on turns.

    ``reference``: ``"union"`` (any human coder), ``"intersection"`` (all human coders agree)
    or the name of one coder.
    """
    human = unit_matrix(table, corpus, codebook, level=level)
    coders = sorted(human.columns.get_level_values("coder").unique())
    sugg = suggestions.assign(status="coded")
    pre = unit_matrix(sugg, corpus, codebook, level=level, coders=[PRECODER])[PRECODER]
    rows = []
    for code in pre.columns:
        stack = np.vstack([human[(c, code)].to_numpy() for c in coders])
        if reference == "union":
            ref = stack.max(axis=0)
        elif reference == "intersection":
            ref = stack.min(axis=0)
        elif reference in coders:
            ref = human[(reference, code)].to_numpy()
        else:
            raise ValueError(f"reference '{reference}' must be 'union', 'intersection' or one of {coders}.")
        s = pre[code].to_numpy()
        tp, fp, fn = int((s & ref).sum()), int((s & (1 - ref)).sum()), int(((1 - s) & ref).sum())
        prec = tp / (tp + fp) if tp + fp else float("nan")
        rec = tp / (tp + fn) if tp + fn else float("nan")
        f1 = 2 * prec * rec / (prec + rec) if tp else (0.0 if (tp + fp) and (tp + fn) else float("nan"))
        rows.append({"code_id": code, "name": codebook.label(code, lang), "n_suggested": tp + fp,
                     "n_reference": tp + fn, "true_positive": tp, "precision": prec, "recall": rec, "f1": f1})
    return pd.DataFrame(rows)
