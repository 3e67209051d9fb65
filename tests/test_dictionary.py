"""Data dictionary of the 27 SCP determinants."""
from __future__ import annotations

import pandas as pd
import pytest

from jeugdhulp_wijken import dictionary, wijktable

from _data_helpers import real_raw_dir


def test_dictionary_has_the_27_determinants_in_order():
    d = dictionary.load_dictionary()
    assert list(d.columns) == ["name", "label_nl", "label_en", "group", "definition", "source"]
    assert d["name"].tolist() == dictionary.DETERMINANTS and len(d) == 27
    assert d.drop(columns="name").apply(lambda s: s.str.len().gt(0)).all().all()
    assert set(d["group"]) <= set(dictionary.GROUPS)
    full = dictionary.load_dictionary(include_outcomes=True)
    assert full["name"].tolist()[:3] == ["perc_jhzv", "perc_przv", "residu"]


def test_labels():
    assert dictionary.label("perc_1ouder", "nl") == "% eenouderhuishoudens"
    assert dictionary.label("perc_1ouder", "en") == "% single-parent households"
    assert dictionary.label("not_a_column") == "not_a_column"


@pytest.mark.realdata
def test_definitions_match_scp_bronnen_sheet():
    path = real_raw_dir() / wijktable.SCP_ODS
    bronnen = wijktable.read_scp_sheets(path)["bronnen"]
    bronnen = pd.concat([bronnen.columns.to_frame().T, bronnen], ignore_index=True)
    rows = {}
    for r in bronnen.itertuples(index=False):
        cells = [str(v).strip() for v in r if pd.notna(v)]
        if cells:
            rows[cells[0]] = " ".join(cells[1:])
    norm = lambda t: " ".join(str(t).split()).replace(" ,", ",").lower()
    for rec in dictionary.load_dictionary().itertuples(index=False):
        assert rec.name in rows, rec.name
        assert norm(rec.definition) in norm(rows[rec.name]), rec.name
        assert rec.source.split(";")[0].lower() in rows[rec.name].lower(), rec.name
