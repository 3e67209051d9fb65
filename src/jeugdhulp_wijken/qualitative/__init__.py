"""Qualitative coding of the HHS dialogue sessions and the Rondom het Kind case reviews.

Flow (one module per step)::

    transcripts  -> pseudonymise -> coding (CSV or refi_qda.import_qdpx) -> agreement / analysis
    codebook (YAML) <-> refi_qda (.qdc)           precoder (keyword suggestions)

Only :class:`~.pseudonymise.PseudonymisedTranscript` text reaches coding and analysis.
"""
from .codebook import Codebook, Code, load_codebook
from .errors import (CodebookError, CodingTableError, PseudonymisationError, QualitativeDataError,
                     RefiQdaError, TranscriptError)
from .pseudonymise import (PseudonymisedCorpus, PseudonymisedTranscript, load_pseudonymised_corpus,
                           pseudonymise_corpus)

__all__ = ["Codebook", "Code", "load_codebook", "CodebookError", "CodingTableError", "PseudonymisationError",
           "QualitativeDataError", "RefiQdaError", "TranscriptError", "PseudonymisedCorpus",
           "PseudonymisedTranscript", "load_pseudonymised_corpus", "pseudonymise_corpus"]
