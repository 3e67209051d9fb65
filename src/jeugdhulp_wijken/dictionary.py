"""Data dictionary of the SCP wijk file: the outcome columns and the 27 determinants.

The dictionary (``data/data_dictionary.yml`` inside the package) carries, per variable,
a Dutch and an English label, the group under which SCP lists it, SCP's own definition
(*omschrijving*) and source (*bron; nadere toelichting*) from sheet ``bronnen`` of
``Wijkdata_Jeugdhulp_in_de_wijk.ods``.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

from . import files

DICTIONARY_FILE = Path(__file__).resolve().parent / "data" / "data_dictionary.yml"

#: The 27 SCP determinants, in the column order of sheet ``determinanten``.
DETERMINANTS: list[str] = [
    "perc_sbo_g", "perc_vso_g", "perc_praktijk_g", "perc_hhmk", "perc_jong04", "perc_1ouder",
    "perc_tienmam", "perc_hhmkhgink", "perc_kind_sch5", "perc_ouderpsy", "perc_hhverd", "perc_hhbijs",
    "perc_hhwan", "groenedruk", "grijzedruk", "perc_ao", "perc_laagopl", "gem_gestink", "polchrplus",
    "perc_nwmig", "perc_antsur", "perc_1gez", "huur_corp", "woonwaarde", "afstandhuisarts", "samenw",
    "kleinewijk",
]
OUTCOMES: list[str] = ["perc_jhzv", "perc_przv", "residu"]
#: Determinants that are proportions in percent (range 0-100 is checked).
PERCENT_DETERMINANTS: list[str] = [d for d in DETERMINANTS if d.startswith("perc_")] + [
    "polchrplus", "perc_1gez", "huur_corp"]
BINARY_DETERMINANTS: list[str] = ["samenw", "kleinewijk"]
GROUPS = {"kind": ("Kenmerken kind", "Child characteristics"),
          "huishouden": ("Samenstelling huishouden", "Household composition"),
          "gezin": ("Ingrijpende gebeurtenissen in het gezin", "Drastic family events"),
          "omgeving": ("Kenmerken van de omgeving", "Neighbourhood characteristics"),
          "toegang": ("Toegang/beleid", "Access/policy"),
          "gebruik": ("Gebruik", "Use")}
COLUMNS = ["name", "label_nl", "label_en", "group", "definition", "source"]


@lru_cache(maxsize=1)
def _raw() -> dict:
    return files.load_yaml(DICTIONARY_FILE.read_text(encoding="utf-8"))


def load_dictionary(include_outcomes: bool = False) -> pd.DataFrame:
    """The 27 determinants (optionally preceded by the outcome columns) as a DataFrame.

    Columns: name, label_nl, label_en, group, definition, source. Order = :data:`DETERMINANTS`.
    """
    doc = _raw()
    rows = []
    sections = (["outcome"] if include_outcomes else []) + ["determinants"]
    for section in sections:
        for name, entry in doc[section].items():
            rows.append({"name": name, **{k: entry[k] for k in COLUMNS[1:]}})
    df = pd.DataFrame(rows, columns=COLUMNS)
    names = list(doc["determinants"])
    if names != DETERMINANTS:
        raise ValueError(f"{DICTIONARY_FILE}: determinants {names} differ from dictionary.DETERMINANTS.")
    return df


def label(name: str, lang: str = "nl") -> str:
    """Label of a variable in ``lang`` ("nl" or "en"); the name itself if unknown."""
    doc = _raw()
    entry = doc["determinants"].get(name) or doc["outcome"].get(name)
    if entry is None:
        return name
    return entry["label_en" if lang == "en" else "label_nl"]
