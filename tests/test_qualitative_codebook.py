"""Codebooks: loading, the HHS tree, stable ids/GUIDs and refusals."""
from __future__ import annotations

import pytest
import yaml

from jeugdhulp_wijken.qualitative import CodebookError, load_codebook
from jeugdhulp_wijken.qualitative.codebook import PACKAGED, codebook_from_dict


def test_hhs_tree_matches_the_study():
    cb = load_codebook("hhs")
    assert [c.name for c in cb.clusters()] == ["Sociale cohesie en veiligheid", "(Aanbod van) voorzieningen"]
    themes = {t.id: len(cb.children(t.id)) for t in cb.themes()}
    assert themes == {"SCV.BEV": 3, "SCV.INR": 3, "SCV.SAM": 4, "SCV.PJO": 3, "SCV.PGE": 5,
                      "VZ.AAN": 3, "VZ.GEB": 4, "VZ.ORG": 4, "VZ.SCH": 2}
    assert {c.factor_cluster for c in cb.clusters()} == {"voorzieningen", "veiligheid_sociale_cohesie"}
    for c in cb.codes.values():
        assert c.definition and c.inclusion and c.exclusion


def test_every_codable_code_has_keywords_or_children_with_keywords():
    for name in PACKAGED:
        cb = load_codebook(name)
        for c in cb.codes.values():
            if c.codable and not cb.children(c.id):
                assert c.keywords, f"{name}: {c.id} has no keyword rules"


def test_roll_up_and_ancestors():
    cb = load_codebook("hhs")
    assert cb.theme_of("SCV.PGE.EEN") == "SCV.PGE"
    assert cb.theme_of("SCV.PGE") == "SCV.PGE"
    assert cb.theme_of("SCV") is None
    assert cb.roll_up("VZ.SCH.SMW", "cluster") == "VZ"
    assert cb.ancestors("VZ.SCH.SMW") == ["VZ.SCH", "VZ"]


def test_guids_are_stable_and_unique():
    a, b = load_codebook("hhs"), load_codebook("hhs")
    guids = [a.guid(c) for c in a.codes]
    assert guids == [b.guid(c) for c in b.codes]
    assert len(set(guids)) == len(guids)


def test_unknown_and_grouping_codes_are_refused_with_the_code_named():
    cb = load_codebook("hhs")
    with pytest.raises(CodebookError, match="SCV.XYZ"):
        cb.check_codes(["SCV.BEV.PUB", "SCV.XYZ"], where="file.csv")
    with pytest.raises(CodebookError, match="grouping"):
        cb.check_codes(["SCV"])


def test_malformed_codebooks_are_refused(tmp_path):
    doc = yaml.safe_load(PACKAGED["hhs"].read_text(encoding="utf-8"))
    del doc["codes"][0]["children"][0]["definition"]
    with pytest.raises(CodebookError, match="SCV.BEV.*definition"):
        codebook_from_dict(doc)
    doc = yaml.safe_load(PACKAGED["hhs"].read_text(encoding="utf-8"))
    doc["codes"][0]["children"][0]["id"] = "VZ.BEV"
    with pytest.raises(CodebookError, match="parent"):
        codebook_from_dict(doc)
    doc = yaml.safe_load(PACKAGED["hhs"].read_text(encoding="utf-8"))
    doc["codes"][1]["children"][0]["id"] = "SCV.BEV"
    doc["codes"][1]["id"] = "SCV"
    with pytest.raises(CodebookError, match="twice"):
        codebook_from_dict(doc)
    with pytest.raises(CodebookError, match="not found"):
        load_codebook(tmp_path / "nope.yml")


def test_rondom_het_kind_table_definitions_point_at_codes():
    cb = load_codebook("rondom_het_kind")
    types = cb.meta["help_question_types"]
    assert [t["key"] for t in types] == ["opvoeden", "financien_wonen_veiligheid", "leerontwikkeling",
                                         "sociaal_emotioneel", "fysiek"]
    for t in types:
        cb.check_codes([t["question_code"], t["help_code"]])
    assert {c.id for c in cb.clusters()} == {"VRAAG", "HULP", "SAM", "TEV"}


def test_duplicate_key_in_a_codebook_yaml_is_an_error_naming_file_and_key(tmp_path):
    text = PACKAGED["hhs"].read_text(encoding="utf-8")
    first = text.index("    definition:")
    bad = text[:first] + "    definition: \"tweede definitie\"\n" + text[first:]
    (tmp_path / "dubbel.yml").write_text(bad, encoding="utf-8")
    with pytest.raises(CodebookError, match=r"dubbel\.yml: key 'definition' appears twice .*lines \d+ and \d+"):
        load_codebook(tmp_path / "dubbel.yml")
    (tmp_path / "top.yml").write_text(text + "title: nog een titel\n", encoding="utf-8")
    with pytest.raises(CodebookError, match=r"top\.yml: key 'title' appears twice"):
        load_codebook(tmp_path / "top.yml")


def test_packaged_codebooks_load_unchanged_with_the_strict_loader():
    for name, path in PACKAGED.items():
        plain = codebook_from_dict(yaml.safe_load(path.read_text(encoding="utf-8")), path=path)
        assert load_codebook(name).codes == plain.codes
