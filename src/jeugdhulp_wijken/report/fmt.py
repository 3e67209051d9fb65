"""Number formatting for the report: the one place that turns a value into text.

Dutch (default): decimal comma, thousands point, no space before the percent sign
(11,7%; 2.918 wijken; r = 0,991). English: decimal point, thousands comma (11.7%;
2,918 wijken; r = 0.991). Every number the report cites is a :class:`Num`: it keeps the
value read from an artefact next to the text printed in the report, so that
``06_key_numbers.json`` and a test can find each printed number again.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..figure_registry import check_lang

#: Separators per language: (decimal, thousands).
SEPARATORS = {"nl": (",", "."), "en": (".", ",")}
MISSING = {"nl": "n.b.", "en": "n/a"}
MINUS = "-"


def _is_missing(value: Any) -> bool:
    if value is None or isinstance(value, str):
        return True
    try:
        return not math.isfinite(float(value))
    except (TypeError, ValueError):
        return True


def decimal(value: Any, decimals: int = 1, lang: str = "nl", signed: bool = False) -> str:
    """``value`` with ``decimals`` decimals and the separators of ``lang``."""
    check_lang(lang)
    if _is_missing(value):
        return MISSING[lang]
    x = float(value)
    if round(x, decimals) == 0:
        x = 0.0  # no "-0,0"
    text = f"{abs(x):,.{decimals}f}"
    dec, thou = SEPARATORS[lang]
    text = text.replace(",", "\0").replace(".", dec).replace("\0", thou)
    sign = MINUS if x < 0 else ("+" if signed and x > 0 else "")
    return sign + text


def integer(value: Any, lang: str = "nl") -> str:
    """A count: 2.918 (nl) or 2,918 (en)."""
    return decimal(value, 0, lang)


def pct(value: Any, decimals: int = 1, lang: str = "nl", signed: bool = False) -> str:
    """A percentage given in percent units (11.67 -> '11,7%')."""
    text = decimal(value, decimals, lang, signed)
    return text if text == MISSING[lang] else text + "%"


def share(fraction: Any, decimals: int = 0, lang: str = "nl") -> str:
    """A share given as a fraction (0.382 -> '38%')."""
    if _is_missing(fraction):
        return MISSING[lang]
    return pct(100 * float(fraction), decimals, lang)


def pp(value: Any, decimals: int = 1, lang: str = "nl") -> str:
    """A signed difference in percentage points, without unit ('+0,2')."""
    return decimal(value, decimals, lang, signed=True)


KINDS = {
    "pct": lambda v, lang: pct(v, 1, lang),
    "pct2": lambda v, lang: pct(v, 2, lang),
    "pp": lambda v, lang: pp(v, 1, lang),
    "pp2": lambda v, lang: pp(v, 2, lang),
    "share": lambda v, lang: share(v, 0, lang),
    "share1": lambda v, lang: share(v, 1, lang),
    "int": integer,
    "year": lambda v, lang: str(int(v)),
    "r": lambda v, lang: decimal(v, 3, lang),
    "dec2": lambda v, lang: decimal(v, 2, lang),
    "dec3": lambda v, lang: decimal(v, 3, lang),
}


@dataclass(frozen=True)
class Num:
    """A number cited in the report: its value (from an artefact), kind and printed text."""
    name: str
    value: Any
    kind: str
    lang: str = "nl"

    @property
    def text(self) -> str:
        if self.kind not in KINDS:
            raise ValueError(f"Unknown number kind '{self.kind}' for '{self.name}'; use one of {sorted(KINDS)}.")
        return KINDS[self.kind](self.value, self.lang)

    @property
    def missing(self) -> bool:
        return _is_missing(self.value)

    def __str__(self) -> str:
        return self.text

    def __html__(self) -> str:  # Jinja2/MarkupSafe: the text has no markup characters
        from markupsafe import escape
        return str(escape(self.text))

    def record(self) -> dict[str, Any]:
        return {"value": self.value, "kind": self.kind, "text": self.text}


class Formatter:
    """Formatting functions bound to one language (used as Jinja2 filters)."""

    def __init__(self, lang: str = "nl"):
        self.lang = check_lang(lang)

    def num(self, name: str, value: Any, kind: str) -> Num:
        return Num(name, value, kind, self.lang)

    def filters(self) -> dict[str, Any]:
        lang = self.lang
        return {"pct": lambda v, d=1: pct(v, d, lang), "share": lambda v, d=0: share(v, d, lang),
                "pp": lambda v, d=1: pp(v, d, lang), "dec": lambda v, d=1: decimal(v, d, lang),
                "integer": lambda v: integer(v, lang)}
