"""Access control of every API route, generated from the URL conf: nobody lists routes here.

1. **Another user's object.** Every route outside ``/admin`` that names an object a customer
   owns (in its path, or as a field of its query or body) is called by customer A with customer
   B's object and with an id that does not exist, for every HTTP method its view implements;
   and by a staff member too, since these routes see only the caller's own objects whoever
   calls. Both answer the same ``404`` JSON error, so an object's existence never leaks, and
   change nothing: no row of any table, no audit entry, no email, no after-commit effect.
   Write methods send the body the view documents, filled so that it would be valid for one's
   own object, so a view that validates its body before the ownership check cannot hide behind
   a 400. B sending the same request is the control: it reaches the object (not 404, not a
   validation error), so the others' 404 comes from the ownership check.
2. **Staff routes.** Every ``/admin`` route answers 403 "Admin access required" to a customer
   and to a vendor, and 401 to an anonymous caller, for every method, changing nothing.

``PARAMETERS`` says what a path parameter names: an object a customer owns (B's object is
filled in) or catalog and reference data without an owner. A route whose path has a parameter
the table does not know fails ``test_every_path_parameter_has_a_kind``, so a new kind of
parameter forces a decision; a new route with a known one is covered without any change here.
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import pytest
from django.apps import apps
from django.core import mail
from django.db import transaction
from django.test import TestCase
from django.urls import Resolver404, resolve
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from conftest import bearer
from tests.support.routes import api_routes, normalise, path_parameters, view_methods

ADMIN_PREFIX = "/api/v1/admin/"
# Tables nothing writes at run time (and that are large): left out of the snapshots.
STATIC_MODELS = {"auth.Permission", "contenttypes.ContentType"}
# The routes the matrices covered when they were written: a walk that finds fewer has lost some.
MIN_OWNED_OPERATIONS = 17
MIN_ADMIN_OPERATIONS = 120
ADMIN_REQUIRED = {"error": "Admin access required", "code": "permission_denied"}
NOT_AUTHENTICATED = {"error": "Authorization header is required", "code": "not_authenticated"}


def _random_uuid() -> str:
    return str(uuid.uuid4())


# --- what a parameter names -----------------------------------------------------------------------


@dataclass(frozen=True)
class Parameter:
    """A path parameter kind (and the body or query field of the same name).

    ``values`` gives, for the test world, the candidates to fill in (the first one that makes
    the path resolve to the route is used); for an owned kind that is customer B's object.
    ``unknown`` gives a well-formed value no object has.
    """

    values: Callable[[SimpleNamespace], list]
    owned: bool = False
    unknown: Callable[[], str] = _random_uuid


def owned(values: Callable[[SimpleNamespace], Any], **kwargs) -> Parameter:
    return Parameter(values=lambda world: [values(world)], owned=True, **kwargs)


def shared(values: Callable[[SimpleNamespace], Any]) -> Parameter:
    def candidates(world):
        found = values(world)
        return found if isinstance(found, list) else [found]

    return Parameter(values=candidates)


PARAMETERS: dict[str, Parameter] = {
    # Objects a customer owns: another customer's answers 404 like one that does not exist.
    "invoice_id": owned(lambda world: world.open_invoice.pk),
    "subscription_id": owned(lambda world: world.subscription.pk),
    "addon_subscription_id": owned(lambda world: world.addon_subscription.pk),
    "credit_note_id": owned(lambda world: world.credit_note.pk),
    "session_id": owned(
        lambda world: world.session.session_id, unknown=lambda: f"cs_test_{uuid.uuid4().hex}"
    ),
    "user_id": owned(lambda world: world.b.pk),
    "taro_session_id": owned(lambda world: world.taro_session.pk),
    # Catalog and reference data: public or staff-only, nobody owns them.
    "addon_id": shared(lambda world: world.addon.pk),
    "plan_id": shared(lambda world: world.pro.pk),  # also the upgrade target of a body
    "new_plan_id": shared(lambda world: world.pro.pk),
    "slug_or_id": shared(lambda world: world.pro.slug),
    "category_id": shared(lambda world: world.category.pk),
    "bundle_id": shared(lambda world: world.bundle.pk),
    "method_id": shared(lambda world: world.method.pk),
    "tax_rate_id": shared(lambda world: world.tax_rate.pk),
    "slug": shared(lambda world: world.addon.slug),
    # a country, a currency or a payment method, depending on the route
    "code": shared(lambda world: ["DE", "EUR", world.method.code]),
    "locale": shared(lambda world: "de"),
    "name": shared(lambda world: "stripe"),
    "webhook_id": shared(lambda world: world.webhook.pk),
    "delivery_id": shared(lambda world: world.delivery.pk),
    "entry_id": shared(lambda world: world.audit_entry.pk),
    "coupon_id": shared(lambda world: world.coupon.pk),
}

# Body and query fields whose table value would not make a valid request on this route.
FIELD_OVERRIDES: dict[tuple[str, str], Callable[[SimpleNamespace], Any]] = {
    # a downgrade needs a cheaper plan than the subscription's
    ("user-subscription-downgrade", "plan_id"): lambda world: world.starter.pk,
}


# --- the routes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    path: str  # normalised: /api/v1/user/invoices/{invoice_id}/pay
    method: str
    entry: Any = field(compare=False, repr=False)

    @property
    def label(self) -> str:
        return f"{self.method.upper()} {self.path}"


def _operations(predicate: Callable[[str], bool]) -> list[Operation]:
    return [
        Operation(path, method, entry)
        for path, entry in sorted(api_routes().items())
        if predicate(path)
        for method in sorted(view_methods(entry))
    ]


def _is_admin(path: str) -> bool:
    # Also the staff routes a plugin serves under its own prefix (/taro/admin/…).
    return path.startswith(ADMIN_PREFIX) or "/admin/" in path.removeprefix("/api/v1/")


@pytest.fixture(scope="module")
def schema() -> dict:
    """The OpenAPI schema, its paths normalised like the routes'."""
    document = SchemaGenerator().get_schema(request=None, public=True)
    return {
        **document,
        "paths": {normalise(path): item for path, item in document["paths"].items()},
    }


def _schema_operation(schema: dict, operation: Operation) -> dict:
    return schema["paths"].get(operation.path, {}).get(operation.method, {})


def _resolved(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    if "allOf" in node:
        merged: dict = {}
        for part in node["allOf"]:
            merged.update(_resolved(schema, part))
        node = {**merged, **{key: value for key, value in node.items() if key != "allOf"}}
    return node


def _body_schema(schema: dict, operation: Operation) -> dict | None:
    content = _schema_operation(schema, operation).get("requestBody", {}).get("content", {})
    body = content.get("application/json")
    return _resolved(schema, body["schema"]) if body else None


def _query_parameters(schema: dict, operation: Operation) -> list[dict]:
    return [
        parameter
        for parameter in _schema_operation(schema, operation).get("parameters", [])
        if parameter.get("in") == "query"
    ]


def _owned_fields(schema: dict, operation: Operation) -> set[str]:
    """Owned kinds the operation names in its path, its query string or its body."""
    body = _body_schema(schema, operation) or {}
    names = {
        *path_parameters(operation.path),
        *(parameter["name"] for parameter in _query_parameters(schema, operation)),
        *body.get("properties", {}),
    }
    return {name for name in names if name in PARAMETERS and PARAMETERS[name].owned}


def owned_operations(schema: dict) -> list[Operation]:
    """Every operation outside /admin that names an object a customer owns."""
    return [
        operation
        for operation in _operations(lambda path: not _is_admin(path))
        if _owned_fields(schema, operation)
    ]


def admin_operations() -> list[Operation]:
    return _operations(_is_admin)


# --- requests -------------------------------------------------------------------------------------


def _sample(schema: dict, node: dict, fill: dict[str, Any], name: str | None = None) -> Any:
    """A valid value of a schema node: ``fill`` for a named field, else one by type."""
    if name is not None and name in fill:
        return fill[name]
    node = _resolved(schema, node)
    if node.get("enum"):
        return next(value for value in node["enum"] if value is not None)
    kind, form = node.get("type"), node.get("format")
    if kind == "object" or "properties" in node:
        return _sample_object(schema, node, fill)
    if kind == "array":
        return [_sample(schema, node.get("items", {}), fill)] * node.get("minItems", 0)
    if kind == "boolean":
        return False
    if kind in ("integer", "number"):
        return max(node.get("minimum", 1), 1)
    if form == "uuid":
        return _random_uuid()
    if form == "date-time":
        return timezone.now().isoformat()
    if form == "date":
        return timezone.localdate().isoformat()
    if form == "email":
        return "sample@example.com"
    return "sample"[: node.get("maxLength", 6)]


def _sample_object(schema: dict, node: dict, fill: dict[str, Any]) -> dict:
    """The required properties, and every property the fill table names."""
    properties = node.get("properties", {})
    wanted = [name for name in properties if name in node.get("required", []) or name in fill]
    return {name: _sample(schema, properties[name], fill, name) for name in wanted}


def _fill(world, operation: Operation, *, unknown: bool) -> dict[str, Any]:
    """The value of every known kind for this route: B's objects (or, with ``unknown``,
    values no object has), catalog data, and the route's overrides."""
    values = {}
    for name, parameter in PARAMETERS.items():
        if unknown and parameter.owned:
            values[name] = parameter.unknown()
        else:
            values[name] = str(parameter.values(world)[0])
    for (route_name, name), value in FIELD_OVERRIDES.items():
        if route_name == operation.entry.name:
            values[name] = str(value(world))
    return values


def _url(world, operation: Operation, fill: dict[str, Any]) -> str:
    """The route's path with its parameters filled; a parameter with several candidates takes
    the first that resolves to this route."""
    path = operation.path
    for name in path_parameters(operation.path):
        parameter = PARAMETERS[name]
        candidates = [fill[name]] if parameter.owned else parameter.values(world)
        for candidate in candidates:
            attempt = path.replace("{" + name + "}", str(candidate), 1)
            if _resolves_to(attempt, operation, remaining=path_parameters(attempt)):
                path = attempt
                break
        else:
            raise AssertionError(f"{operation.label}: no value of {name!r} resolves the route")
    return path


def _resolves_to(path: str, operation: Operation, *, remaining: list[str]) -> bool:
    if remaining:  # the path is checked once its last parameter is filled
        return True
    try:
        return resolve(path).func is operation.entry.callback
    except Resolver404:
        return False


@dataclass
class Request:
    url: str
    body: dict | None

    def send(self, client: APIClient, method: str):
        data = json.dumps(self.body) if self.body is not None else ""
        return client.generic(method.upper(), self.url, data, content_type="application/json")


def _request(schema: dict, world, operation: Operation, *, unknown: bool = False) -> Request:
    fill = _fill(world, operation, unknown=unknown)
    url = _url(world, operation, fill)
    query = {
        parameter["name"]: _sample(schema, parameter.get("schema", {}), fill, parameter["name"])
        for parameter in _query_parameters(schema, operation)
        if parameter.get("required") or parameter["name"] in fill
    }
    if query:
        url = f"{url}?{urlencode(query)}"
    body_schema = _body_schema(schema, operation)
    body = _sample_object(schema, body_schema, fill) if body_schema is not None else None
    return Request(url, body)


# --- what changed ---------------------------------------------------------------------------------


def _snapshot() -> dict[str, dict]:
    """Every row of every table, by model and primary key."""
    tables = {}
    for model in apps.get_models(include_auto_created=True):
        if model._meta.label in STATIC_MODELS or model._meta.proxy:
            continue
        pk = model._meta.pk.attname
        tables[model._meta.label] = {
            row[pk]: row for row in model._base_manager.order_by(pk).values()
        }
    return tables


def _changes(before: dict[str, dict], after: dict[str, dict]) -> list[str]:
    changes = []
    for label, rows in before.items():
        now = after[label]
        added = sorted(str(key) for key in now.keys() - rows.keys())
        removed = sorted(str(key) for key in rows.keys() - now.keys())
        changed = sorted(str(key) for key in rows.keys() & now.keys() if rows[key] != now[key])
        for what, keys in (("added", added), ("removed", removed), ("changed", changed)):
            if keys:
                changes.append(f"{label} {what}: {', '.join(keys)}")
    return changes


@dataclass
class Watch:
    """Runs requests in a savepoint, rolled back at the end unless ``rollback`` is false, and
    says what they left behind: rows added, removed or changed in any table (unless ``rows`` is
    false), emails sent, after-commit callbacks queued."""

    rows: bool = True
    rollback: bool = True
    changes: list[str] = field(default_factory=list)

    def __enter__(self):
        self._atomic = _test_transaction()
        self._atomic.__enter__()
        self._before = _snapshot() if self.rows else None
        self._mails = len(mail.outbox)
        self._callbacks = TestCase.captureOnCommitCallbacks(execute=False)
        self._queued = self._callbacks.__enter__()
        return self

    def __exit__(self, *exc_info):
        try:
            self._callbacks.__exit__(None, None, None)
            if exc_info[0] is None:
                if self._before is not None:
                    self.changes = _changes(self._before, _snapshot())
                if len(mail.outbox) != self._mails:
                    self.changes.append(f"{len(mail.outbox) - self._mails} emails sent")
                if self._queued:
                    self.changes.append(f"{len(self._queued)} after-commit callbacks queued")
        finally:
            del mail.outbox[self._mails :]
            if self.rollback:
                transaction.set_rollback(True)
            self._atomic.__exit__(*exc_info)


def _changes_by_each(calls: list[tuple[str, Callable[[], object]]], together: list[str]):
    """Which calls changed rows: each one run again alone in a savepoint rolled back."""
    found = []
    for label, call in calls:
        with Watch() as watch:
            call()
        found += [f"{label}: {change}" for change in watch.changes]
    return found or [f"the calls together (none alone): {change}" for change in together]


def _error_of(response) -> dict | None:
    if not response["Content-Type"].startswith("application/json"):
        return None
    return json.loads(response.content)


def _plain_error(body: dict | None) -> dict | None:
    """The body without the taro routes' additions (``success: false``, ``message`` = error)."""
    if not isinstance(body, dict) or body.get("success", False) is not False:
        return body
    if body.get("message", body.get("error")) != body.get("error"):
        return body
    return {key: value for key, value in body.items() if key not in ("success", "message")}


def _is_not_found(response) -> bool:
    body = _error_of(response)
    return (
        response.status_code == 404
        and body is not None
        and set(_plain_error(body)) == {"error", "code"}
        and body["code"] == "not_found"
        and isinstance(body["error"], str)
        and bool(body["error"])
    )


def _shown(response, limit: int = 200) -> str:
    body = _error_of(response)
    shown = f"{response.status_code} {body if body is not None else response['Content-Type']}"
    return shown if len(shown) <= limit else f"{shown[:limit]}…"


# --- the world: customers A and B, B's objects, the catalog ---------------------------------------


def _client(user=None) -> APIClient:
    client = APIClient()
    client.raise_request_exception = False
    if user is not None:
        client.credentials(**bearer(user))
    return client


def _enable_every_plugin() -> None:
    """Every installed plugin on, dependencies first, so every plugin route is live."""
    from plugins import registry
    from plugins.services import plugin_enable
    from vbwd.exceptions import BusinessRuleError

    pending = set(registry.installed())
    while pending:
        enabled = set()
        for name in sorted(pending):
            try:
                plugin_enable(name=name)
            except BusinessRuleError:
                continue
            enabled.add(name)
        assert enabled, f"plugins whose dependencies never enable: {sorted(pending)}"
        pending -= enabled


def _checkout(client: APIClient, body: dict) -> dict:
    response = client.post("/api/v1/user/checkout", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def _build_world() -> SimpleNamespace:
    from accounts.models import UserRole
    from accounts.tests.factories import AdminFactory, UserFactory
    from audit.models import AuditEntry
    from billing.catalog.models import Category, PaymentMethod
    from billing.catalog.tests.factories import AddOnFactory
    from billing.coupons.tests.factories import CouponFactory
    from billing.invoices.models import Invoice, Payment, PaymentStatus
    from billing.invoices.services import invoice_mark_paid
    from billing.invoices.services.refunds import invoice_refund
    from billing.invoices.tests.factories import buyer, monthly_plan, paid_invoice, tax_rate
    from billing.subscriptions.models import AddOnSubscription, Subscription
    from plugins.taro.models import TaroSession
    from tokens.tests.factories import TokenBundleFactory
    from webhooks.models import WebhookDelivery, WebhookEndpoint

    _enable_every_plugin()
    world = SimpleNamespace(
        a=buyer(),
        b=buyer(),
        vendor=UserFactory(role=UserRole.VENDOR),
        staff=AdminFactory(),
        starter=monthly_plan(name="Starter", slug="starter", price=Decimal("10.00")),
        standard=monthly_plan(name="Standard", slug="standard", price=Decimal("20.00")),
        pro=monthly_plan(name="Pro", slug="pro", price=Decimal("30.00")),
        addon=AddOnFactory(name="Support", slug="support"),
        bundle=TokenBundleFactory(name="100 Tokens", token_amount=100, price=Decimal("5.00")),
        category=Category.objects.get(slug=Category.ROOT_SLUG),
        method=PaymentMethod.objects.get(code="invoice"),
        tax_rate=tax_rate("AT", "20.00", code="VAT_AT_MATRIX"),
    )
    b_client = _client(world.b)
    # B bought Standard with the add-on and paid by bank transfer: both ACTIVE.
    order = _checkout(
        b_client, {"plan_id": str(world.standard.pk), "add_on_ids": [str(world.addon.pk)]}
    )
    invoice_mark_paid(invoice_id=order["invoice"]["id"], actor=None, payment_reference="B-1")
    world.subscription = Subscription.objects.get(pk=order["subscription"]["id"])
    world.addon_subscription = AddOnSubscription.objects.get(pk=order["add_ons"][0]["id"])
    # B's open invoice (tokens, unpaid) with a checkout session at Stripe.
    order = _checkout(b_client, {"token_bundle_ids": [str(world.bundle.pk)]})
    world.open_invoice = Invoice.objects.get(pk=order["invoice"]["id"])
    world.session = Payment.objects.create(
        invoice=world.open_invoice,
        user=world.b,
        gateway="stripe",
        amount=world.open_invoice.total_amount,
        currency=world.open_invoice.currency,
        status=PaymentStatus.PENDING,
        provider_data={"kind": "session"},
        session_id="cs_test_customer_b",
        session_expires_at=timezone.now() + datetime.timedelta(hours=1),
        idempotency_key="session:customer-b",
    )
    # The same session id at the other gateways, so each gateway's session-status finds one of
    # B's sessions (a provider's ids are its own; only the gateway's routes read them).
    for gateway in ("paypal", "yookassa"):
        Payment.objects.create(
            invoice=world.open_invoice,
            user=world.b,
            gateway=gateway,
            amount=world.open_invoice.total_amount,
            currency=world.open_invoice.currency,
            status=PaymentStatus.PENDING,
            provider_data={"kind": "session"},
            session_id=world.session.session_id,
            session_expires_at=world.session.session_expires_at,
            idempotency_key=f"session:customer-b-{gateway}",
        )
    # A partly refunded invoice of B: its credit note.
    refunded = paid_invoice(world.b, reference="B-2")
    outcome = invoice_refund(invoice_id=refunded.pk, amount=Decimal("1.00"), record_only=True)
    world.credit_note = outcome.credit_note
    assert world.subscription.status == "ACTIVE"
    assert world.addon_subscription.status == "ACTIVE"
    assert world.open_invoice.status == "PENDING"
    # Staff's outbound webhook endpoint, one delivery of it, and an audit entry.
    world.webhook = WebhookEndpoint.objects.create(
        url="https://hooks.example.com/vbwd", events=["invoice.issued"], secret="whsec_matrix"
    )
    world.delivery = WebhookDelivery.objects.create(
        endpoint=world.webhook,
        event_id=uuid.uuid4(),
        event_type="invoice.issued",
        body="{}",
        max_attempts=8,
    )
    world.audit_entry = AuditEntry.objects.order_by("created_at").first()
    # B's open tarot reading.
    world.taro_session = TaroSession.objects.create(
        user=world.b,
        created_at=timezone.now(),
        expires_at=timezone.now() + datetime.timedelta(minutes=30),
        max_follow_ups=3,
    )
    world.coupon = CouponFactory(code="MATRIX")
    world.clients = SimpleNamespace(
        a=_client(world.a),
        b=b_client,
        vendor=_client(world.vendor),
        staff=_client(world.staff),
        anonymous=_client(),
    )
    mail.outbox.clear()
    return world


def _test_transaction() -> transaction.Atomic:
    """A transaction that stands for the autocommit of a real request, as a test case's own
    does: a provider call inside it is allowed."""
    atomic = transaction.atomic()
    atomic._from_testcase = True
    return atomic


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker) -> Iterator[SimpleNamespace]:
    """Built once for the module in a transaction rolled back at its end; each test runs in a
    savepoint inside it."""
    with django_db_blocker.unblock(), _test_transaction():
        try:
            yield _build_world()
        finally:
            transaction.set_rollback(True)


# --- the tests ------------------------------------------------------------------------------------


def test_every_path_parameter_has_a_kind():
    unknown = sorted(
        f"{name} in {path}"
        for path in api_routes()
        for name in path_parameters(path)
        if name not in PARAMETERS
    )

    # Add the new kind to PARAMETERS: owned (a customer's object) or shared (no owner).
    assert unknown == []


def test_the_matrices_cover_the_routes_that_name_a_customers_object(schema):
    owned = {operation.label for operation in owned_operations(schema)}
    admin = admin_operations()

    # a sample of each way an owned object is named: path, gateway plugin path, body, query
    assert {
        "GET /api/v1/user/invoices/{invoice_id}",
        "POST /api/v1/user/subscriptions/{subscription_id}/upgrade",
        "GET /api/v1/user/subscriptions/{subscription_id}/proration",
        "POST /api/v1/user/addons/{addon_subscription_id}/cancel",
        "GET /api/v1/plugins/stripe/session-status/{session_id}",
        "POST /api/v1/plugins/stripe/create-session",
    } <= owned
    assert len(owned) >= MIN_OWNED_OPERATIONS
    assert len(admin) >= MIN_ADMIN_OPERATIONS
    # catalog routes and the caller's own lists are not in it
    assert "GET /api/v1/tarif-plans/{slug_or_id}" not in owned
    assert "GET /api/v1/user/invoices" not in owned


def _foreign_problems(theirs, nobodys) -> list[str]:
    """What is wrong with the answers to B's object and to an unknown id."""
    if not _is_not_found(nobodys):
        problems = [f"an unknown id answered {_shown(nobodys)}"]
        if not _is_not_found(theirs):
            problems.append(f"B's object answered {_shown(theirs)}")
        return problems
    if _error_of(theirs) != _error_of(nobodys) or theirs.status_code != nobodys.status_code:
        return [f"B's object answered {_shown(theirs)}, an unknown id {_shown(nobodys)}"]
    return []


def _control_problems(own) -> list[str]:
    """The owner's request must reach the object: not 404, and a body the view accepts."""
    code = (_error_of(own) or {}).get("code")
    if own.status_code == 404 or code in ("validation_error", "parse_error"):
        return [f"the owner's control answered {_shown(own)}: the request is wrong"]
    return []


@pytest.mark.django_db
def test_another_users_object_is_the_same_404_as_an_unknown_one_and_changes_nothing(schema, world):
    # customer A, and staff: these routes see only the caller's own objects, whoever calls
    others = [("customer A", world.clients.a), ("staff", world.clients.staff)]
    failures, calls = [], []
    # Every table is compared around all the others' requests together (they are kept, not
    # rolled back); only when something changed is each request run again alone to name it.
    with Watch() as sweep:
        for operation in owned_operations(schema):
            foreign = _request(schema, world, operation)
            unknown = _request(schema, world, operation, unknown=True)
            with Watch(rows=False):  # the control: the owner's same request reaches the object
                problems = _control_problems(foreign.send(world.clients.b, operation.method))
            for who, client in others:

                def call(client=client, foreign=foreign, unknown=unknown, method=operation.method):
                    return foreign.send(client, method), unknown.send(client, method)

                with Watch(rows=False, rollback=False) as watch:
                    theirs, nobodys = call()
                calls.append((f"{operation.label} ({foreign.url}) by {who}", call))
                problems += [
                    f"{who}: {problem}"
                    for problem in [*_foreign_problems(theirs, nobodys), *watch.changes]
                ]
            failures += [f"{operation.label} ({foreign.url}): {problem}" for problem in problems]
    if sweep.changes:
        failures += _changes_by_each(calls, sweep.changes)

    assert failures == [], "\n".join(["", *failures])


@pytest.mark.django_db
def test_admin_routes_refuse_customers_vendors_and_anonymous_callers_and_change_nothing(
    schema, world
):
    callers = [
        ("a customer", world.clients.a, 403, ADMIN_REQUIRED),
        ("a vendor", world.clients.vendor, 403, ADMIN_REQUIRED),
        ("an anonymous caller", world.clients.anonymous, 401, NOT_AUTHENTICATED),
    ]
    failures, calls = [], []
    # A refusal comes before any view code runs: every table is compared around the whole
    # sweep, and each route is run again alone only when something changed.
    with Watch() as sweep:
        for operation in admin_operations():
            request = _request(schema, world, operation)

            def call(request=request, method=operation.method):
                return [request.send(client, method) for _who, client, _status, _body in callers]

            with Watch(rows=False, rollback=False) as watch:
                responses = call()
            calls.append((operation.label, call))
            for (who, _client, status, body), response in zip(callers, responses, strict=True):
                if (response.status_code, _plain_error(_error_of(response))) != (status, body):
                    failures.append(f"{operation.label}: {who} got {_shown(response)}")
                elif status == 401 and response.get("WWW-Authenticate") != "Bearer":
                    failures.append(f"{operation.label}: {who}: no WWW-Authenticate: Bearer")
            failures += [f"{operation.label}: {change}" for change in watch.changes]
    if sweep.changes:
        failures += _changes_by_each(calls, sweep.changes)

    assert failures == [], "\n".join(["", *failures])
