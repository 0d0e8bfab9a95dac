"""The API's routes as the URL conf declares them: every pattern under ``/api/v1`` by its
normalised path (``/api/v1/user/invoices/{invoice_id}/pay``), the HTTP methods its view
implements, and its path parameters. Tests that must cover every route walk these instead of
listing routes by hand.
"""

from __future__ import annotations

import re

from django.urls import URLPattern, URLResolver, get_resolver

API_PREFIX = "api/v1/"
# The docs routes themselves, and the catch-all that answers 404 for unknown plugin paths.
DOCS_ROUTE_NAMES = {"schema", "docs", "redoc", "plugin-fallback"}
HTTP_METHODS = ("get", "post", "put", "patch", "delete")
_NAMED_GROUP = re.compile(r"\(\?P<(\w+)>")
_PATH_PARAMETER = re.compile(r"{(\w+)}")


def _replace_named_groups(regex: str) -> str:
    """``(?P<id>[0-9a-f-]{36})`` → ``{id}``, respecting nested parentheses."""
    out, index = [], 0
    while index < len(regex):
        match = _NAMED_GROUP.match(regex, index)
        if not match:
            out.append(regex[index])
            index += 1
            continue
        depth, cursor = 1, match.end()
        while depth:
            char = regex[cursor]
            if char == "\\":
                cursor += 2
                continue
            depth += {"(": 1, ")": -1}.get(char, 0)
            cursor += 1
        out.append("{" + match.group(1) + "}")
        index = cursor
    return "".join(out)


def normalise(path: str) -> str:
    """A URL pattern (regex or ``path()`` style) or a schema path as ``/api/v1/a/{b}/c``."""
    path = _replace_named_groups(path)
    path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", path)  # path() converters
    path = path.replace("^", "").replace("$", "").replace("\\b", "").replace("/?", "/")
    path = "/" + path.strip("/")
    return re.sub(r"/+", "/", path)


def api_routes() -> dict[str, URLPattern]:
    """Every URL pattern under /api/v1 (except the schema and docs), by normalised path."""
    routes: dict[str, URLPattern] = {}

    def walk(patterns, prefix: str) -> None:
        for entry in patterns:
            full = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, full)
            elif entry.name not in DOCS_ROUTE_NAMES:
                routes[normalise(full)] = entry

    for entry in get_resolver().url_patterns:
        if isinstance(entry, URLResolver) and str(entry.pattern) == API_PREFIX:
            walk(entry.url_patterns, API_PREFIX)
    return routes


def view_class(entry: URLPattern):
    return getattr(entry.callback, "cls", None) or getattr(entry.callback, "view_class", None)


def view_methods(entry: URLPattern) -> set[str]:
    """The HTTP methods (lower case) the route's view implements."""
    view = view_class(entry)
    return {method for method in HTTP_METHODS if hasattr(view, method)}


def path_parameters(path: str) -> list[str]:
    """The parameter names of a normalised path, in order."""
    return _PATH_PARAMETER.findall(path)
