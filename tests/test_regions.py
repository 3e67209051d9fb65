"""Regions: gemeente -> jeugdzorgregio / GGD from 83553NED, and the region parameter."""
from __future__ import annotations

import pandas as pd
import pytest

from jeugdhulp_wijken import regions
from jeugdhulp_wijken.study import STUDY_AREA_GEMEENTEN

from _data_helpers import real_raw_dir, synthetic_raw_dir


def _toy_gemeenten() -> pd.DataFrame:
    return pd.DataFrame({
        "gemeente_code": ["GM9001", "GM9002", "GM9003"],
        "gemeente_name": ["Synthetische gemeente 01", "Synthetische gemeente 02", "Synthetische gemeente 03"],
        "jz_code": ["JZ01", "JZ01", "JZ02"],
        "jz_name": ["Synthetische jeugdzorgregio 1", "Synthetische jeugdzorgregio 1", "Noordkant"],
        "ggd_code": ["GG9901", "GG9902", "GG9902"],
        "ggd_name": ["GGD Een", "GGD Twee", "GGD Twee"]})


def test_resolve_jz_code_name_ggd_list_and_nl():
    g = _toy_gemeenten()
    r = regions.resolve_region("JZ01", g)
    assert (r.kind, r.slug, r.gemeente_codes) == ("jeugdzorgregio", "jz01", ("GM9001", "GM9002"))
    assert regions.resolve_region("noordkant", g).gemeente_codes == ("GM9003",)
    assert regions.resolve_region("Jeugdzorgregio Noordkant", g).gemeente_codes == ("GM9003",)
    ggd = regions.resolve_region("GGD Twee", g)
    assert (ggd.kind, ggd.gemeente_codes) == ("ggd", ("GM9002", "GM9003"))
    assert regions.resolve_region("GG9901", g).gemeente_codes == ("GM9001",)
    lst = regions.resolve_region(["GM9003", "gm9001"], g)
    assert (lst.kind, lst.gemeente_codes, lst.slug) == ("gemeenten", ("GM9001", "GM9003"), "gm9001-gm9003")
    assert regions.resolve_region("GM9001,GM9002", g).gemeente_codes == ("GM9001", "GM9002")
    nl = regions.resolve_region("NL", g)
    assert nl.kind == "nl" and len(nl.gemeente_codes) == 3


def test_a_region_of_one_gemeente_is_named_in_the_singular():
    g = _toy_gemeenten()
    assert regions.resolve_region("JZ01", g).name == "Synthetische jeugdzorgregio 1 (JZ01, 2 gemeenten)"
    one = regions.resolve_region("JZ02", g)
    assert one.name == "Jeugdzorgregio Noordkant (JZ02, 1 gemeente)" and "1 gemeente (" in one.note
    assert regions.resolve_region("GG9901", g).name == "GGD Een (GGD-regio, 1 gemeente)"
    assert regions.resolve_region("GM9001", g).name == "Gemeente: Synthetische gemeente 01"
    assert regions.resolve_region("GM9001,GM9003", g).name.startswith("Gemeenten: ")


def test_unknown_region_lists_valid_values():
    g = _toy_gemeenten()
    with pytest.raises(regions.UnknownRegionError) as err:
        regions.resolve_region("Atlantis", g)
    msg = str(err.value)
    for expected in ("Atlantis", "JZ01", "JZ02 (Noordkant)", "GGD Twee", "NL", "Haaglanden", "list of GM codes"):
        assert expected in msg
    assert isinstance(err.value, ValueError)
    with pytest.raises(regions.UnknownRegionError, match="GM1234"):
        regions.resolve_region(["GM9001", "GM1234"], g)
    with pytest.raises(regions.UnknownRegionError, match="synthetic"):
        regions.resolve_region("Haaglanden", g)


def test_synthetic_83553ned_reads_with_same_reader():
    g = regions.load_gemeente_regions(synthetic_raw_dir())
    assert list(g.columns) == regions.GEMEENTE_COLUMNS
    assert g["gemeente_code"].str.match(r"^GM9\d{3}$").all()
    assert sorted(g["jz_code"].unique()) == ["JZ01", "JZ02", "JZ03", "JZ04"]
    assert g["jz_name"].str.startswith("Synthetische jeugdzorgregio").all()
    r = regions.resolve_region("JZ01", g)
    assert r.kind == "jeugdzorgregio" and len(r.gemeente_codes) == 6


def test_malformed_region_file_is_reported(tmp_path):
    from jeugdhulp_wijken import sources

    folder = sources.raw_path(regions.REGIONS_SOURCES[0], "").parent
    src = synthetic_raw_dir() / folder
    dst = tmp_path / folder
    dst.mkdir(parents=True)
    (dst / "DataProperties.csv").write_bytes((src / "DataProperties.csv").read_bytes())
    data = pd.read_csv(src / "data.csv", dtype=str)
    data.loc[3, "Code_16"] = "XX99"
    data.to_csv(dst / "data.csv", index=False)
    with pytest.raises(regions.RegionDataError) as err:
        regions.load_gemeente_regions(tmp_path)
    assert "jz_code" in str(err.value) and "data.csv" in str(err.value) and "XX99" in str(err.value)


def test_the_gemeente_table_is_read_again_when_a_file_changes_and_each_caller_gets_its_own_copy(tmp_path):
    from jeugdhulp_wijken import sources

    folder = sources.raw_path(regions.REGIONS_SOURCES[0], "").parent
    src, dst = synthetic_raw_dir() / folder, tmp_path / folder
    dst.mkdir(parents=True)
    for name in ("DataProperties.csv", "data.csv"):
        (dst / name).write_bytes((src / name).read_bytes())
    first = regions.load_gemeente_regions(tmp_path)
    first.loc[0, "gemeente_name"] = "Veranderd"
    assert regions.load_gemeente_regions(tmp_path).loc[0, "gemeente_name"] != "Veranderd"
    data = pd.read_csv(dst / "data.csv", dtype=str)
    data.loc[0, "Naam_2"] = "Nieuwe naam"
    data.to_csv(dst / "data.csv", index=False)
    assert regions.load_gemeente_regions(tmp_path).loc[0, "gemeente_name"] == "Nieuwe naam"


@pytest.mark.realdata
def test_real_regions_and_haaglanden_vs_jz24():
    g = regions.load_gemeente_regions(real_raw_dir())
    assert len(g) == 388
    assert g["jz_code"].nunique() == 42
    study = regions.resolve_region("Haaglanden", g)
    assert study.kind == "study_area" and study.slug == "haaglanden"
    assert study.gemeente_codes == tuple(sorted(STUDY_AREA_GEMEENTEN))
    assert "studiegebied" in study.name and "Voorschoten" in study.note
    jz24 = regions.resolve_region("JZ24", g)
    assert set(jz24.gemeente_codes) - set(study.gemeente_codes) == {"GM0626"}
    assert "Voorschoten" in jz24.name
    ggd = regions.resolve_region("GGD Haaglanden", g)
    assert ggd.gemeente_codes == study.gemeente_codes and ggd.kind == "ggd"
    with pytest.raises(regions.UnknownRegionError) as err:
        regions.resolve_region("Hoeksche Waard-Noord", g)
    assert "JZ24 (Haaglanden)" in str(err.value) and "GGD Haaglanden" in str(err.value)
