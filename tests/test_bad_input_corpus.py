"""Bad input is refused with a 4xx in the error envelope, never a 5xx, and writes nothing.

A corpus of bad values (NUL in every position, lone surrogates, deep nesting, numbers that are
not finite or too large for their column, digits of other scripts, dates out of range, control,
bidirectional-formatting and invisible characters, over-long text, values of the wrong JSON
type) is applied to every field of every body of every write operation (POST, PUT, PATCH) the
OpenAPI schema lists, and to every path and query parameter of every operation. A new endpoint
is covered as soon as it is routed. Each operation is called by the caller it is meant for (an
admin, a customer, anyone for a public route) with real ids in its path, so the values reach
validation, and once by each other caller.

Every answer must be a 4xx with the JSON envelope; a value no parsed body may hold (NUL, a lone
surrogate, a number that is not finite, nesting deeper than the limit) must be a 400
validation_error naming the field. After each operation every table must hold exactly the rows
it held before. The values per field are a deterministic sample of the corpus, so the test stays
well under a minute; over all fields every value is sent many times. (Negative zero is a valid
zero, not bad input: the field tests check that it is read as 0.)
"""

from __future__ import annotations

import hashlib
import inspect
import json
import random
import re
import uuid
from dataclasses import dataclass, field
from functools import cache
from urllib.parse import quote

import pytest
from django.apps import apps
from django.conf import settings as django_settings
from django.db import connection
from drf_spectacular.generators import EndpointEnumerator, SchemaGenerator
from rest_framework.test import APIClient

from vbwd.api import AdminMixin, UserMixin
from vbwd.parsers import MAX_DEPTH, LenientJSONParser

WRITE_METHODS = ("post", "put", "patch")


@dataclass(frozen=True)
class Raw:
    """JSON text sent as written: what ``json.dumps`` does not produce (``NaN``, ``1e309``,
    nesting deeper than Python's own encoder goes)."""

    text: str


def _deep_arrays(levels: int) -> Raw:
    return Raw("[" * levels + "]" * levels)


def _deep_objects(levels: int) -> Raw:
    return Raw('{"a": ' * levels + "1" + "}" * levels)


# Values no parsed body may hold, in any field: 400 validation_error naming the field.
UNSTORABLE = {
    "nul": ["\x00", "a\x00b", "tail\x00", "\x00lead"],
    "lone surrogate": ["\ud800", "\udfff", "a\udc00b", "\udbff\udbff"],
    "nul in a key": [{"\x00": "x"}, {"k": {"a\x00": 1}}],
    "nested nul": [{"k": ["ok", "\x00"]}, [["\x00"]]],
    "deep nesting": [_deep_arrays(1000), _deep_objects(MAX_DEPTH + 5)],
    "not finite": [Raw("NaN"), Raw("1e309"), Raw("-Infinity")],
}
UNICODE_DIGIT_UUID = "\u0661" * 8 + "-1234-1234-1234-123456789012"
# Values that are bad for a kind of field: any 4xx.
BAD_FOR = {
    "text": [
        "\x01\x1b[31mred",
        "a\x7fb",
        "a\x0bb",
        "\u202egnp.exe",
        "a\u2066b\u2069",
        "\u2060",
        "a\ufeffb",
        "a\u180eb",
        12345,
        True,
        [],
        {"a": 1},
    ],
    "secret": [12345, True, [], {"a": 1}],
    "money": [
        "1e309",
        "NaN",
        "Infinity",
        "-Infinity",
        "1" * 27,
        "1" * 27 + ".00",
        "\u0661\u0662\u0663",
        "\uff11\uff12",
        "\u0967.50",
        "1_000",
        "0x1A",
        "1e999999999",
        "12.123456789",
        "-5",
        True,
        {"a": 1},
        1e300,
    ],
    "integer": [
        2**63,
        2**64,
        -(2**63) - 1,
        10**40,
        1.5,
        "\u0663",
        "1e309",
        True,
        "abc",
        {"a": 1},
    ],
    "boolean": ["maybe", 2, {"a": 1}, "\u202etrue", [True]],
    "date": [
        "0000-01-01",
        "10000-01-01",
        "\u0662\u0660\u0662\u0665-01-01",
        "2025-02-30",
        "9999-12-31",
        "1899-12-31",
        20250101,
    ],
    "datetime": [
        "0000-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-14:00",
        "10000-01-01T00:00:00Z",
        "\u0662\u0660\u0662\u0665-01-01T00:00:00Z",
        "2025-13-01T00:00:00Z",
        "1899-12-31T23:59:59Z",
        1700000000,
    ],
    "uuid": [
        "not-a-uuid",
        UNICODE_DIGIT_UUID,
        "12345678_1234-1234-1234-123456789012",
        "\u202e00000000-0000-0000-0000-000000000000",
        123,
        [],
    ],
    "object": ["not an object", 12, [1, 2], True],
    "array": ["not a list", {"a": 1}, [None], 7],
}
ITEMS_BAD_FOR = {
    "uuid": [["not-a-uuid"], [UNICODE_DIGIT_UUID], [123]],
    "text": [["\x01"], ["\u202e"], [123], [{"a": 1}]],
    "integer": [[2**64], ["\u0661"], [1.5], [-(2**63) - 1]],
    "object": [
        [{"id": "not-a-uuid", "position": 1}],
        [{"id": "00000000-0000-0000-0000-000000000001", "position": 2**64}],
        [{"id": "00000000-0000-0000-0000-000000000001", "position": "\u0661"}],
        [{"id": UNICODE_DIGIT_UUID, "position": 1}],
    ],
}
# Path and query parameters, percent-encoded as sent.
PARAMETER_UNSTORABLE = ["%00", "a%00b", "%ED%A0%80", "%FF", "%C0%80"]
PATH_BAD = [
    "%E2%80%AE",
    "%01",
    "%D9%A1" * 8 + "-1234-1234-1234-123456789012",
    "..%2F..",
    "x" * 3000,
]
QUERY_BAD_FOR = {
    "integer": ["%D9%A1", "1e309", "1_0", "%EF%BC%91"],
    "boolean": ["maybe", "%E2%80%AEtrue"],
    "uuid": ["not-a-uuid", quote(UNICODE_DIGIT_UUID)],
    "date": ["0000-01-01", "10000-01-01", "9999-12-31", quote("\u0662\u0660\u0662\u0665-01-01")],
    "text": ["%01", "%E2%80%AE", "%E2%81%A0", "%1B%5B31m"],
}

CORPUS_SIZE = (
    sum(len(values) for values in UNSTORABLE.values())
    + sum(len(values) for values in BAD_FOR.values())
    + sum(len(values) for values in ITEMS_BAD_FOR.values())
    + len(PARAMETER_UNSTORABLE)
    + len(PATH_BAD)
    + sum(len(values) for values in QUERY_BAD_FOR.values())
    + 1  # over-long text: one character over the field's limit, or over the body limit
)

# Values sampled per body field for the caller the operation is meant for; every other caller
# gets one.
UNSTORABLE_PER_FIELD = 1
BAD_PER_FIELD = 3
PARAMETER_VALUES = 3
SECRET_NAME = re.compile(r"password|^token$|refresh_token|^uid$|captcha|signature", re.I)


# --- the operations ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    view: type
    body: dict  # property name -> schema
    path_parameters: tuple[str, ...]
    query: dict  # name -> schema

    @property
    def caller(self) -> str:
        if issubclass(self.view, AdminMixin):
            return "admin"
        if issubclass(self.view, UserMixin):
            return "customer"
        return "anonymous"

    @property
    def raw_body(self) -> bool:
        """The view verifies a provider's signature on the bytes as sent: no parsed body."""
        source = inspect.getsource(getattr(self.view, self.method))
        return "request.body" in source and "request.data" not in source

    @property
    def lenient(self) -> bool:
        """The view reads any body as an object and never refuses it (logout)."""
        return any(issubclass(parser, LenientJSONParser) for parser in self.view.parser_classes)


@dataclass(frozen=True)
class Call:
    operation: Operation
    caller: str
    body: dict | None = None  # field -> value
    path_values: dict = field(default_factory=dict)  # parameter -> raw (percent-encoded) text
    query: str = ""
    unstorable_field: str | None = None  # a value the body walk must refuse, naming this field

    def describe(self) -> str:
        return (
            f"{self.caller} {self.operation.method.upper()} {self.operation.path} "
            f"path={self.path_values} query={self.query!r} body={self.body!r}"[:300]
        )


@cache
def _schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def _resolved(schema: dict) -> dict:
    components = _schema()["components"]["schemas"]
    while "$ref" in schema or "allOf" in schema:
        if "$ref" in schema:
            schema = components[schema["$ref"].rsplit("/", 1)[-1]]
        else:
            schema = {**schema, **_resolved(schema["allOf"][0])}
            schema.pop("allOf")
    return schema


@cache
def _operations() -> tuple[Operation, ...]:
    views = {
        (path, method.lower()): callback.cls
        for path, _regex, method, callback in EndpointEnumerator().get_api_endpoints()
        if hasattr(callback, "cls")
    }
    operations = []
    for path, methods in _schema()["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, spec in methods.items():
            view = views.get((path, method))
            if view is None:
                continue
            body = {}
            if method in WRITE_METHODS and "requestBody" in spec:
                content = _resolved(next(iter(spec["requestBody"]["content"].values()))["schema"])
                # An object of keys the schema does not name (a plugin's configuration): one.
                body = dict(content.get("properties") or {"key": {}})
            parameters = spec.get("parameters", [])
            operations.append(
                Operation(
                    method=method,
                    path=path,
                    view=view,
                    body=body,
                    path_parameters=tuple(p["name"] for p in parameters if p["in"] == "path"),
                    query={
                        p["name"]: p.get("schema", {}) for p in parameters if p["in"] == "query"
                    },
                )
            )
    return tuple(operations)


def _kind(name: str, schema: dict) -> str:
    schema = _resolved(schema)
    # A value the schema lets take another shape too (an amount as a number, a flag as "yes",
    # "" for a blank id) is judged by its first, main shape.
    alternatives = schema.get("oneOf") or schema.get("anyOf")
    if alternatives:
        schema = _resolved(alternatives[0])
    kind = {"uuid": "uuid", "decimal": "money", "date": "date", "date-time": "datetime"}.get(
        schema.get("format", "")
    )
    if kind:
        return kind
    kind = {"integer": "integer", "number": "money", "boolean": "boolean", "array": "array"}.get(
        schema.get("type", "")
    )
    if kind:
        return kind
    if schema.get("type") == "object" or ("type" not in schema and "oneOf" not in schema):
        return "object"
    return "secret" if SECRET_NAME.search(name) else "text"


def _bad_values(name: str, schema: dict) -> list:
    """What is bad for this field, besides ``UNSTORABLE``."""
    kind = _kind(name, schema)
    values = list(BAD_FOR[kind])
    schema = _resolved(schema)
    if kind == "text":
        limit = schema.get("maxLength")
        values.append("x" * (limit + 1 if limit else django_settings.VBWD_MAX_BODY_BYTES + 1))
    if kind == "array":
        values += ITEMS_BAD_FOR.get(_kind(name, schema.get("items", {})), [])
    if kind == "object":
        texts = [key for key, prop in schema.get("properties", {}).items() if "maxLength" in prop]
        values += [{key: "\x01"} for key in texts[:1]] + [{key: "\u202e"} for key in texts[-1:]]
    return values


def _sample(population: list, count: int, seed: str) -> list:
    return random.Random(seed).sample(population, min(count, len(population)))


def _unstorable() -> list:
    return [value for values in UNSTORABLE.values() for value in values]


def _body_calls(operation: Operation) -> list[Call]:
    calls = []
    parsed = not operation.raw_body
    for name, schema in operation.body.items():
        seed = f"{operation.method} {operation.path} {name}"
        for value in _sample(_unstorable(), UNSTORABLE_PER_FIELD, seed):
            named = name if parsed else None
            calls.append(Call(operation, operation.caller, {name: value}, unstorable_field=named))
        for value in _sample(_bad_values(name, schema), BAD_PER_FIELD, seed):
            calls.append(Call(operation, operation.caller, {name: value}))
    if operation.body:
        named = "body" if parsed else None
        calls.append(Call(operation, operation.caller, {"\x00": 1}, unstorable_field=named))
    return calls


def _parameter_calls(operation: Operation) -> list[Call]:
    calls = []
    for name in operation.path_parameters:
        seed = f"{operation.method} {operation.path} path {name}"
        for value in _sample(PARAMETER_UNSTORABLE + PATH_BAD, PARAMETER_VALUES, seed):
            calls.append(Call(operation, operation.caller, path_values={name: value}))
    for name, schema in operation.query.items():
        seed = f"{operation.method} {operation.path} query {name}"
        values = list(PARAMETER_UNSTORABLE)
        if operation.method == "get":
            values += QUERY_BAD_FOR.get(_kind(name, schema), QUERY_BAD_FOR["text"])
        for value in _sample(values, PARAMETER_VALUES, seed):
            calls.append(Call(operation, operation.caller, query=f"{name}={value}"))
    return calls


RANK = {"anonymous": 0, "customer": 1, "admin": 2}


def _other_caller_calls(operation: Operation) -> list[Call]:
    """Each other caller once: a NUL in the first body field, else in a query parameter; an
    action without a body only by the callers it is not meant for."""
    if operation.lenient:
        return []  # anyone may log out; the body is never refused
    calls = []
    for caller in RANK:
        if caller == operation.caller:
            continue
        if operation.body:
            calls.append(Call(operation, caller, {next(iter(operation.body)): "\x00"}))
        elif operation.method == "get":
            name = next(iter(operation.query), "q")
            calls.append(Call(operation, caller, query=f"{name}=%00"))
        elif RANK[caller] < RANK[operation.caller]:
            calls.append(Call(operation, caller))
    return calls


def _plan() -> list[tuple[Operation, list[Call]]]:
    return [
        (
            operation,
            _body_calls(operation) + _parameter_calls(operation) + _other_caller_calls(operation),
        )
        for operation in _operations()
    ]


PLAN = _plan()
REQUEST_COUNT = sum(len(calls) for _operation, calls in PLAN)


# --- running it -------------------------------------------------------------------------------


def _world(monkeypatch) -> dict:
    """The rows the paths name, the three callers and payment gateways that must never be
    called."""
    from datetime import timedelta

    from django.utils import timezone

    from accounts.tests.factories import AdminFactory, UserFactory
    from billing.catalog.models import PaymentMethod
    from billing.catalog.tests.factories import AddOnFactory, CategoryFactory, PlanFactory
    from billing.coupons.tests.factories import CouponFactory
    from billing.invoices.tests.factories import de_vat, issue_invoice
    from billing.subscriptions.tests.factories import (
        AddOnSubscriptionFactory,
        SubscriptionFactory,
    )
    from conftest import bearer
    from plugins.paypal import gateway as paypal_gateway
    from plugins.services import plugin_enable
    from plugins.stripe.gateway import StripeGateway
    from plugins.taro.models import TaroSession
    from plugins.yookassa import gateway as yookassa_gateway
    from tokens.tests.factories import TokenBundleFactory
    from webhooks.tests.factories import EndpointFactory

    provider_calls: list[str] = []

    def no_provider(*args, **kwargs):
        provider_calls.append("provider")
        raise AssertionError("bad input reached the payment provider")

    monkeypatch.setenv("VBWD_PLUGIN_STRIPE_SECRET_KEY", "sk_test_never_used")
    monkeypatch.setenv("VBWD_PLUGIN_STRIPE_WEBHOOK_SECRET", "whsec_never_used")
    monkeypatch.setenv("VBWD_PLUGIN_STRIPE_API_BASE", "http://127.0.0.1:9")
    monkeypatch.setattr(StripeGateway, "_client", no_provider)
    plugin_enable(name="stripe")
    monkeypatch.setenv("VBWD_PLUGIN_PAYPAL_CLIENT_ID", "never_used")
    monkeypatch.setenv("VBWD_PLUGIN_PAYPAL_CLIENT_SECRET", "never_used")
    monkeypatch.setenv("VBWD_PLUGIN_PAYPAL_WEBHOOK_ID", "never_used")
    monkeypatch.setenv("VBWD_PLUGIN_PAYPAL_API_BASE", "http://127.0.0.1:9")
    monkeypatch.setattr(paypal_gateway, "_client", no_provider)
    plugin_enable(name="paypal")
    monkeypatch.setenv("VBWD_PLUGIN_YOOKASSA_SHOP_ID", "never_used")
    monkeypatch.setenv("VBWD_PLUGIN_YOOKASSA_SECRET_KEY", "never_used")
    monkeypatch.setenv("VBWD_PLUGIN_YOOKASSA_WEBHOOK_SECRET", "never_used")
    monkeypatch.setenv("VBWD_PLUGIN_YOOKASSA_API_BASE", "http://127.0.0.1:9")
    monkeypatch.setattr(yookassa_gateway._Client, "__init__", no_provider)
    plugin_enable(name="yookassa")
    # The chat's model endpoint is a closed port: bad input never gets that far.
    monkeypatch.setenv("VBWD_PLUGIN_CHAT_LLM_API_ENDPOINT", "http://127.0.0.1:9/v1")
    plugin_enable(name="chat")
    monkeypatch.setenv("VBWD_PLUGIN_TARO_LLM_API_ENDPOINT", "http://127.0.0.1:9/v1")
    plugin_enable(name="taro")

    customer, admin = UserFactory(), AdminFactory()
    plan, category, addon = PlanFactory(), CategoryFactory(), AddOnFactory()
    invoice = issue_invoice(customer)
    method = PaymentMethod.objects.get(code="invoice")
    ids = {
        "user_id": customer.pk,
        "plan_id": plan.pk,
        "category_id": category.pk,
        "addon_id": addon.pk,
        "tax_rate_id": de_vat().pk,
        "bundle_id": TokenBundleFactory().pk,
        "method_id": method.pk,
        "invoice_id": invoice.pk,
        "subscription_id": SubscriptionFactory(user=customer, plan=plan).pk,
        "addon_subscription_id": AddOnSubscriptionFactory(user=customer, addon=addon).pk,
        "slug_or_id": plan.slug,
        "slug": addon.slug,
        "locale": "de",
        "name": "demo",
        "session_id": "cs_test_unknown",
        "webhook_id": EndpointFactory().pk,
        "taro_session_id": TaroSession.objects.create(
            user=customer,
            created_at=timezone.now(),
            expires_at=timezone.now() + timedelta(minutes=30),
            max_follow_ups=3,
        ).pk,
        "coupon_id": CouponFactory().pk,
    }
    # A view that raises answers 500 (recorded), as it would in production.
    clients = {caller: APIClient(raise_request_exception=False) for caller in RANK}
    clients["customer"].credentials(**bearer(customer))
    clients["admin"].credentials(**bearer(admin))
    return {"ids": ids, "clients": clients, "method_code": method.code, "provider": provider_calls}


def _path_value(world: dict, path: str, name: str) -> str:
    if name == "code":
        before = path.split("{code}")[0].rstrip("/").rsplit("/", 1)[-1]
        return {"currencies": "EUR", "countries": "DE"}.get(before, world["method_code"])
    if name == "taro_session_id":
        return str(world["ids"]["taro_session_id"])
    return str(world["ids"].get(name, uuid.uuid4()))


def _url(world: dict, call: Call) -> str:
    path = call.operation.path
    for name in call.operation.path_parameters:
        value = call.path_values.get(name) or quote(_path_value(world, path, name), safe="")
        path = path.replace("{" + name + "}", value)
    return f"{path}?{call.query}" if call.query else path


def _encoded(value) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        items = (f"{json.dumps(key)}: {_encoded(item)}" for key, item in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_encoded(item) for item in value) + "]"
    return json.dumps(value)


def _send(world: dict, call: Call):
    client = world["clients"][call.caller]
    method = getattr(client, call.operation.method)
    if call.body is None:
        return method(_url(world, call))
    return method(_url(world, call), data=_encoded(call.body), content_type="application/json")


def _verdict(call: Call, response) -> str | None:
    """What is wrong with ``response`` to ``call``, or None."""
    try:
        body = response.json()
    except ValueError:
        return f"{response.status_code} without a JSON body"
    if call.operation.lenient and response.status_code < 300:
        return None
    if not 400 <= response.status_code < 500:
        return f"{response.status_code}: {str(body)[:200]}"
    if not isinstance(body, dict) or not {"error", "code"} <= set(body):
        return f"{response.status_code} outside the error envelope: {str(body)[:200]}"
    if call.unstorable_field and call.caller == call.operation.caller:
        named = call.unstorable_field if call.unstorable_field != "body" else "non_field_errors"
        fields = body.get("errors") or {}
        if body["code"] != "validation_error" or not any(
            key == named or key.startswith((f"{named}.", f"{named}[")) for key in fields
        ):
            return f"{response.status_code} not naming {named}: {str(body)[:200]}"
    return None


def _tables() -> list[str]:
    return sorted(
        {
            model._meta.db_table
            for model in apps.get_models(include_auto_created=True)
            if model._meta.managed and not model._meta.proxy
        }
    )


def _fingerprint(tables: list[str]) -> dict[str, str]:
    """A digest of every row of every table (bytes read as bytes, rows in a stable order)."""
    digests = {}
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            rows = sorted(
                repr(tuple(bytes(value) if isinstance(value, memoryview) else value
                           for value in row))
                for row in cursor.fetchall()
            )  # fmt: skip
            digests[table] = hashlib.sha256("\n".join(rows).encode()).hexdigest()
    return digests


@pytest.mark.django_db
def test_bad_input_is_refused_with_a_4xx_and_writes_nothing(monkeypatch, settings):
    settings.VBWD_RATE_LIMIT_ENABLED = False
    world = _world(monkeypatch)
    tables = _tables()
    before = _fingerprint(tables)
    problems = []
    for operation, calls in PLAN:
        for call in calls:
            verdict = _verdict(call, _send(world, call))
            if verdict:
                problems.append(f"{call.describe()} -> {verdict}")
        after = _fingerprint(tables)
        if after != before:
            changed = sorted(table for table in tables if after[table] != before[table])
            problems.append(f"{operation.method.upper()} {operation.path} wrote to {changed}")
            before = after

    assert world["provider"] == []
    assert problems == [], f"{len(problems)} problems:\n" + "\n".join(problems[:40])
