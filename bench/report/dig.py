"""Reading nested result dicts without a KeyError for what a partial run (`--only`) did not measure."""

from __future__ import annotations

from typing import Any


def dig(node: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node
