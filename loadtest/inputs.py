"""Input files read with bounds, before anything walks them: the SLO file, stage files,
results.json and promoted baselines. A user's file may be careless or hostile (50 MB by
mistake, a YAML alias bomb of a few hundred bytes that expands to billions of nodes, nesting
thousands deep); each is refused in well under a second with one line, in bounded memory.

    read_text   a regular file, at most `max_bytes`, UTF-8 (FileNotFoundError passes through:
                the caller names what was missing and the fix)
    parse_yaml  YAML counted event by event before it is built: at most NODE_BUDGET nodes once
                every alias is expanded, MAX_DEPTH levels, no recursive alias; the document
                with the line of every path for messages
    read_json   a JSON file (size-capped; too deep or not JSON is one line)
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from loadtest.errors import ConfigError

MAX_YAML_BYTES = 1024 * 1024         # an SLO or stage file is a few KB
MAX_JSON_BYTES = 128 * 1024 * 1024   # results.json keeps up to 200,000 compact samples
NODE_BUDGET = 100_000                # YAML nodes with every alias expanded
MAX_DEPTH = 64                       # nesting levels of a YAML document
TOO_DEEP = f"nested too deeply (at most {MAX_DEPTH} levels); flatten it"

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB" if n >= 1024 * 1024 else f"{n / 1024:g} KB"


def read_text(path: Path, what: str, max_bytes: int = MAX_YAML_BYTES) -> str:
    """The text of `path` (a `what`: "SLO file", "results file"), refused when it is not a
    regular file, larger than `max_bytes` or not UTF-8. FileNotFoundError is left to the
    caller, whose message names the option and the fix."""
    try:
        # non-blocking: opening a FIFO (or a terminal) must not wait for a writer
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(f.fileno())
            if stat.S_ISDIR(info.st_mode):
                raise IsADirectoryError
            if not stat.S_ISREG(info.st_mode):
                raise ConfigError(f"{path}: not a regular file (give the {what}'s path)")
            if info.st_size > max_bytes:
                raise ConfigError(f"{path}: {_size(info.st_size)}, over the {_size(max_bytes)} "
                                  f"limit for {what}s; is it the right file?")
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory (give the {what}'s path)") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read it ({e.strerror or e})") from None
    if len(data) > max_bytes:  # it grew while being read
        raise ConfigError(f"{path}: over the {_size(max_bytes)} limit for {what}s")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start}); save it as UTF-8") \
            from None


@dataclass
class YamlDocument:
    """A parsed YAML document and where each of its paths (keys, list indexes) starts."""
    data: Any
    root: yaml.Node | None
    _lines: dict[tuple[Any, ...], int] | None = field(default=None, repr=False)

    def lines(self) -> dict[tuple[Any, ...], int]:
        """Every path to its 1-based line (built once; bounded by the node budget)."""
        if self._lines is None:
            self._lines = line_map(self.root)
        return self._lines

    def line(self, loc: tuple[Any, ...]) -> int | None:
        """The line of `loc`, else of its longest prefix that has one."""
        lines = self.lines()
        for n in range(len(loc), -1, -1):
            if loc[:n] in lines:
                return lines[loc[:n]]
        return None


def line_map(root: yaml.Node | None) -> dict[tuple[Any, ...], int]:
    """Map every YAML path of a composed document to its 1-based line. An aliased node is
    walked once per path it appears at: the budget checked before bounds the walk."""
    lines: dict[tuple[Any, ...], int] = {}
    if root is None:
        return lines
    stack: list[tuple[yaml.Node, tuple[Any, ...]]] = [(root, ())]
    while stack and len(lines) <= 2 * NODE_BUDGET:
        node, path = stack.pop()
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = path + (k.value,)
                lines[key] = k.start_mark.line + 1
                stack.append((v, key))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                stack.append((item, path + (i,)))
    return lines


def _syntax_error(e: yaml.YAMLError, source: str) -> ConfigError:
    mark = getattr(e, "problem_mark", None)
    where = f"{source}:{mark.line + 1}" if mark else source
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    if "nesting depth" in problem:  # libyaml's own limit, met while scanning ahead
        return ConfigError(f"{where}: {TOO_DEEP}")
    return ConfigError(f"{where}: not valid YAML: {problem} (fix the syntax)")


def _count(events: Iterator[yaml.Event], source: str, budget: int) -> None:
    """Walk the event stream once, keeping only a stack of open collections: the node count
    with every alias expanded (an anchor's size is known when it closes), the depth, and
    aliases to an anchor still open (a recursive structure)."""
    total = 0
    sizes: dict[str, int] = {}
    open_: list[tuple[str | None, int]] = []  # (anchor, total before it)
    open_anchors: set[str] = set()
    aliases = False
    for ev in events:
        line = ev.start_mark.line + 1 if ev.start_mark else 0
        if isinstance(ev, yaml.AliasEvent):
            if ev.anchor in open_anchors:
                raise ConfigError(f"{source}:{line}: the alias *{ev.anchor} refers to the "
                                  "collection it is inside (a recursive structure); write "
                                  "the values out")
            total += sizes.get(ev.anchor, 1)
            aliases = True
        elif isinstance(ev, yaml.ScalarEvent):
            total += 1
            if ev.anchor:
                sizes[ev.anchor] = 1
        elif isinstance(ev, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            open_.append((ev.anchor, total))
            if ev.anchor:
                open_anchors.add(ev.anchor)
            total += 1
            if len(open_) > MAX_DEPTH:
                raise ConfigError(f"{source}:{line}: {TOO_DEEP}")
        elif isinstance(ev, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            anchor, before = open_.pop()
            if anchor:
                sizes[anchor] = total - before
                open_anchors.discard(anchor)
        if total > budget:
            raise ConfigError(
                f"{source}:{line}: more than {budget:,} values once its aliases are expanded "
                "(an alias bomb?); write the values out or use fewer aliases" if aliases else
                f"{source}:{line}: more than {budget:,} values; is it the right file?")


def parse_yaml(text: str, source: str, budget: int = NODE_BUDGET) -> YamlDocument:
    """`text` as one YAML document, refused in one line (naming `source` and the line) when it
    is not YAML or exceeds the budget, the depth or holds a recursive alias."""
    try:
        _count(yaml.parse(text, Loader=_Loader), source, budget)
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
            data = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as e:
        raise _syntax_error(e, source) from None
    except RecursionError:  # belt and braces: the depth is checked first
        raise ConfigError(f"{source}: {TOO_DEEP}") from None
    return YamlDocument(data, root)


def parse_yaml_documents(text: str, source: str, budget: int = NODE_BUDGET
                         ) -> list[YamlDocument]:
    """Every document of a `---`-separated YAML stream (an OpenSLO file holds several),
    bounded as parse_yaml bounds one; empty documents are left out."""
    out = []
    try:
        _count(yaml.parse(text, Loader=_Loader), source, budget)
        loader = _Loader(text)
        try:
            while loader.check_node():
                root = loader.get_node()
                if root is not None:
                    out.append(YamlDocument(loader.construct_document(root), root))
        finally:
            loader.dispose()
    except yaml.YAMLError as e:
        raise _syntax_error(e, source) from None
    except RecursionError:
        raise ConfigError(f"{source}: {TOO_DEEP}") from None
    return out


def read_yaml(path: Path, what: str, max_bytes: int = MAX_YAML_BYTES) -> YamlDocument:
    """A YAML file, size-capped and budgeted (FileNotFoundError left to the caller)."""
    return parse_yaml(read_text(path, what, max_bytes), str(path))


def read_json(path: Path, what: str, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """A JSON file, size-capped (FileNotFoundError left to the caller)."""
    text = read_text(path, what, max_bytes)
    try:
        return json.loads(text)
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a {what}") from None
    except ValueError as e:
        raise ConfigError(f"{path}: not a readable {what} ({e})") from None
