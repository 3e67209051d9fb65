"""Fetch layer: manifest, mirror copy, download (local HTTP server), checksums, read-only, pins."""
from __future__ import annotations

import functools
import hashlib
import http.server
import os
import stat
import threading
from pathlib import Path

import pandas as pd
import pytest
import yaml

from jeugdhulp_wijken import paths, sources

from _data_helpers import mirror_or_skip, real_raw_dir


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fixture_set(tmp_path: Path, url_base: str = "http://127.0.0.1:9/"):
    """A fictional mirror with two files and a manifest pointing at them."""
    mirror = tmp_path / "mirror"
    files = {"alpha/a.csv": b"wijk_code,x\nWK999901,1\n", "beta/b.txt": b"fictional payload\n" * 50}
    entries = []
    for i, (rel, data) in enumerate(files.items()):
        p = mirror / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        entries.append({"id": f"src{i}", "path": rel, "publisher": "Test", "title": f"File {i}", "table": "T",
                        "year": 2017, "licence": "CC0", "citation": "Test", "online": {"url": url_base + rel},
                        "sha256": _sha(data), "size": len(data)})
    manifest = tmp_path / "sources.yml"
    manifest.write_text(yaml.safe_dump({"version": 1, "sources": entries}))
    return mirror, manifest, files


def test_repository_manifest_is_valid_and_complete():
    entries = sources.load_manifest(paths.SOURCES_MANIFEST)
    assert len(entries) == 21
    assert len({e.path for e in entries}) == 21
    assert all(e.url and e.url.startswith("https://raw.githubusercontent.com/") for e in entries)
    ids = {e.id for e in entries}
    assert "scp_wijkdata_jeugdhulp_2017" in ids
    cbs = [e for e in entries if e.path.startswith("regions/")]
    assert cbs and all(e.cbsodata_table == "83553NED" for e in cbs)
    live = sources.load_live_tables(paths.SOURCES_MANIFEST)
    assert [t.cbsodata_table for t in live] == ["83765NED"]


@pytest.mark.realdata
def test_manifest_matches_mirror_sources_tsv():
    mirror = mirror_or_skip()
    tsv = pd.read_csv(mirror / "SOURCES.tsv", sep="\t")
    expected = dict(zip(tsv["path"], tsv["sha256"]))
    got = {e.path: e.sha256 for e in sources.load_manifest()}
    assert got == expected


def test_manifest_validation_errors(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml.safe_dump({"sources": [{"id": "x", "path": "../up.csv"}]}))
    with pytest.raises(sources.ManifestError, match="lacks keys"):
        sources.load_manifest(bad)
    _, manifest, _ = _fixture_set(tmp_path)
    doc = yaml.safe_load(manifest.read_text())
    doc["sources"][0]["sha256"] = "xyz"
    manifest.write_text(yaml.safe_dump(doc))
    with pytest.raises(sources.ManifestError, match="invalid sha256"):
        sources.load_manifest(manifest)


def test_mirror_copy_is_verified_and_read_only(tmp_path, capsys):
    mirror, manifest, files = _fixture_set(tmp_path)
    raw = tmp_path / "raw"
    result = sources.ensure_raw_data(raw, mirror=mirror, online=False, manifest=manifest)
    assert set(result.values()) == {"mirror"}
    for rel, data in files.items():
        target = raw / rel
        assert target.read_bytes() == data
        assert stat.S_IMODE(os.stat(target).st_mode) == 0o444
    assert not list(raw.rglob("*.part"))
    out = capsys.readouterr().out
    assert "[1/2] alpha/a.csv: mirror" in out
    again = sources.ensure_raw_data(raw, mirror=mirror, online=False, manifest=manifest, progress=None)
    assert set(again.values()) == {"present"}


def test_checksum_mismatch_in_mirror_names_file_and_hashes(tmp_path):
    mirror, manifest, files = _fixture_set(tmp_path)
    (mirror / "alpha/a.csv").write_bytes(b"tampered\n")
    raw = tmp_path / "raw"
    with pytest.raises(sources.ChecksumError) as err:
        sources.ensure_raw_data(raw, mirror=mirror, online=False, manifest=manifest, progress=None)
    msg = str(err.value)
    assert "alpha/a.csv" in msg
    assert _sha(files["alpha/a.csv"]) in msg and _sha(b"tampered\n") in msg
    assert not (raw / "alpha/a.csv").exists()
    assert not list(raw.rglob("*.part"))


def test_existing_raw_file_is_never_modified_in_place(tmp_path):
    mirror, manifest, _ = _fixture_set(tmp_path)
    raw = tmp_path / "raw"
    target = raw / "alpha/a.csv"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"locally altered\n")
    before = (target.read_bytes(), os.stat(target).st_mtime_ns)
    with pytest.raises(sources.ChecksumError, match="delete") as err:
        sources.ensure_raw_data(raw, mirror=mirror, online=False, manifest=manifest, progress=None)
    assert str(target) in str(err.value)
    assert (target.read_bytes(), os.stat(target).st_mtime_ns) == before


def test_missing_file_offline_names_file_mirror_path_and_url(tmp_path):
    mirror, manifest, _ = _fixture_set(tmp_path, url_base="https://example.org/data/")
    (mirror / "beta/b.txt").unlink()
    with pytest.raises(sources.MissingSourceError) as err:
        sources.ensure_raw_data(tmp_path / "raw", mirror=mirror, online=False, manifest=manifest, progress=None)
    msg = str(err.value)
    assert "beta/b.txt" in msg
    assert str(mirror / "beta/b.txt") in msg
    assert "https://example.org/data/beta/b.txt" in msg


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


@pytest.fixture
def http_root(tmp_path):
    """A local HTTP server on 127.0.0.1 serving a temporary directory."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_download_from_local_http_server(tmp_path, http_root):
    root, base = http_root
    mirror, manifest, files = _fixture_set(tmp_path, url_base=base)
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    raw = tmp_path / "raw"
    result = sources.ensure_raw_data(raw, mirror=tmp_path / "empty_mirror", online=True, manifest=manifest,
                                     progress=None)
    assert set(result.values()) == {"download"}
    for rel, data in files.items():
        assert (raw / rel).read_bytes() == data
        assert stat.S_IMODE(os.stat(raw / rel).st_mode) == 0o444


def test_download_with_wrong_bytes_raises_checksum_error(tmp_path, http_root):
    root, base = http_root
    _, manifest, files = _fixture_set(tmp_path, url_base=base)
    for rel in files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"not what the manifest says\n")
    raw = tmp_path / "raw"
    with pytest.raises(sources.ChecksumError) as err:
        sources.ensure_raw_data(raw, mirror=None, online=True, manifest=manifest, progress=None)
    assert _sha(b"not what the manifest says\n") in str(err.value)
    assert not (raw / "alpha/a.csv").exists()


def test_download_http_404_is_missing_source_with_url(tmp_path, http_root):
    _, base = http_root
    _, manifest, _ = _fixture_set(tmp_path, url_base=base)
    with pytest.raises(sources.MissingSourceError) as err:
        sources.ensure_raw_data(tmp_path / "raw", mirror=tmp_path / "nomirror", online=True, manifest=manifest,
                                progress=None)
    assert base + "alpha/a.csv" in str(err.value)
    assert "404" in str(err.value)


def test_live_table_pinned_on_first_fetch_and_checked_later(tmp_path):
    table = sources.LiveTable(id="t", cbsodata_table="99999TST", path="live/t.csv", pin="live/t.csv.pin.json")
    rows = [{"WijkenEnBuurten": "WK999901  ", "Aantal": 10}, {"WijkenEnBuurten": "WK999902  ", "Aantal": 20}]
    raw = tmp_path / "raw"
    assert sources.fetch_live_table(table, raw, fetcher=lambda tid: rows) == "pinned"
    import json
    pin = json.loads((raw / table.pin).read_text())
    assert pin["rows"] == 2 and pin["columns"] == ["WijkenEnBuurten", "Aantal"]
    assert stat.S_IMODE(os.stat(raw / table.path).st_mode) == 0o444
    assert sources.fetch_live_table(table, raw, fetcher=lambda tid: rows) == "present"
    os.chmod(raw / table.path, 0o644)
    (raw / table.path).unlink()
    assert sources.fetch_live_table(table, raw, fetcher=lambda tid: rows) == "verified"
    os.chmod(raw / table.path, 0o644)
    (raw / table.path).unlink()
    changed = rows + [{"WijkenEnBuurten": "WK999903", "Aantal": 5}]
    with pytest.raises(sources.PinMismatchError, match="rows"):
        sources.fetch_live_table(table, raw, fetcher=lambda tid: changed)


def test_cli_reports_success_and_errors(tmp_path, capsys):
    mirror, manifest, _ = _fixture_set(tmp_path)
    raw = tmp_path / "raw"
    assert sources.main(["--mirror", str(mirror), "--raw-dir", str(raw), "--manifest", str(manifest),
                         "--offline"]) == 0
    assert "Raw data complete" in capsys.readouterr().out
    (mirror / "beta/b.txt").unlink()
    assert sources.main(["--mirror", str(mirror), "--raw-dir", str(tmp_path / "raw2"), "--manifest",
                         str(manifest), "--offline"]) == 1
    assert "beta/b.txt" in capsys.readouterr().err


def test_check_present_for_synthetic(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    sources.check_present(tmp_path, ["a.txt"])
    with pytest.raises(sources.MissingSourceError, match="b.txt"):
        sources.check_present(tmp_path, ["a.txt", "b.txt"])


@pytest.mark.realdata
def test_real_mirror_fetch_and_errors(tmp_path):
    raw = real_raw_dir()
    entries = sources.load_manifest()
    for e in entries:
        assert sources.sha256_file(raw / e.path) == e.sha256
    # an altered copy in a raw dir stops the fetch with both hashes
    altered = tmp_path / "raw"
    ods = next(e for e in entries if e.path.endswith(".ods"))
    (altered / ods.path).parent.mkdir(parents=True)
    data = bytearray((raw / ods.path).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (altered / ods.path).write_bytes(bytes(data))
    with pytest.raises(sources.ChecksumError) as err:
        sources.ensure_raw_data(altered, mirror=paths.default_mirror(), online=False, ids=[ods.id], progress=None)
    assert ods.sha256 in str(err.value) and "Wijkdata_Jeugdhulp_in_de_wijk.ods" in str(err.value)
    # a file that is in no mirror and offline
    with pytest.raises(sources.MissingSourceError) as err:
        sources.ensure_raw_data(tmp_path / "raw3", mirror=tmp_path / "no_mirror", online=False, ids=[ods.id],
                                progress=None)
    assert ods.url in str(err.value) and str(tmp_path / "no_mirror") in str(err.value)
