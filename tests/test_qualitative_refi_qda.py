"""REFI-QDA: .qdc and .qdpx validated against the official schemas, round trips, refusals."""
from __future__ import annotations

import zipfile

import pytest
from lxml import etree

from _qualitative_helpers import build_hhs
from jeugdhulp_wijken.qualitative import RefiQdaError, load_codebook, refi_qda


@pytest.fixture(scope="module")
def hhs(tmp_path_factory):
    return build_hhs(tmp_path_factory.mktemp("refi"))


def test_shipped_schemas_are_the_official_namespaces():
    for kind, ns in (("codebook", refi_qda.NS_CODEBOOK), ("project", refi_qda.NS_PROJECT)):
        assert etree.parse(str(refi_qda.SCHEMAS[kind])).getroot().get("targetNamespace") == ns
        assert isinstance(refi_qda.schema(kind), etree.XMLSchema)
    assert refi_qda.NS_CODEBOOK == "urn:QDA-XML:codebook:1.0" and refi_qda.NS_PROJECT == "urn:QDA-XML:project:1.0"
    for f in refi_qda.SCHEMAS.values():
        head = f.read_text(encoding="utf-8")[:1500]
        assert "Origin" in head and "MIT" in head


@pytest.mark.parametrize("name", ["hhs", "rondom_het_kind"])
def test_codebook_round_trip_through_qdc(tmp_path, name):
    cb = load_codebook(name)
    path = refi_qda.export_codebook_qdc(cb, tmp_path / "cb.qdc")
    refi_qda.validate_xml(path, "codebook")
    back = refi_qda.import_codebook_qdc(path)
    assert back.id == cb.id and back.codes == cb.codes
    assert [back.guid(c) for c in back.codes] == [cb.guid(c) for c in cb.codes]


def test_invalid_qdc_is_refused(tmp_path):
    bad = tmp_path / "bad.qdc"
    bad.write_text('<?xml version="1.0"?><CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes>'
                   '<Code guid="not-a-guid" name="x" isCodable="true"/></Codes></CodeBook>', encoding="utf-8")
    with pytest.raises(RefiQdaError, match="Invalid against the REFI-QDA codebook schema"):
        refi_qda.import_codebook_qdc(bad)


def test_foreign_qdc_without_ids_gets_ids_from_names(tmp_path):
    f = tmp_path / "other.qdc"
    f.write_text('<?xml version="1.0" encoding="utf-8"?><CodeBook xmlns="urn:QDA-XML:codebook:1.0" origin="ATLAS.ti">'
                 '<Codes><Code guid="1FF58B12-6F6F-4B0C-8BE5-BBDC91F55294" name="Wonen" isCodable="true">'
                 '<Description>Over huizen</Description><Code guid="2FF58B12-6F6F-4B0C-8BE5-BBDC91F55294" '
                 'name="Huur" isCodable="true"/></Code></Codes></CodeBook>', encoding="utf-8")
    cb = refi_qda.import_codebook_qdc(f)
    assert list(cb.codes) == ["WONEN", "WONEN.HUUR"]
    assert cb["WONEN"].definition == "Over huizen"


def test_qdpx_export_validates_and_round_trips(hhs, tmp_path):
    corpus, cb, table = hhs
    path = refi_qda.export_qdpx(corpus, table, cb, tmp_path / "p.qdpx")
    with zipfile.ZipFile(path) as z:
        refi_qda.validate_xml(z.read("project.qde"), "project")
        assert sum(n.startswith("sources/") for n in z.namelist()) == len(corpus)
    back = refi_qda.import_qdpx(path, cb, corpus)
    cols = ["segment_id", "session", "start", "end", "code_id", "coder", "date", "memo"]
    a = table[cols].sort_values("segment_id").reset_index(drop=True)
    b = back[cols].sort_values("segment_id").reset_index(drop=True)
    assert a.equals(b)
    assert refi_qda.export_qdpx(corpus, table, cb, tmp_path / "p2.qdpx").read_bytes() == path.read_bytes()


def _rewrite(src, dst, fn):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for n in zin.namelist():
            data = zin.read(n)
            zout.writestr(n, fn(n, data))


def test_qdpx_with_codes_not_in_the_codebook_is_refused(hhs, tmp_path):
    corpus, cb, table = hhs
    path = refi_qda.export_qdpx(corpus, table, cb, tmp_path / "p.qdpx")
    ns = {"q": refi_qda.NS_PROJECT}

    def rename(n, data):
        if n != "project.qde":
            return data
        root = etree.fromstring(data)
        code = root.find(".//q:Code[@guid='%s']" % cb.guid("SCV.PGE.EEN"), ns)
        code.set("name", "Nieuwe code")
        code.set("guid", "00000000-0000-4000-8000-000000000001")
        code.find("q:Description", ns).text = "zelf verzonnen"
        for ref in root.iterfind(".//q:CodeRef[@targetGUID='%s']" % cb.guid("SCV.PGE.EEN"), ns):
            ref.set("targetGUID", "00000000-0000-4000-8000-000000000001")
        return etree.tostring(root, xml_declaration=True, encoding="utf-8")

    _rewrite(path, tmp_path / "bad.qdpx", rename)
    with pytest.raises(RefiQdaError, match="Nieuwe code"):
        refi_qda.import_qdpx(tmp_path / "bad.qdpx", cb, corpus)


def test_qdpx_with_changed_source_text_is_refused(hhs, tmp_path):
    corpus, cb, table = hhs
    path = refi_qda.export_qdpx(corpus, table, cb, tmp_path / "p.qdpx")
    _rewrite(path, tmp_path / "t.qdpx", lambda n, d: d + b" extra" if n.startswith("sources/") else d)
    with pytest.raises(RefiQdaError, match="differs from the pseudonymised"):
        refi_qda.import_qdpx(tmp_path / "t.qdpx", cb, corpus)
