"""Exceptions of the qualitative subpackage.

All derive from :class:`ValueError` (the compendium's convention for bad input) and carry
messages that name the file, the row or key, and what to do.
"""
from __future__ import annotations


class QualitativeDataError(ValueError):
    """Base class for bad qualitative input."""


class CodebookError(QualitativeDataError):
    """A codebook file is malformed, or a code id is not in the codebook."""


class TranscriptError(QualitativeDataError):
    """A transcript or its metadata sidecar is missing, incomplete or malformed."""


class PseudonymisationError(QualitativeDataError):
    """Pseudonymisation cannot be done safely (e.g. key inside the repository, unverified text)."""


class CodingTableError(QualitativeDataError):
    """A coding table (CSV or imported .qdpx) does not fit the codebook or the transcripts."""


class RefiQdaError(QualitativeDataError):
    """A REFI-QDA file (.qdc / .qdpx) is invalid or cannot be mapped onto the codebook."""
