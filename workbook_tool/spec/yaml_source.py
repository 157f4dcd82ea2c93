"""The YAML front end: county.yaml and projects/*.yaml → Nodes that know their file and line.

Safety bounds on YAML input (size, aliases) belong here: they guard the parse, not the model.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Union

import yaml

from .fields import Items, Node
from .problems import Location, Problems


class _LineLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml's safe loader when available (ten times faster), building Nodes with locations."""

    shown = "spec.yaml"        # the file as named in messages (set per file)


def _where(loader: _LineLoader, mark: Any) -> Location:
    return Location(loader.shown, mark.line + 1)


def _construct_map(loader: _LineLoader, node: yaml.MappingNode) -> Node:
    loader.flatten_mapping(node)
    result = Node(_where(loader, node.start_mark))
    for key_node, value_node in node.value:
        # Keys stay plain text: YAML 1.1 would read `no:` as False and `3:` as an int.
        if isinstance(key_node, yaml.ScalarNode):
            key = key_node.value
        else:
            key = loader.construct_object(key_node, deep=True)
        if key in result:
            raise yaml.MarkedYAMLError(problem=f"重复的键 {key!r}", problem_mark=key_node.start_mark)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_where[key] = _where(loader, key_node.start_mark)
    return result


def _construct_seq(loader: _LineLoader, node: yaml.SequenceNode) -> Items:
    return Items(_where(loader, node.start_mark),
                 (loader.construct_object(child, deep=True) for child in node.value),
                 [_where(loader, child.start_mark) for child in node.value])


def _construct_str(loader: _LineLoader, node: yaml.ScalarNode) -> str:
    return loader.construct_scalar(node)


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_seq)
# Dates stay strings so that we can report them with our own message.
_LineLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_str)


def read_yaml(shown: str, text: Union[str, bytes], out: Problems) -> Optional[Node]:
    """The top mapping of one YAML file, or None after reporting why it cannot be read."""
    if isinstance(text, bytes):          # none of UTF-8 (BOM or not), UTF-16 or GBK fits
        out.add("P002", Location(shown, 1))
        return None
    problem = yaml_bounds_problem(Path(shown), text)
    if problem:
        out.add("P075", Location(shown, 1), detail=problem)
        return None
    loader = _LineLoader(text)
    loader.shown = shown
    try:
        doc = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        out.add("P003", Location(shown, mark.line + 1 if mark else 1), detail=exc.problem or exc.context)
        return None
    except yaml.YAMLError as exc:
        out.add("P003", Location(shown, 1), detail=str(exc))
        return None
    finally:
        loader.dispose()
    if not isinstance(doc, Node):
        out.add("P004", Location(shown, 1))
        return None
    return doc


MAX_YAML_MB = 4                 # a county's spec is tens of KB
MAX_YAML_NODES = 200_000        # nodes after expanding every alias (a spec has a few thousand)


def yaml_bounds_problem(path: Path, text: Optional[str] = None) -> Optional[str]:
    """Why a YAML file is too big to load, counted before it is built (size; nodes with aliases expanded)."""
    if text is None:
        size = path.stat().st_size
        if size > MAX_YAML_MB * 1024 * 1024:
            return f"文件 {size / 1024 / 1024:.1f} MB，超过 {MAX_YAML_MB} MB：规格文件不应这么大。"
        return None
    sizes: dict[Optional[str], int] = {}         # anchor → nodes under it
    stack: list[list[Any]] = [[0, None]]         # [nodes so far, anchor] of each open collection
    total = 0
    try:
        for event in yaml.parse(text, Loader=_LineLoader):
            if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                stack.append([1, event.anchor])
                continue
            if isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                count, anchor = stack.pop()
            elif isinstance(event, yaml.ScalarEvent):
                count, anchor = 1, event.anchor
            elif isinstance(event, yaml.AliasEvent):
                count, anchor = sizes.get(event.anchor, 1), None
            else:
                continue
            if anchor:
                sizes[anchor] = count
            stack[-1][0] += count
            total = stack[0][0]
            if total > MAX_YAML_NODES or stack[-1][0] > MAX_YAML_NODES:
                return (f"展开别名（*引用）后超过 {MAX_YAML_NODES:,} 个节点：文件里有大量嵌套的 &锚点/*引用。"
                        "规格文件不需要锚点和引用，请删除它们。")
    except yaml.YAMLError:
        return None                   # the loader reports it with its line
    return None
