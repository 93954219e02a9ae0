"""Reading YAML that users hand us (scenario and sweep files, uploads), with bounds.

PyYAML's safe loader builds no objects but plain data, yet a few hundred bytes of nested
anchors and aliases ("billion laughs") describe a document of billions of values: the loader
shares them, but everything that walks the data afterwards (validation, merging, an error
message quoting it) expands them, and takes gigabytes and minutes. So :func:`read_yaml` refuses
a file larger than :data:`MAX_BYTES`, and a document whose values, counted as if every alias
were written out, exceed :data:`MAX_VALUES` — counted on the node graph with each node's count
remembered, so that the count itself takes time in proportion to the file, not to what it
describes. A key given twice in one mapping is refused too: PyYAML keeps the last silently.
"""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

__all__ = ["MAX_BYTES", "MAX_VALUES", "YamlDocument", "read_yaml"]

MAX_BYTES = 1_000_000
"""Largest YAML file read: scenarios and sweeps are a few kilobytes."""

MAX_VALUES = 100_000
"""Most values a document may hold with its aliases written out."""


class YamlDocument:
    """A YAML file's data and its node tree (which knows the line of every value)."""

    def __init__(self, node: yaml.Node | None, data: Any) -> None:
        self.node = node
        self.data = data


def read_yaml(path: Path, *, error: Callable[[str], Exception], what: str) -> YamlDocument:
    """Read and parse ``path`` within the bounds above.

    Parameters
    ----------
    path
        The file.
    error
        Makes the exception to raise from a message (``ScenarioError``, ``TwinError``).
    what
        What the file is, for messages ("scenario file", "sweep file").

    Raises
    ------
    Exception
        ``error(message)``: the file is missing, unreadable, too large, not YAML, or describes
        too many values; the message names the file, the line where known, and the fix.
    """
    try:
        status = path.stat()
        if stat.S_ISDIR(status.st_mode):
            raise IsADirectoryError
        if not stat.S_ISREG(status.st_mode):
            # a device or a pipe reports no size and reads forever (or waits for a writer)
            raise error(f"{path}: not a regular file (a device or a pipe): give a {what}.")
        if status.st_size > MAX_BYTES:
            raise error(
                f"{path}: a {what} of {status.st_size:,} bytes is too large to be one (at most "
                f"{MAX_BYTES:,}): check that this is the file you meant."
            )
        with path.open("rb") as handle:  # no more than the limit, whatever the size said
            data = handle.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise error(
                f"{path}: a {what} of more than {MAX_BYTES:,} bytes is too large to be one: "
                "check that this is the file you meant."
            )
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise error(f"{path}: no such {what}.") from None
    except IsADirectoryError:
        raise error(f"{path}: a folder, not a {what}.") from None
    except (OSError, UnicodeDecodeError) as err:
        raise error(f"{path}: cannot read it ({err}).") from None
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            values = _expanded_size(node, {}) if node is not None else 0
            if values > MAX_VALUES:
                raise error(
                    f"{path}: with its aliases (*name) written out this {what} holds more than "
                    f"{MAX_VALUES:,} values: write the values out, or use fewer nested aliases."
                )
            twice = _duplicate_key(node, set()) if node is not None else None
            if twice is not None:
                key, first, again = twice
                raise error(
                    f"{path}:{again}: {key!r} is given twice (first on line {first}): YAML "
                    "keeps only the last, so the first would be silently dropped; merge them "
                    "into one."
                )
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except RecursionError:
        raise error(f"{path}: its values are nested too deeply to be a {what}.") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err)
        raise error(f"{path}{where}: not valid YAML: {problem}.") from None
    return YamlDocument(node, data)


def _expanded_size(node: yaml.Node, seen: dict[int, int]) -> int:
    """Values under ``node`` with every alias written out; an alias is the same node object as
    its anchor, so each node is counted once and its count reused."""
    key = id(node)
    if key in seen:
        return seen[key]
    seen[key] = 1  # a node that contains itself (a recursive alias) counts once
    if isinstance(node, yaml.MappingNode):
        total = 1 + sum(_expanded_size(k, seen) + _expanded_size(v, seen) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        total = 1 + sum(_expanded_size(item, seen) for item in node.value)
    else:
        total = 1
    seen[key] = total
    return total


def _duplicate_key(node: yaml.Node, seen: set[int]) -> tuple[str, int, int] | None:
    """The first key given twice in one mapping under ``node`` (the key, and the lines of
    both), which PyYAML's loader would take silently, the last one winning."""
    if id(node) in seen:
        return None
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        lines: dict[str, int] = {}
        for key, _ in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                line = key.start_mark.line + 1
                if key.value in lines:
                    return key.value, lines[key.value], line
                lines[key.value] = line
        children = [child for pair in node.value for child in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = node.value
    else:
        return None
    for child in children:
        found = _duplicate_key(child, seen)
        if found is not None:
            return found
    return None
