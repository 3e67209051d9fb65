"""REFI-QDA exchange: codebooks as ``.qdc`` and coded projects as ``.qdpx``.

The REFI-QDA standard (www.qdasoftware.org) is read and written by QualCoder, ATLAS.ti,
NVivo, MAXQDA and others. The official schemas are shipped in ``schemas/`` (see the header of
each file for origin and licence) and every file this module writes is validated against them.

*Codebook (.qdc).* Codes nest as in the codebook tree; clusters get ``isCodable="false"``.
A code's GUID is the codebook's stable UUID-5 GUID (:meth:`Codebook.guid`). The REFI format
has only a name and a free-text description per code, so the description carries the other
fields as labelled lines (``[id: SCV.BEV.PUB]``, ``Definitie:``, ``Inclusie:``, ``Exclusie:``,
``Indicatoren:``, ``Trefwoorden:``, ``Naam (en):``, ...). Import reads them back, so a codebook
survives the round trip; codebooks made elsewhere (no id lines) get ids derived from the
names. Codebook-level extras (factor lists, table definitions) are not part of REFI-QDA and do
not travel.

*Project (.qdpx).* A zip with ``project.qde`` (Project XML) and ``sources/<GUID>.txt``.
Each coded segment becomes a ``PlainTextSelection`` (start/end = character offsets) with one
``Coding``; the coder is a ``User``, the date the ``creationDateTime``, the memo the selection's
``Description``. Import maps code GUIDs back onto the codebook (GUID, then ``[id: ...]``, then
exact name) and refuses codes it cannot map, naming them.
"""
from __future__ import annotations

import re
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
from lxml import etree

from .codebook import PACKAGE_DIR, Code, Codebook, codebook_from_dict
from .coding import COLUMNS, validate_coding_table
from .errors import RefiQdaError
from .pseudonymise import PseudonymisedCorpus, require_pseudonymised

SCHEMA_DIR = PACKAGE_DIR / "schemas"
NS_CODEBOOK = "urn:QDA-XML:codebook:1.0"
NS_PROJECT = "urn:QDA-XML:project:1.0"
SCHEMAS = {"codebook": SCHEMA_DIR / "Codebook.xsd", "project": SCHEMA_DIR / "Project.xsd"}
ORIGIN = "jeugdhulp-wijken"
ZIP_DATE = (2020, 1, 1, 0, 0, 0)
FIELD_LABELS = [("definition", "Definitie"), ("inclusion", "Inclusie"), ("exclusion", "Exclusie"),
                ("indicators", "Indicatoren"), ("keywords", "Trefwoorden"), ("name_en", "Naam (en)"),
                ("factor_cluster", "Kwantitatief cluster"), ("factors", "Lokale factoren")]
_schema_cache: dict[str, etree.XMLSchema] = {}


def schema(kind: str) -> etree.XMLSchema:
    """The official REFI-QDA schema ``kind`` ("codebook" or "project"), compiled by lxml (libxml2)."""
    if kind not in SCHEMAS:
        raise RefiQdaError(f"Unknown schema '{kind}'; use {sorted(SCHEMAS)}.")
    if kind not in _schema_cache:
        _schema_cache[kind] = etree.XMLSchema(etree.parse(str(SCHEMAS[kind])))
    return _schema_cache[kind]


def validate_xml(xml: bytes | str | Path, kind: str, source: str | Path | None = None) -> None:
    """Validate XML (bytes, text or a file) against the official REFI-QDA schema ``kind``.

    ``source`` (a file name) prefixes the error message, so the user knows which file is invalid.
    """
    if source is not None:
        try:
            validate_xml(xml, kind)
        except RefiQdaError as exc:
            raise RefiQdaError(f"{source}: {exc}") from None
        return
    if isinstance(xml, Path):
        data = xml.read_bytes()
    elif isinstance(xml, str):
        data = xml.encode("utf-8")
    else:
        data = xml
    try:
        doc = etree.fromstring(data)
    except etree.XMLSyntaxError as exc:
        raise RefiQdaError(f"Not well-formed XML: {exc}") from exc
    validator = schema(kind)
    if not validator.validate(doc):
        errors = list(validator.error_log)
        first = errors[0]
        raise RefiQdaError(f"Invalid against the REFI-QDA {kind} schema ({len(errors)} error(s)); first: "
                           f"{first.message} at {first.path} (line {first.line})")


def _guid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "jeugdhulp-wijken/" + "/".join(parts))).upper()


def describe(code: Code) -> str:
    """The REFI description of a code: id line plus labelled fields."""
    lines = [f"[id: {code.id}]"]
    for attr, label in FIELD_LABELS:
        value = getattr(code, attr)
        if isinstance(value, tuple):
            value = "; ".join(value)
        if value:
            lines.append(f"{label}: {value}")
    return "\n".join(lines)


def _code_elements(parent, codebook: Codebook, parent_id: str | None, ns: str) -> None:
    for code in codebook.children(parent_id):
        attrs = {"guid": codebook.guid(code.id), "name": code.name,
                 "isCodable": "true" if code.codable else "false"}
        if code.color:
            attrs["color"] = code.color
        el = etree.SubElement(parent, f"{{{ns}}}Code", attrs)
        etree.SubElement(el, f"{{{ns}}}Description").text = describe(code)
        _code_elements(el, codebook, code.id, ns)


def codebook_to_qdc(codebook: Codebook) -> bytes:
    root = etree.Element(f"{{{NS_CODEBOOK}}}CodeBook", nsmap={None: NS_CODEBOOK},
                         origin=f"{ORIGIN}:{codebook.id}")
    codes = etree.SubElement(root, f"{{{NS_CODEBOOK}}}Codes")
    _code_elements(codes, codebook, None, NS_CODEBOOK)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)


def export_codebook_qdc(codebook: Codebook, path: str | Path) -> Path:
    """Write the codebook as a REFI-QDA ``.qdc`` file (validated against Codebook.xsd)."""
    data = codebook_to_qdc(codebook)
    validate_xml(data, "codebook")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _parse_description(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    labels = {label: attr for attr, label in FIELD_LABELS}
    rest = []
    for line in (text or "").splitlines():
        m = re.match(r"^\[id:\s*([^\]]+)\]\s*$", line.strip())
        if m:
            out["id"] = m.group(1).strip()
            continue
        m = re.match(r"^([^:]{3,30}):\s*(.*)$", line.strip())
        if m and m.group(1) in labels:
            out[labels[m.group(1)]] = m.group(2).strip()
        elif line.strip():
            rest.append(line.strip())
    if rest and "definition" not in out:
        out["definition"] = " ".join(rest)
    return out


def _slug(name: str) -> str:
    s = re.sub(r"[^A-Z0-9]+", "", name.upper().encode("ascii", "ignore").decode())
    if not s or not s[0].isalpha():
        s = "C" + s
    return s[:12]


def _codes_from_xml(code_parent, ns: str, parent_id: str | None, used: set[str]) -> list[dict[str, Any]]:
    out = []
    for el in code_parent.findall(f"{{{ns}}}Code"):
        desc_el = el.find(f"{{{ns}}}Description")
        fields = _parse_description(desc_el.text if desc_el is not None else "")
        code_id = fields.get("id")
        if not code_id:
            base = (parent_id + "." if parent_id else "") + _slug(el.get("name"))
            code_id, i = base, 2
            while code_id in used:
                code_id, i = f"{base}{i}", i + 1
        used.add(code_id)
        node: dict[str, Any] = {
            "id": code_id, "name": el.get("name"), "name_en": fields.get("name_en", ""),
            "codable": el.get("isCodable") in ("true", "1"),
            "definition": fields.get("definition") or el.get("name"),
            "inclusion": fields.get("inclusion") or "(niet opgegeven)",
            "exclusion": fields.get("exclusion") or "(niet opgegeven)",
            "indicators": [x.strip() for x in fields.get("indicators", "").split(";") if x.strip()],
            "keywords": [x.strip() for x in fields.get("keywords", "").split(";") if x.strip()],
            "factors": [x.strip() for x in fields.get("factors", "").split(";") if x.strip()],
        }
        if el.get("color"):
            node["color"] = el.get("color")
        if fields.get("factor_cluster"):
            node["factor_cluster"] = fields["factor_cluster"]
        node["_guid"] = el.get("guid")
        kids = _codes_from_xml(el, ns, code_id, used)
        if kids:
            node["children"] = kids
        out.append(node)
    return out


def _strip_guids(nodes: list[dict[str, Any]], guids: dict[str, str]) -> None:
    for n in nodes:
        guids[n.pop("_guid")] = n["id"]
        _strip_guids(n.get("children", []), guids)


def import_codebook_qdc(path: str | Path, *, validate: bool = True) -> Codebook:
    """Read a REFI-QDA ``.qdc`` file into a :class:`Codebook`."""
    path = Path(path)
    data = path.read_bytes()
    if validate:
        validate_xml(data, "codebook", source=path)
    root = etree.fromstring(data)
    origin = root.get("origin") or ""
    cb_id = origin.split(":", 1)[1] if origin.startswith(ORIGIN + ":") else re.sub(r"\W+", "_", path.stem)
    nodes = _codes_from_xml(root.find(f"{{{NS_CODEBOOK}}}Codes"), NS_CODEBOOK, None, set())
    _strip_guids(nodes, {})
    return codebook_from_dict({"id": cb_id, "title": f"{path.name} (REFI-QDA)", "codes": nodes}, path=path)


# --------------------------------------------------------------------------- projects

def _iso(date: str) -> str:
    return f"{date}T00:00:00Z"


def export_qdpx(corpus: PseudonymisedCorpus, table: pd.DataFrame, codebook: Codebook, path: str | Path,
                *, project_name: str = "jeugdhulp-wijken") -> Path:
    """Write pseudonymised sources and coded segments as a REFI-QDA ``.qdpx`` project."""
    corpus = require_pseudonymised(corpus, "export_qdpx")
    P = NS_PROJECT
    root = etree.Element(f"{{{P}}}Project", nsmap={None: P}, name=project_name, origin=ORIGIN)
    coders = sorted(table["coder"].unique())
    users = etree.SubElement(root, f"{{{P}}}Users")
    user_guid = {c: _guid("user", c) for c in coders}
    for c in coders:
        etree.SubElement(users, f"{{{P}}}User", guid=user_guid[c], name=c)
    cb = etree.SubElement(root, f"{{{P}}}CodeBook")
    _code_elements(etree.SubElement(cb, f"{{{P}}}Codes"), codebook, None, P)
    sources = etree.SubElement(root, f"{{{P}}}Sources")
    files: dict[str, str] = {}
    for t in corpus:
        sguid = _guid("source", t.session_id)
        src = etree.SubElement(sources, f"{{{P}}}TextSource", guid=sguid, name=t.session_id,
                               plainTextPath=f"internal://{sguid}.txt")
        files[f"sources/{sguid}.txt"] = t.text
        for r in table[table["session"] == t.session_id].sort_values(["start", "end", "segment_id"]).itertuples():
            sel = etree.SubElement(src, f"{{{P}}}PlainTextSelection", guid=_guid("sel", r.segment_id),
                                   name=str(r.segment_id), startPosition=str(int(r.start)),
                                   endPosition=str(int(r.end)), creatingUser=user_guid[r.coder],
                                   creationDateTime=_iso(r.date))
            if r.memo:
                etree.SubElement(sel, f"{{{P}}}Description").text = r.memo
            coding_el = etree.SubElement(sel, f"{{{P}}}Coding", guid=_guid("coding", r.segment_id),
                                         creatingUser=user_guid[r.coder], creationDateTime=_iso(r.date))
            etree.SubElement(coding_el, f"{{{P}}}CodeRef", targetGUID=codebook.guid(r.code_id))
    xml = etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)
    validate_xml(xml, "project")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in [("project.qde", xml), *sorted((k, v.encode("utf-8")) for k, v in files.items())]:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, content)
    return path


def import_qdpx(path: str | Path, codebook: Codebook, corpus: PseudonymisedCorpus, *,
                validate: bool = True) -> pd.DataFrame:
    """Coded text segments of a ``.qdpx`` project as a validated coding table.

    Sources are matched to sessions by name (``S01`` or ``S01.txt``); each source's text must
    equal the pseudonymised transcript, otherwise its offsets cannot be trusted.
    """
    corpus = require_pseudonymised(corpus, "import_qdpx")
    path = Path(path)
    P = NS_PROJECT
    try:
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, FileNotFoundError) as exc:
        raise RefiQdaError(f"{path}: not a .qdpx (zip) file ({exc}).") from exc
    with z:
        names = z.namelist()
        if "project.qde" not in names:
            raise RefiQdaError(f"{path}: project.qde is missing from the archive.")
        xml = z.read("project.qde")
        if validate:
            validate_xml(xml, "project", source=path)
        root = etree.fromstring(xml)
        users = {u.get("guid"): (u.get("name") or u.get("id") or u.get("guid"))
                 for u in root.iter(f"{{{P}}}User")}
        by_guid = {codebook.guid(c): c for c in codebook.codes}
        by_name = {codebook.codes[c].name.casefold(): c for c in codebook.codes}
        code_map: dict[str, str] = {}
        unknown: list[str] = []
        for el in root.iter(f"{{{P}}}Code"):
            g = el.get("guid")
            desc = el.find(f"{{{P}}}Description")
            fields = _parse_description(desc.text if desc is not None else "")
            cid = by_guid.get(g) or (fields.get("id") if fields.get("id") in codebook else None) \
                or by_name.get((el.get("name") or "").casefold())
            if cid:
                code_map[g] = cid
            else:
                unknown.append(el.get("name") or g)
        rows = []
        for src in root.iter(f"{{{P}}}TextSource"):
            session = re.sub(r"\.(txt|md)$", "", src.get("name") or "")
            if session not in corpus:
                raise RefiQdaError(f"{path}: source '{src.get('name')}' matches no session of the pseudonymised "
                                   f"corpus {corpus.session_ids}.")
            content = src.find(f"{{{P}}}PlainTextContent")
            if content is not None:
                text = content.text or ""
            else:
                ref = (src.get("plainTextPath") or "").replace("internal://", "sources/")
                if ref not in names:
                    raise RefiQdaError(f"{path}: source '{session}' refers to {ref}, which is not in the archive.")
                text = z.read(ref).decode("utf-8")
            if text.replace("\r\n", "\n") != corpus[session].text:
                raise RefiQdaError(f"{path}: the text of source '{session}' differs from the pseudonymised "
                                   f"transcript; its offsets cannot be mapped. Code the pseudonymised text.")
            for sel in src.findall(f"{{{P}}}PlainTextSelection"):
                desc = sel.find(f"{{{P}}}Description")
                for cod in sel.findall(f"{{{P}}}Coding"):
                    g = cod.find(f"{{{P}}}CodeRef").get("targetGUID")
                    user = cod.get("creatingUser") or sel.get("creatingUser")
                    when = cod.get("creationDateTime") or sel.get("creationDateTime") or ""
                    rows.append({
                        "segment_id": sel.get("name") or sel.get("guid")[:8], "session": session,
                        "start": sel.get("startPosition"), "end": sel.get("endPosition"),
                        "code_id": code_map.get(g, f"<unmapped {g}>"), "coder": users.get(user, user or ""),
                        "date": when[:10], "memo": (desc.text or "") if desc is not None else "",
                    })
    used_unknown = sorted({r["code_id"] for r in rows if r["code_id"].startswith("<unmapped")})
    if used_unknown:
        raise RefiQdaError(f"{path}: coded segments use code(s) {sorted(unknown)} that are not in codebook "
                           f"'{codebook.id}'. Add them to the codebook (or recode) and export again.")
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["_source"] = path.name
    df["_line"] = [f"selection {i}" for i in range(1, len(df) + 1)]
    return validate_coding_table(df, codebook, corpus, source=path.name)
