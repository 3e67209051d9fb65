"""Reading the qualitative YAML inputs (codebooks, sidecars) with duplicate keys refused.

PyYAML's ``safe_load`` keeps the last of two equal keys in a mapping without a word, so a
codebook with two ``definition:`` lines (or a sidecar with two ``wijken:``) silently loses one.
:func:`load_unique` uses a SafeLoader that refuses that, naming the file, the key and both lines.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping in a YAML file has the same key twice."""


class UniqueKeySafeLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """A SafeLoader that refuses duplicate mapping keys (on libyaml's C parser when PyYAML has it: the
    codebooks are read in every report, and the pure-Python parser takes about ten times as long)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                continue  # the base class reports unhashable keys
            if key in seen:
                first = seen[key].start_mark.line + 1
                raise DuplicateKeyError(
                    None, None, f"key '{key}' appears twice in one mapping (lines {first} and "
                    f"{key_node.start_mark.line + 1}); the second would silently replace the first",
                    key_node.start_mark)
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def load_unique(path: str | Path, error: type[Exception], text: str | None = None) -> Any:
    """Parse the YAML file ``path`` (or ``text`` read from it); raise ``error`` naming the file."""
    path = Path(path)
    text = path.read_text(encoding="utf-8") if text is None else text
    try:
        return yaml.load(text, Loader=UniqueKeySafeLoader)
    except DuplicateKeyError as exc:
        raise error(f"{path}: {exc.problem} (line {exc.problem_mark.line + 1}). Remove or rename one "
                    f"of them.") from None
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML ({exc}).") from exc
