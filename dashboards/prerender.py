"""Dash layouts as plain HTML, for the page's first paint before any script has run.

A Dash page is drawn by React once the browser has loaded and run Dash's scripts (over a
second on a slow machine, more while Plotly's 4.8 MB compile on the same thread). The app puts
this module's HTML of the City page into the index document itself, so the browser paints the
city's name, its summary cards and the static picture of its map as soon as the document and
the picture arrive; Dash's own rendering of the same layout then takes its place (see
:mod:`dashboards.app`).

Only what HTML can show without scripts is written: ``dash.html`` components with their
classes, styles and text; ``dcc.Link`` as a link; ``dcc.Loading``'s children. Other ``dcc``
components (inputs, graphs, stores) are left out. Ids are left out too: the copy stays in the
document, hidden, after Dash has drawn the page, and an id must name one element only.
"""

from __future__ import annotations

import html as html_text
import re
from collections.abc import Mapping
from typing import Any

from dash.development.base_component import Component

__all__ = ["to_html"]

_ATTRIBUTES = {
    "className": "class",
    "src": "src",
    "alt": "alt",
    "title": "title",
    "href": "href",
    "role": "role",
    "width": "width",
    "height": "height",
}
"""Dash props written as HTML attributes (the rest are behaviour, or ids)."""

_VOID = {"img", "hr", "br", "input", "wbr"}

# properties React writes without "px" when given a number
_UNITLESS = {"opacity", "zIndex", "flex", "flexGrow", "flexShrink", "fontWeight", "lineHeight"}


def _css(style: Mapping[str, Any]) -> str:
    rules = []
    for name, value in style.items():
        if isinstance(value, int | float) and name not in _UNITLESS:
            value = f"{value}px"
        prop = re.sub(r"[A-Z]", lambda m: "-" + m.group(0).lower(), name)
        rules.append(f"{prop}: {value}")
    return "; ".join(rules)


def to_html(node: Any, *, attributes: Mapping[str, Mapping[str, str]] | None = None) -> str:
    """HTML of a Dash layout (see the module docstring for what is kept).

    Parameters
    ----------
    node : dash component, str, number, list or None
        The layout or a part of it.
    attributes : mapping, optional
        Extra HTML attributes by component id, for attributes Dash components do not take
        (e.g. ``elementtiming``, which lets a page measure when an image was painted).

    Returns
    -------
    str
        The HTML, text escaped.
    """
    attributes = attributes or {}
    if node is None:
        return ""
    if isinstance(node, str | int | float):
        return html_text.escape(str(node))
    if isinstance(node, list | tuple):
        return "".join(to_html(child, attributes=attributes) for child in node)
    if not isinstance(node, Component):
        raise TypeError(f"cannot write {type(node).__name__} as HTML")
    props = node.to_plotly_json()["props"]
    children = props.get("children")
    if node._namespace == "dash_html_components":
        tag = node._type.lower()
    elif node._type == "Link":
        tag = "a"
    elif node._type == "Loading":
        return to_html(children, attributes=attributes)
    else:
        return ""  # inputs, graphs, stores: nothing to show before the scripts run
    parts = [tag]
    for prop, attribute in _ATTRIBUTES.items():
        if props.get(prop) is not None:
            parts.append(f'{attribute}="{html_text.escape(str(props[prop]))}"')
    if props.get("style"):
        parts.append(f'style="{html_text.escape(_css(props["style"]))}"')
    for name, value in attributes.get(str(props.get("id")), {}).items():
        parts.append(f'{name}="{html_text.escape(value)}"')
    opening = "<" + " ".join(parts) + ">"
    if tag in _VOID:
        return opening
    return f"{opening}{to_html(children, attributes=attributes)}</{tag}>"
