"""The only request parser of the API: a JSON object, or an empty body read as ``{}``.

Every parsed body is walked once before any view sees it. A string or an object key holding
NUL or a lone surrogate (``"\\u0000"``, ``"\\ud800"``: neither can be stored), a number that is
not finite (``NaN``, ``Infinity``, ``1e309``) or nesting deeper than ``MAX_DEPTH`` is a
``400 validation_error`` naming the field where it sits (``config.a``, ``order[0].id``), so no
endpoint and no JSON column can forget it.
"""

from __future__ import annotations

import json
import math
import re

from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from vbwd.exceptions import ValidationFailed
from vbwd.fields.characters import NUL, never_stored

# Objects and arrays inside one another, the body itself counted: far above any real input,
# far below the recursion limit.
MAX_DEPTH = 32

BODY = "non_field_errors"
_CONTAINER_OR_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}:]')


class JSONObjectParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read()
        if not raw.strip():
            return {}
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ParseError("Malformed JSON body") from error
        try:
            data = json.loads(text)
        except RecursionError:
            raise _too_deep(_deep_field(text)) from None
        except ValueError as error:
            raise ParseError("Malformed JSON body") from error
        if not isinstance(data, dict):
            raise ParseError("Request body must be a JSON object")
        check_values(data)
        return data


class LenientJSONParser(BaseParser):
    """For endpoints that must never fail on their body (logout): any content type, and a body
    that is not a JSON object, or one the walk refuses, reads as ``{}``."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return JSONObjectParser().parse(stream, media_type, parser_context)
        except (ParseError, ValidationFailed):
            return {}


def check_values(body: dict) -> None:
    """Refuses, naming the field, what no parsed body may hold (see the module docstring). One
    pass in the body's order, without recursion; a path is spelled out only for objects,
    arrays and what is refused."""
    stack = [(iter(body.items()), "", 1, BODY)]
    while stack:
        entries, path, depth, top = stack[-1]
        for key, value in entries:
            if isinstance(key, str):  # an object's key (an array's index is an int)
                _check_key(key, path)
            if isinstance(value, str):
                _check_text(value, _child(path, key))
            elif isinstance(value, float) and not math.isfinite(value):
                field = _child(path, key)
                raise ValidationFailed(f"{field} must be a finite number", field=field)
            elif isinstance(value, (dict, list)):
                field_top = key if depth == 1 else top
                if depth >= MAX_DEPTH:
                    raise _too_deep(field_top)
                inner = value.items() if isinstance(value, dict) else enumerate(value)
                stack.append((iter(inner), _child(path, key), depth + 1, field_top))
                break
        else:
            stack.pop()


def _child(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _check_key(key: str, path: str) -> None:
    problem = never_stored(key)
    if problem is not None:
        what = "a NUL character" if problem == NUL else "a lone surrogate"
        owner = f"{path} has" if path else "The body has"
        raise ValidationFailed(f"{owner} a key containing {what}", field=path or BODY)


def _check_text(text: str, name: str) -> None:
    problem = never_stored(text)
    if problem is None:
        return
    if problem == NUL:
        raise ValidationFailed(f"{name} contains a NUL character", field=name)
    raise ValidationFailed(
        f"{name} contains a lone surrogate, which is not valid Unicode", field=name
    )


def _too_deep(field: str) -> ValidationFailed:
    subject = "The body" if field == BODY else field
    return ValidationFailed(
        f"{subject} is nested too deeply (at most {MAX_DEPTH} levels)", field=field
    )


def _deep_field(text: str) -> str:
    """The top-level key under which ``text`` nests too deeply (read without recursion)."""
    depth, key, last_string = 0, BODY, None
    for token in _CONTAINER_OR_STRING.finditer(text):
        symbol = token.group()
        if symbol in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return key
        elif symbol in "]}":
            depth -= 1
        elif symbol == ":":
            if depth == 1 and last_string is not None:
                key = json.loads(last_string)
        else:
            last_string = symbol
    return key
