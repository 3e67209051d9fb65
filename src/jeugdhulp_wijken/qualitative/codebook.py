"""Codebooks: a tree of codes (cluster -> theme -> sub-theme) with stable ids.

A codebook is a YAML file (see ``codebook.yml`` for the HHS dialogue sessions and
``codebook_rondom_het_kind.yml`` for the Rondom het Kind case reviews). Every code has

* ``id``: stable identifier, dotted by level (``SCV``, ``SCV.BEV``, ``SCV.BEV.PUB``). Ids never
  change; the REFI-QDA GUID of a code is derived from the codebook id and the code id
  (UUID version 5), so exports of the same codebook always carry the same GUIDs;
* ``name`` (Dutch) and ``name_en``;
* ``definition``, ``inclusion``, ``exclusion`` notes and example ``indicators``;
* ``keywords``: the transparent rules of the dictionary pre-coder (:mod:`.precoder`);
* ``codable``: false for clusters (and other grouping nodes) that coders must not assign;
* optional ``color`` (#RRGGBB), ``factor_cluster`` (clusters) and ``factors`` (themes): the link
  with the quantitative local-factor clusters of the HHS study.

*Levels.* Depth 1 is a cluster, depth 2 a theme, depth 3 a sub-theme. Analyses aggregate
codes to their theme (depth 2) with :meth:`Codebook.theme_of`; a code at depth 1 has no theme.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .errors import CodebookError
from .yamlfile import load_unique

PACKAGE_DIR = Path(__file__).resolve().parent
PACKAGED = {
    "hhs": PACKAGE_DIR / "codebook.yml",
    "rondom_het_kind": PACKAGE_DIR / "codebook_rondom_het_kind.yml",
}
#: Namespace of the UUID-5 GUIDs of codes (fixed; changing it would change every exported GUID).
GUID_NAMESPACE = uuid.UUID("6f1d3c1e-8a52-4c55-9d3e-5b2f0e4a7c10")
ID_PATTERN = re.compile(r"^[A-Z][A-Z0-9]*(\.[A-Z0-9]+)*$")
REQUIRED_FIELDS = ("id", "name", "definition", "inclusion", "exclusion")
LEVEL_NAMES = {1: "cluster", 2: "theme", 3: "subtheme"}


@dataclass(frozen=True)
class Code:
    id: str
    name: str
    name_en: str
    parent: str | None
    depth: int
    definition: str
    inclusion: str
    exclusion: str
    indicators: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    codable: bool = True
    color: str | None = None
    factor_cluster: str | None = None
    factors: tuple[str, ...] = ()

    @property
    def level(self) -> str:
        return LEVEL_NAMES.get(self.depth, f"level{self.depth}")

    def label(self, lang: str = "nl") -> str:
        return self.name_en if lang == "en" and self.name_en else self.name


@dataclass
class Codebook:
    """An ordered code tree plus the codebook's metadata (title, source, extra sections)."""

    id: str
    title: str
    codes: dict[str, Code]
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    # ------------------------------------------------------------------ lookup
    def __contains__(self, code_id: str) -> bool:
        return code_id in self.codes

    def __getitem__(self, code_id: str) -> Code:
        try:
            return self.codes[code_id]
        except KeyError:
            raise CodebookError(f"Code '{code_id}' is not in codebook '{self.id}' "
                                f"({self.path or 'in memory'}). Valid codes: "
                                f"{', '.join(self.codable_ids())}.") from None

    def guid(self, code_id: str) -> str:
        """The stable REFI-QDA GUID of a code (UUID 5 of codebook id and code id)."""
        return str(uuid.uuid5(GUID_NAMESPACE, f"{self.id}/{code_id}")).upper()

    def children(self, code_id: str | None) -> list[Code]:
        return [c for c in self.codes.values() if c.parent == code_id]

    def clusters(self) -> list[Code]:
        return [c for c in self.codes.values() if c.depth == 1]

    def themes(self, cluster: str | None = None) -> list[Code]:
        return [c for c in self.codes.values() if c.depth == 2 and (cluster is None or c.parent == cluster)]

    def codable_ids(self) -> list[str]:
        return [c.id for c in self.codes.values() if c.codable]

    def ancestors(self, code_id: str) -> list[str]:
        out, cur = [], self[code_id].parent
        while cur is not None:
            out.append(cur)
            cur = self.codes[cur].parent
        return out

    def cluster_of(self, code_id: str) -> str:
        chain = [code_id, *self.ancestors(code_id)]
        return chain[-1]

    def theme_of(self, code_id: str) -> str | None:
        """The depth-2 ancestor (or the code itself at depth 2); None for a cluster."""
        code = self[code_id]
        if code.depth < 2:
            return None
        chain = [code_id, *self.ancestors(code_id)]
        return chain[-2]

    def roll_up(self, code_id: str, level: str = "theme") -> str | None:
        """Map a code to the analysis level: ``"code"`` (itself), ``"theme"`` or ``"cluster"``."""
        if level == "code":
            return self[code_id].id
        if level == "theme":
            return self.theme_of(code_id)
        if level == "cluster":
            return self.cluster_of(code_id)
        raise CodebookError(f"Unknown level '{level}'; use 'code', 'theme' or 'cluster'.")

    def label(self, code_id: str, lang: str = "nl") -> str:
        return self[code_id].label(lang)

    def check_codes(self, code_ids: Iterable[str], *, where: str = "") -> None:
        """Refuse codes that are not in the codebook or are not codable (clusters)."""
        bad = sorted({c for c in code_ids if c not in self.codes})
        if bad:
            raise CodebookError(f"{where + ': ' if where else ''}code(s) {bad} are not in codebook "
                                f"'{self.id}' ({self.path or 'in memory'}). Use one of: "
                                f"{', '.join(self.codable_ids())}; or add the code to the codebook.")
        grouping = sorted({c for c in code_ids if not self.codes[c].codable})
        if grouping:
            raise CodebookError(f"{where + ': ' if where else ''}code(s) {grouping} are grouping nodes "
                                f"(codable: false) in codebook '{self.id}'; code on a theme or sub-theme.")

    # ------------------------------------------------------------------ export
    def to_frame(self, lang: str = "nl"):
        """A flat table of the codebook (one row per code), e.g. for an appendix."""
        import pandas as pd

        rows = [{"code_id": c.id, "level": c.level, "parent": c.parent or "",
                 "cluster": self.cluster_of(c.id), "name": c.label(lang), "definition": c.definition,
                 "inclusion": c.inclusion, "exclusion": c.exclusion,
                 "indicators": "; ".join(c.indicators), "keywords": "; ".join(c.keywords),
                 "codable": c.codable} for c in self.codes.values()]
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        """The YAML structure (nested), e.g. to write an imported codebook back to YAML."""
        def node(c: Code) -> dict[str, Any]:
            d: dict[str, Any] = {"id": c.id, "name": c.name, "name_en": c.name_en}
            if not c.codable:
                d["codable"] = False
            for key in ("color", "factor_cluster"):
                if getattr(c, key):
                    d[key] = getattr(c, key)
            if c.factors:
                d["factors"] = list(c.factors)
            d.update({"definition": c.definition, "inclusion": c.inclusion, "exclusion": c.exclusion,
                      "indicators": list(c.indicators)})
            if c.keywords:
                d["keywords"] = list(c.keywords)
            kids = self.children(c.id)
            if kids:
                d["children"] = [node(k) for k in kids]
            return d

        return {"id": self.id, "title": self.title, **self.meta,
                "codes": [node(c) for c in self.children(None)]}


def resolve_codebook_path(codebook: str | Path) -> Path:
    """``"hhs"`` / ``"rondom_het_kind"`` (packaged) or a path to a codebook YAML file."""
    if isinstance(codebook, str) and codebook in PACKAGED:
        return PACKAGED[codebook]
    path = Path(codebook)
    if not path.is_file():
        raise CodebookError(f"Codebook '{codebook}' not found. Use one of the packaged codebooks "
                            f"{sorted(PACKAGED)} or the path of a codebook YAML file.")
    return path


def load_codebook(codebook: str | Path = "hhs") -> Codebook:
    """Read and validate a codebook YAML file (or a packaged codebook by name)."""
    path = resolve_codebook_path(codebook)
    doc = load_unique(path, CodebookError) or {}
    if not isinstance(doc, dict):
        raise CodebookError(f"{path}: expected a mapping with 'id', 'title' and 'codes'.")
    return codebook_from_dict(doc, path=path)


def codebook_from_dict(doc: dict[str, Any], path: Path | None = None) -> Codebook:
    where = str(path) if path else "codebook"
    for key in ("id", "title", "codes"):
        if not doc.get(key):
            raise CodebookError(f"{where}: top-level key '{key}' is missing or empty.")
    codes: dict[str, Code] = {}

    def visit(node: Any, parent: str | None, depth: int, trail: str) -> None:
        if not isinstance(node, dict):
            raise CodebookError(f"{where}: entry under {trail} is not a mapping.")
        missing = [k for k in REQUIRED_FIELDS if not str(node.get(k) or "").strip()]
        code_id = str(node.get("id") or "?")
        if missing:
            raise CodebookError(f"{where}: code '{code_id}' (under {trail}) lacks {missing}.")
        if not ID_PATTERN.match(code_id):
            raise CodebookError(f"{where}: code id '{code_id}' must be upper-case letters/digits "
                                f"separated by dots (e.g. 'SCV.BEV.PUB').")
        if parent is not None and not code_id.startswith(parent + "."):
            raise CodebookError(f"{where}: code id '{code_id}' must start with its parent's id '{parent}.'.")
        if code_id in codes:
            raise CodebookError(f"{where}: code id '{code_id}' is used twice.")
        color = node.get("color")
        if color and not re.fullmatch(r"#[0-9A-Fa-f]{6}", str(color)):
            raise CodebookError(f"{where}: code '{code_id}': color '{color}' must be '#RRGGBB'.")
        codes[code_id] = Code(
            id=code_id, name=str(node["name"]).strip(), name_en=str(node.get("name_en") or "").strip(),
            parent=parent, depth=depth, definition=str(node["definition"]).strip(),
            inclusion=str(node["inclusion"]).strip(), exclusion=str(node["exclusion"]).strip(),
            indicators=tuple(str(x) for x in node.get("indicators") or ()),
            keywords=tuple(str(x).lower() for x in node.get("keywords") or ()),
            codable=bool(node.get("codable", True)), color=str(color).upper() if color else None,
            factor_cluster=node.get("factor_cluster"), factors=tuple(node.get("factors") or ()))
        for child in node.get("children") or []:
            visit(child, code_id, depth + 1, code_id)

    for top in doc["codes"]:
        visit(top, None, 1, "codes")
    meta = {k: v for k, v in doc.items() if k not in ("id", "title", "codes")}
    return Codebook(id=str(doc["id"]), title=str(doc["title"]), codes=codes, meta=meta, path=path)
