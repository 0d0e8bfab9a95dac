"""Every endpoint validates its input with an input serializer, never by hand.

(a) No view module reads ``request.data[…]``, ``request.data.get(…)``,
``request.query_params.get(…)`` or ``request.GET.get(…)``.
(b) Every operation whose OpenAPI schema has a request body builds an input serializer from
``data=request.data`` in its handler, and the schema's body properties are exactly that
serializer's writable fields (so the documented body is the validated body). Webhooks, which
verify a provider's signature on the raw body, are the exception.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from functools import cache
from pathlib import Path

import pytest
from drf_spectacular.generators import EndpointEnumerator, SchemaGenerator
from rest_framework import serializers

HAND_PARSING = re.compile(
    r"request\.data\[|request\.data\.get\(|request\.query_params\.get\(|request\.GET\.get\("
)


@cache
def _endpoints() -> list[tuple[str, str, type]]:
    """(path, method, view class) of every API operation the URL conf routes."""
    return [
        (path, method.lower(), callback.cls)
        for path, _regex, method, callback in EndpointEnumerator().get_api_endpoints()
        if hasattr(callback, "cls")
    ]


@cache
def _schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def _routes() -> list[tuple[str, type]]:
    return sorted({(path, view) for path, _method, view in _endpoints()}, key=lambda r: r[0])


def _reads_raw_body(handler) -> bool:
    """A provider's signed payload is verified on the bytes as sent, not parsed into fields."""
    source = inspect.getsource(handler)
    return "request.body" in source and "request.data" not in source


def _operations_with_body() -> list[tuple[str, str, type]]:
    paths = _schema()["paths"]
    return [
        (path, method, view)
        for path, method, view in _endpoints()
        if "requestBody" in paths.get(path, {}).get(method, {})
        and not _reads_raw_body(getattr(view, method))
    ]


def _hand_parsing_lines(module) -> list[str]:
    source = Path(inspect.getsourcefile(module)).read_text()
    return [
        f"{Path(inspect.getsourcefile(module)).name}:{number}: {line.strip()}"
        for number, line in enumerate(source.splitlines(), start=1)
        if HAND_PARSING.search(line)
    ]


@pytest.mark.parametrize(
    ("path", "view"), _routes(), ids=[f"{path} {view.__name__}" for path, view in _routes()]
)
def test_no_view_module_parses_input_by_hand(path, view):
    module = inspect.getmodule(view)

    assert _hand_parsing_lines(module) == []


def _called_with_data(handler) -> list[str]:
    """Names of what ``handler`` calls with ``data=request.data`` (possibly wrapped)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(handler)))
    names = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        data = next((keyword.value for keyword in node.keywords if keyword.arg == "data"), None)
        if data is None or "request.data" not in ast.unparse(data):
            continue
        names.append(ast.unparse(node.func))
    return names


def _resolve(name: str, handler, view):
    """What ``name`` (``X``, ``module.X`` or ``self.X``) denotes inside ``handler``; None for
    anything else (a call's result, a local variable)."""
    head, *rest = name.split(".")
    if head == "self":
        target = view
    else:
        namespace = {**vars(inspect.getmodule(view)), **inspect.getclosurevars(handler).nonlocals}
        target = namespace.get(head)
    for part in rest:
        target = getattr(target, part, None)
    return target


def _body_properties(path: str, method: str) -> set[str]:
    schema = _schema()
    content = schema["paths"][path][method]["requestBody"]["content"]
    body = next(iter(content.values()))["schema"]
    if "$ref" in body:
        body = schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]]
    return set(body.get("properties", {}))


@pytest.mark.parametrize(
    ("path", "method", "view"),
    _operations_with_body(),
    ids=[f"{method.upper()} {path}" for path, method, _view in _operations_with_body()],
)
def test_a_documented_body_is_the_validated_body(path, method, view):
    handler = getattr(view, method)
    serializer_classes = [
        target
        for target in (_resolve(name, handler, view) for name in _called_with_data(handler))
        if isinstance(target, type) and issubclass(target, serializers.BaseSerializer)
    ]

    assert serializer_classes, f"{view.__name__}.{method} builds no serializer from request.data"
    fields = serializer_classes[0]().fields
    writable = {name for name, field in fields.items() if not field.read_only}
    assert _body_properties(path, method) == writable
