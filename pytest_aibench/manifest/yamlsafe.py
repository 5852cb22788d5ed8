"""Safe YAML for manifests: plain data out, a line for every key path, and no surprises.

PyYAML's composer only builds a node graph (nothing is constructed or executed), so we compose
and then construct the data ourselves. That lets us keep a line number for every key path,
refuse every tag outside YAML's core schema (``!!python/...`` and custom tags), refuse duplicate
keys, and bound the work an aliased ("billion laughs") document can demand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pytest_aibench.core.lines import KeyPath, LineIndex, Problem

MAX_BYTES = 4 * 1024 * 1024
MAX_NODES = 200_000
MAX_DEPTH = 64

_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_CORE + t for t in ("str", "int", "float", "bool", "null")}
# Dates stay the text the author wrote: manifests have no use for datetime objects.
_AS_TEXT = {_CORE + "timestamp"}


class YamlError(Exception):
    """The document could not be read as data; carries the problems found."""

    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


def load(path: Path) -> tuple[Any, LineIndex, bytes]:
    """Read ``path`` into plain dicts/lists/scalars plus a :class:`LineIndex` and the raw bytes."""
    raw = Path(path).read_bytes()
    data, index = loads(raw)
    return data, index, raw


def loads(raw: bytes) -> tuple[Any, LineIndex]:
    """Parse bytes; raise :class:`YamlError` for anything that is not a plain data document."""

    if len(raw) > MAX_BYTES:
        raise YamlError([Problem(None, (), f"file is {len(raw)} bytes; manifests are limited to {MAX_BYTES}")])
    if b"\x00" in raw:
        raise YamlError([Problem(None, (), "file holds NUL bytes: it looks binary, not YAML text")])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise YamlError(
            [Problem(line, (), f"not UTF-8 text (invalid byte at offset {exc.start}): is this a binary file?")]
        ) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        raise YamlError([Problem(mark.line + 1 if mark else None, (), f"YAML syntax error: {what}")]) from None
    except yaml.YAMLError as exc:
        raise YamlError([Problem(None, (), f"YAML error: {exc}")]) from None
    except RecursionError:
        raise YamlError([Problem(None, (), f"document is nested too deeply (limit {MAX_DEPTH} levels)")]) from None
    if node is None:
        raise YamlError(
            [Problem(1, (), "file is empty: expected a mapping with 'suite', 'version', 'datasets' and 'models'")]
        )
    builder = _Builder()
    data = builder.build(node, (), 0)
    if builder.problems:
        raise YamlError(builder.problems)
    return data, builder.index


class _Builder:
    def __init__(self) -> None:

        # Used only for scalars whose tag is one of YAML's core scalar tags.
        self.scalars = yaml.SafeLoader("")
        self.index = LineIndex()
        self.problems: list[Problem] = []
        self.count = 0

    def fail(self, node: Any, path: KeyPath, message: str) -> None:
        self.problems.append(Problem(node.start_mark.line + 1, path, message))

    def build(self, node: Any, path: KeyPath, depth: int) -> Any:

        self.count += 1
        if self.count > MAX_NODES:
            raise YamlError(
                [
                    Problem(
                        node.start_mark.line + 1,
                        path,
                        f"document expands to more than {MAX_NODES} values "
                        "(deeply nested aliases?); manifests must stay small",
                    )
                ]
            )
        if depth > MAX_DEPTH:
            raise YamlError(
                [Problem(node.start_mark.line + 1, path, f"document is nested deeper than {MAX_DEPTH} levels")]
            )
        self.index.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.ScalarNode):
            if node.tag in _AS_TEXT:
                return node.value
            if node.tag not in _SCALAR_TAGS:
                self.fail(
                    node,
                    path,
                    f"tag {_short(node.tag)!r} is not allowed: manifests hold plain data "
                    "(strings, numbers, booleans, null, lists, mappings)",
                )
                return None
            return self.scalars.construct_object(node)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _CORE + "seq":
                self.fail(node, path, f"tag {_short(node.tag)!r} is not allowed on a list")
                return None
            return [self.build(child, path + (i,), depth + 1) for i, child in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            if node.tag != _CORE + "map":
                self.fail(node, path, f"tag {_short(node.tag)!r} is not allowed on a mapping")
                return None
            return self._mapping(node, path, depth)
        self.fail(node, path, "unsupported YAML node")  # pragma: no cover - composer yields only the three kinds
        return None

    def _mapping(self, node: Any, path: KeyPath, depth: int) -> dict:

        out: dict = {}
        merged: dict = {}
        for key_node, value_node in node.value:
            if key_node.tag == _CORE + "merge":
                sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                for src in sources:
                    value = self.build(src, path, depth + 1)
                    if not isinstance(value, dict):
                        self.fail(value_node, path, "'<<' merges only mappings")
                        continue
                    for k, v in value.items():
                        merged.setdefault(k, v)
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in _SCALAR_TAGS | _AS_TEXT:
                self.fail(key_node, path, "mapping keys must be plain scalars")
                continue
            key = key_node.value if key_node.tag in _AS_TEXT else self.scalars.construct_object(key_node)
            if not isinstance(key, str):
                key = str(key)
            if key in out:
                self.fail(
                    key_node,
                    path + (key,),
                    f"duplicate key {key!r} (first on line {self.index.lines.get(path + (key,))})",
                )
                continue
            self.index.lines[path + (key,)] = key_node.start_mark.line + 1
            out[key] = self.build(value_node, path + (key,), depth + 1)
        for k, v in merged.items():
            out.setdefault(k, v)
        return out


def _short(tag: str) -> str:
    return "!!" + tag[len(_CORE) :] if tag.startswith(_CORE) else tag
