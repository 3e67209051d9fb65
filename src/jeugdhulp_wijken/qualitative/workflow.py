"""Small glue for the notebook: parameter handling and the JSON report of the step.

Keeps the notebook free of logic: where pseudonymised text goes, which coding source is
read (hand-entered CSV or a REFI-QDA project) and what the agreement JSON states.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from .. import files
from .. import paths
from .codebook import Codebook
from .coding import load_coding_table
from .errors import CodingTableError
from .pseudonymise import PseudonymisedCorpus, require_pseudonymised
from .refi_qda import import_qdpx

DEVIATIONS_HHS = [
    "The HHS report (Gilsing, Mieloo & Reith 2020) publishes the theme tree but no codebook, no coding "
    "table and no agreement statistics; definitions, inclusion/exclusion notes, indicators and keyword "
    "rules in the codebook are written for this compendium.",
    "The shipped example corpus is fictional (4 group sessions + 2 interviews written for teaching); no "
    "count, kappa or alpha from it says anything about the real sessions.",
    "Unit of analysis for counts and agreement: the speaker turn (moderator turns excluded); the report "
    "does not state its unit.",
]
DEVIATIONS_RHK = [
    "The example case reviews are fictional (5 families); the published Rondom het Kind table (21 families, "
    "29 children) is listed for comparison only and is not reproduced.",
    "The slide text of the published table is internally inconsistent for 'Opvoeden' (1 parent with the "
    "question, 12 with help) and 'Leerontwikkeling' (15 with the question, 17 with help); not corrected.",
]


def pseudonymised_folder(pseudonymised_dir: str, output_dir: str | Path, study: str) -> Path:
    """``pseudonymised_dir`` if given, else ``<output_dir>/04_pseudonymised/<study>``."""
    base = Path(pseudonymised_dir) if pseudonymised_dir else Path(output_dir) / "04_pseudonymised"
    return base / study


def load_human_coding(coding_files: list[str] | str, qdpx_file: str, codebook: Codebook,
                      corpus: PseudonymisedCorpus) -> pd.DataFrame:
    """Coded segments from a REFI-QDA project (when ``qdpx_file`` is set) or from CSV file(s)."""
    corpus = require_pseudonymised(corpus, "load_human_coding")
    if qdpx_file:
        return import_qdpx(qdpx_file, codebook, corpus)
    if not coding_files:
        raise CodingTableError("Give coding_files (hand-entered CSV) or qdpx_file (a REFI-QDA project).")
    return load_coding_table(coding_files, codebook, corpus)


def write_csv(df: pd.DataFrame, output_dir: str | Path, name: str, synthetic: bool = False) -> Path:
    target = paths.artefact(output_dir, name, synthetic)
    target.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(target, index=False, encoding="utf-8", lineterminator="\n")
    return target


def write_json(data: Any, output_dir: str | Path, name: str, synthetic: bool = False) -> Path:
    return files.write_json(paths.artefact(output_dir, name, synthetic), data)


def anonymisation_report(corpora: dict[str, PseudonymisedCorpus]) -> dict[str, Any]:
    """The anonymisation log of every pseudonymisation run of the step, for ``qual_anonymisation_log``.

    Per corpus: the replacements per kind (category) and session and the sessions a person must read
    (with counts per reason); overall: totals per kind and every session to read as ``corpus/session``.
    Counts only, never identifiers.
    """
    logs = {name: require_pseudonymised(c, "anonymisation_report").log for name, c in corpora.items()}
    kinds = sorted({k for log in logs.values() for k in log.get("replacements_total", {})})
    return {
        "replacements_total": {k: sum(int(log["replacements_total"].get(k, 0)) for log in logs.values())
                               for k in kinds},
        "needs_human_check": [f"{name}/{s}" for name, log in logs.items() for s in log.get("needs_human_check", [])],
        "corpora": logs,
    }


def write_anonymisation_log(corpora: dict[str, PseudonymisedCorpus], output_dir: str | Path,
                            synthetic: bool = False) -> Path:
    """Write :func:`anonymisation_report` as the catalog artefact ``qual_anonymisation_log``."""
    from .. import catalog

    return catalog.write(anonymisation_report(corpora), "qual_anonymisation_log", output_dir, synthetic)


def build_report(*, corpus: PseudonymisedCorpus, codebook: Codebook, table: pd.DataFrame,
                 agreement: dict[str, Any], precoder_eval: pd.DataFrame, parameters: dict[str, Any],
                 rhk: dict[str, Any] | None = None, corpus_label: str = "") -> dict[str, Any]:
    """The content of ``04_agreement.json``: agreement plus what was analysed and how."""
    corpus = require_pseudonymised(corpus, "build_report")
    pe = precoder_eval.replace({float("nan"): None})
    overall = agreement.get("overall", {})
    headline = {
        "corpus": corpus_label, "corpus_fictional": corpus.fictional, "n_sessions": len(corpus.session_ids),
        "n_coded_segments": int(len(table)), "n_units": agreement.get("n_units"),
        "agreement_level": agreement.get("level"),
        "krippendorff_alpha_nominal_pooled": overall.get("krippendorff_alpha_nominal_pooled"),
        "mean_cohen_kappa": overall.get("mean_cohen_kappa"),
        "pct_agreement_pooled": overall.get("pct_agreement_pooled"),
    }
    return {
        "headline": headline,
        "study": "HHS Jeugdhulp in de wijken: dialogue sessions",
        "corpus": {"label": corpus_label, "fictional": corpus.fictional, "sessions": corpus.session_ids,
                   "types": sorted({t.metadata["type"] for t in corpus}),
                   "gemeenten": sorted({t.gemeente for t in corpus})},
        "codebook": {"id": codebook.id, "version": codebook.meta.get("version"), "n_codes": len(codebook.codes),
                     "n_themes": len(codebook.themes())},
        "coding": {"n_segments": int(len(table)), "coders": sorted(table["coder"].unique()),
                   "n_segments_per_coder": {k: int(v) for k, v in table["coder"].value_counts().sort_index().items()}},
        "agreement": agreement,
        "precoder": {"reference": "union of human coders", "level": agreement.get("level"),
                     "per_code": pe.to_dict(orient="records")},
        "parameters": parameters,
        "deviations": DEVIATIONS_HHS,
        "rondom_het_kind": {**(rhk or {}), "deviations": DEVIATIONS_RHK} if rhk is not None else None,
    }
