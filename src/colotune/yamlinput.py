"""Reading the YAML people give colotune (profile files, -e values, waiver files), bounded.

One reader for every YAML input: a file that is missing, a directory, not UTF-8,
larger than `MAX_BYTES`, not YAML, with a key given twice, or whose data grows
past `MAX_NODES` values through aliases ("billion laughs") is refused with a
message that names where it came from. Nothing else in colotune calls yaml.load.
"""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml

from colotune.errors import ColotuneError, shown

MAX_BYTES = 1 << 20  # 1 MiB: a profile or waiver file is a few KiB
MAX_NODES = 100_000  # values in one document, counted as the data is walked (aliases included)


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping key given twice (PyYAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"key {shown(key)} appears twice (first on line {seen[key].line + 1})",
                    key_node.start_mark,
                )
            if isinstance(key, Hashable):
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def check_size(value: object, source: str) -> None:
    """Refuse data with more than MAX_NODES values, counting shared (aliased) parts each time."""
    count = 0
    stack = [value]
    while stack:
        item = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise ColotuneError(
                f"{source}: more than {MAX_NODES} values (YAML aliases that expand without "
                "bound?); valid: a profile of plain variables"
            )
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)


def load(text: str, source: str) -> Any:
    """One YAML document, checked; `source` names it in every message (a file, `-e KEY`)."""
    try:
        data = yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        if len(detail) > 300:
            detail = detail[:300] + "..."
        raise ColotuneError(f"{source}: not valid YAML ({detail})") from None
    except RecursionError:
        raise ColotuneError(f"{source}: nested too deeply to be a profile") from None
    except ValueError as exc:  # a number PyYAML cannot build, e.g. an int of 5000 digits
        problem = str(exc).split(";")[0][:200]
        raise ColotuneError(
            f"{source}: not valid YAML (a value that cannot be read: {problem})"
        ) from None
    check_size(data, source)
    return data


def read_text(path: Path, source: str) -> str:
    """A file's text: UTF-8, at most MAX_BYTES, a regular file; else an error naming it."""
    try:
        if path.is_dir():
            raise ColotuneError(f"{source}: {path} is a directory (valid: a YAML file)")
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ColotuneError(f"{source}: {path} does not exist (valid: a YAML file)") from None
    except OSError as exc:
        raise ColotuneError(f"{source}: cannot read {path} ({exc.strerror or exc})") from None
    if len(raw) > MAX_BYTES:
        raise ColotuneError(
            f"{source}: {path} is larger than {MAX_BYTES} bytes (valid: a YAML file of variables)"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ColotuneError(
            f"{source}: {path} is not UTF-8 text (byte {raw[exc.start]:#04x} at offset "
            f"{exc.start}); valid: a YAML file in UTF-8"
        ) from None


def load_file(path: Path, source: str) -> Any:
    """A YAML file, read and loaded with the checks above."""
    return load(read_text(path, source), source)
