"""The coding table: loading, validation errors naming file/line/code, turn units."""
from __future__ import annotations

import pandas as pd
import pytest

from _qualitative_helpers import build_hhs, build_rhk
from jeugdhulp_wijken.qualitative import CodingTableError, coding


@pytest.fixture(scope="module")
def hhs(tmp_path_factory):
    return build_hhs(tmp_path_factory.mktemp("coding"))


def _csv(tmp_path, rows, name="c.csv"):
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _row(table, i=0, **over):
    r = table.iloc[i][coding.COLUMNS].to_dict()
    r.update(over)
    return r


def test_example_tables_load(hhs, tmp_path):
    corpus, cb, table = hhs
    assert set(table["coder"]) == {"codeur_A", "codeur_B"}
    assert (table["end"] > table["start"]).all()
    for r in table.itertuples():
        assert corpus[r.session].text[r.start:r.end] == r.text
    rc, rcb, rt = build_rhk(tmp_path)
    assert len(rt) > 40 and (rt["status"] == "coded").all()


def test_unknown_code_is_refused_naming_file_line_and_code(hhs, tmp_path):
    corpus, cb, table = hhs
    path = _csv(tmp_path, [_row(table), _row(table, 1, code_id="SCV.NIETBESTAAND", segment_id="X2")])
    with pytest.raises(CodingTableError, match=r"c\.csv line 3 .*SCV\.NIETBESTAAND.*not in codebook"):
        coding.load_coding_table(path, cb, corpus)


def test_grouping_code_offsets_and_missing_metadata(hhs, tmp_path):
    corpus, cb, table = hhs
    n = len(corpus["S01"].text)
    rows = [_row(table, 0, code_id="SCV"),
            _row(table, 1, start=10, end=n + 5, memo="", segment_id="X2"),
            _row(table, 2, coder="", segment_id="X3"),
            _row(table, 3, date="20-05-2020", segment_id="X4"),
            _row(table, 4, session="S99", segment_id="X5")]
    with pytest.raises(CodingTableError) as err:
        coding.load_coding_table(_csv(tmp_path, rows), cb, corpus)
    msg = str(err.value)
    assert "5 problem(s)" in msg
    assert "grouping node" in msg and "out of range" in msg and "'coder' is empty" in msg
    assert "YYYY-MM-DD" in msg and "S99" in msg


def test_quote_must_match_offsets_and_can_replace_them(hhs, tmp_path):
    corpus, cb, table = hhs
    r = _row(table)
    quote = corpus[r["session"]].text[r["start"]:r["end"]]
    bad = dict(r, text=quote[:-3] + "xyz")
    with pytest.raises(CodingTableError, match="do not match"):
        coding.load_coding_table(_csv(tmp_path, [bad]), cb, corpus)
    only_text = dict(r, start="", end="", text=quote)
    t = coding.load_coding_table(_csv(tmp_path, [only_text], "q.csv"), cb, corpus)
    assert (t.loc[0, "start"], t.loc[0, "end"]) == (r["start"], r["end"])


def test_duplicate_segment_ids_and_missing_columns(hhs, tmp_path):
    corpus, cb, table = hhs
    with pytest.raises(CodingTableError, match="used more than once"):
        coding.load_coding_table(_csv(tmp_path, [_row(table), _row(table, 1, segment_id=table.iloc[0]["segment_id"])]),
                                 cb, corpus)
    pd.DataFrame({"session": ["S01"]}).to_csv(tmp_path / "m.csv", index=False)
    with pytest.raises(CodingTableError, match="required column"):
        coding.load_coding_table(tmp_path / "m.csv", cb, corpus)


def test_unit_matrix_marks_turns_per_coder(hhs):
    corpus, cb, table = hhs
    m = coding.unit_matrix(table, corpus, cb, level="theme")
    n_units = sum(1 for t in corpus for u in t.turns if u.role != "onderzoeker")
    assert m.shape == (n_units, 2 * len(cb.themes()))
    seg = table[(table["coder"] == "codeur_A")].iloc[0]
    turn = corpus[seg["session"]].turn_at(seg["start"])
    assert m.loc[(seg["session"], turn.index), ("codeur_A", cb.theme_of(seg["code_id"]))] == 1
    manual = (table.assign(theme=[cb.theme_of(c) for c in table["code_id"]])
              .assign(turn=[corpus[s].turn_at(a).index for s, a in zip(table["session"], table["start"])])
              .drop_duplicates(["coder", "session", "turn", "theme"]).groupby("coder").size())
    assert int(m["codeur_A"].to_numpy().sum()) == manual["codeur_A"]
    assert int(m["codeur_B"].to_numpy().sum()) == manual["codeur_B"]
