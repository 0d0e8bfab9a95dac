"""The checks of a checkout, in the order their refusals are reported, and the order they
produce: the catalog rows, their prices in the invoice currency, the payment method and its fee.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from billing.catalog.models import (
    AddOn,
    Currency,
    FeeChargedTo,
    FeeType,
    PaymentMethod,
    Plan,
)
from billing.catalog.periods import period_end, period_label
from billing.catalog.pricing import HUNDRED, convert
from billing.catalog.selectors import currencies_by_code, default_currency
from billing.catalog.services.payment_methods import (
    payment_method_accepts,
    payment_method_chosen,
    payment_method_is_available,
)
from billing.coupons.discounts import with_discounts
from billing.coupons.models import Coupon
from billing.coupons.services import coupon_check, not_applicable
from billing.invoices.lines import bundle_description
from billing.invoices.models import LineType
from billing.invoices.services import LineDraft, build_lines
from billing.invoices.services.issuing import buyer_snapshot, treatment_for
from billing.invoices.tax import TaxTreatment
from billing.subscriptions import selectors as subscription_selectors
from billing.subscriptions.models import AddOnSubscription, Subscription
from platform_settings.selectors import platform_settings_get
from tokens.models import TokenBundle, TokenBundlePurchase
from vbwd.exceptions import BusinessRuleError, ValidationFailed
from vbwd.money import round_money

NO_ITEMS = "At least one item required (plan_id, token_bundle_ids, or add_on_ids)"
MAX_BUNDLE_ENTRIES = 50
ITEM_UNAVAILABLE = "item_unavailable"
EXCLUSIVE_CATEGORY = "exclusive_category"


@dataclass
class _Order:
    """A validated order: the catalog rows and their prices in the invoice currency."""

    currency: Currency
    treatment: TaxTreatment
    plan: Plan | None = None
    plan_price: Decimal | None = None
    bundles: list[tuple[TokenBundle, Decimal]] = field(default_factory=list)
    addons: list[tuple[AddOn, Decimal]] = field(default_factory=list)
    # add-on id -> the user's valid subscription that meets its binding (the bought plan does not)
    addon_owner: dict = field(default_factory=dict)
    method: PaymentMethod | None = None
    fee: Decimal | None = None
    zero_total: bool = False
    coupon: Coupon | None = None
    # the currencies by code as the validation read them
    currencies: dict[str, Currency] = field(default_factory=dict)


def _unavailable(message: str) -> BusinessRuleError:
    return BusinessRuleError(message, code=ITEM_UNAVAILABLE)


def _uuid(value) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _list(value, *, name: str) -> list:
    if value is None or value == "":
        return []
    if not isinstance(value, (list, tuple)):
        raise ValidationFailed(f"{name} must be a list", field=name)
    return list(value)


def checkout_ids_parse(*, plan_id, token_bundle_ids, add_on_ids):
    """The first checks of a checkout, on the ids as given: at least one item, the lists are
    lists, id formats, the bundle limit, add-ons given once. Returns (plan id or None, bundle
    ids, add-on ids) as UUIDs; the first failure is a ValidationFailed."""
    if plan_id == "":
        plan_id = None
    bundle_values = _list(token_bundle_ids, name="token_bundle_ids")
    addon_values = _list(add_on_ids, name="add_on_ids")
    if plan_id is None and not bundle_values and not addon_values:
        raise ValidationFailed(NO_ITEMS)
    plan_uuid = None
    if plan_id is not None:
        plan_uuid = _uuid(plan_id)
        if plan_uuid is None:
            raise ValidationFailed("Invalid plan_id format", field="plan_id")
    if len(bundle_values) > MAX_BUNDLE_ENTRIES:
        raise ValidationFailed(
            f"token_bundle_ids may contain at most {MAX_BUNDLE_ENTRIES} entries",
            field="token_bundle_ids",
        )
    bundle_uuids = []
    for value in bundle_values:
        parsed = _uuid(value)
        if parsed is None:
            raise ValidationFailed(f"Invalid token_bundle_id: {value}", field="token_bundle_ids")
        bundle_uuids.append(parsed)
    addon_uuids: list[uuid.UUID] = []
    for value in addon_values:
        parsed = _uuid(value)
        if parsed is None:
            raise ValidationFailed(f"Invalid add_on_id: {value}", field="add_on_ids")
        if parsed in addon_uuids:
            raise ValidationFailed(f"Duplicate add_on_id: {value}", field="add_on_ids")
        addon_uuids.append(parsed)
    return plan_uuid, bundle_uuids, addon_uuids


def _active_currency(code, currencies: dict[str, Currency]) -> Currency:
    """Check 3: the requested invoice currency exists and is active."""
    row = currencies.get(str(code).strip().upper()) if isinstance(code, str) else None
    if row is None or not row.is_active:
        raise _unavailable(f"Currency '{code}' is not supported")
    return row


def exclusive_refusal(*, user, plan: Plan) -> None:
    """Check 5: no holding subscription in an exclusive category of ``plan``."""
    category = subscription_selectors.exclusive_category_held(user=user, plan=plan)
    if category is not None:
        raise BusinessRuleError(
            f"You already have an active subscription in category '{category.name}'. "
            "Upgrade or downgrade instead.",
            code=EXCLUSIVE_CATEGORY,
        )


def _converted(price: Decimal, code: str, order_currency: Currency, currencies) -> Decimal:
    """A catalog price in ``code`` converted into the invoice currency at the current rates."""
    source = currencies.get(code)
    if source is None:  # a currency in use cannot be deleted; only a broken catalog lacks it
        raise _unavailable(f"Currency '{code}' is not supported")
    return convert(
        price,
        from_rate=source.exchange_rate,
        to_rate=order_currency.exchange_rate,
        places=order_currency.decimal_places,
    )


def _plan_description(plan: Plan) -> str:
    return f"{plan.name} ({period_label(plan.billing_period)})"


def fee_amount(
    method: PaymentMethod, *, net_total: Decimal, currency: Currency, default: Currency
) -> Decimal | None:
    """The net FEE line a customer pays for ``method``, in the invoice currency, or None.

    Only when ``fee_charged_to`` is ``customer`` and ``fee_type`` is not ``none``:
    ``fixed`` — ``fee_amount`` is in the default currency and converted into the invoice
    currency at the current rates; ``percentage`` — ``fee_amount`` % of ``net_total`` (the sum of
    the item lines' net amounts), rounded ROUND_HALF_UP to the currency's places. A zero fee adds
    no line.
    """
    if method.fee_charged_to != FeeChargedTo.CUSTOMER or method.fee_type == FeeType.NONE:
        return None
    if method.fee_type == FeeType.FIXED:
        fee = convert(
            method.fee_amount,
            from_rate=default.exchange_rate,
            to_rate=currency.exchange_rate,
            places=currency.decimal_places,
        )
    elif method.fee_type == FeeType.PERCENTAGE:
        fee = round_money(net_total * method.fee_amount / HUNDRED, currency.decimal_places)
    else:
        return None
    return fee if fee > 0 else None


def _fee_description(method: PaymentMethod) -> str:
    if method.fee_type == FeeType.PERCENTAGE:
        return f"Payment fee: {method.name} ({method.fee_amount.normalize():f} %)"
    return f"Payment fee: {method.name}"


def drafts_of(
    order: _Order,
    *,
    subscription: Subscription | None = None,
    trial_end: datetime.datetime | None = None,
    purchases: list[TokenBundlePurchase] | None = None,
    addon_items: list[AddOnSubscription] | None = None,
    with_fee: bool = True,
) -> list[LineDraft]:
    """The invoice lines of ``order``: plan, bundles in request order, add-ons, each followed
    by its DISCOUNT line when the coupon discounts it, then the fee (on the discounted net).
    Without the purchase records (validation) the lines carry no item ids."""
    drafts: list[LineDraft] = []
    if order.plan is not None:
        plan = order.plan
        drafts.append(
            LineDraft(
                type=LineType.SUBSCRIPTION,
                description=_plan_description(plan),
                unit_price=order.plan_price,
                item_id=subscription.pk if subscription is not None else None,
                catalog_item_id=plan.pk,
                period_start=trial_end,
                period_end=period_end(trial_end, plan.billing_period) if trial_end else None,
            )
        )
    for index, (bundle, price) in enumerate(order.bundles):
        drafts.append(
            LineDraft(
                type=LineType.TOKEN_BUNDLE,
                description=bundle_description(bundle.name, bundle.token_amount),
                unit_price=price,
                item_id=purchases[index].pk if purchases else None,
                catalog_item_id=bundle.pk,
            )
        )
    for index, (addon, price) in enumerate(order.addons):
        drafts.append(
            LineDraft(
                type=LineType.ADD_ON,
                description=f"{addon.name} ({period_label(addon.billing_period)})",
                unit_price=price,
                item_id=addon_items[index].pk if addon_items else None,
                catalog_item_id=addon.pk,
            )
        )
    drafts = with_discounts(
        drafts, order.coupon, treatment=order.treatment, places=order.currency.decimal_places
    )
    if with_fee and order.fee is not None:
        drafts.append(
            LineDraft(
                type=LineType.FEE,
                description=_fee_description(order.method),
                unit_price=order.fee,
                price_is_net=True,
            )
        )
    return drafts


def _gross_total(drafts: list[LineDraft], order: _Order) -> tuple[Decimal, Decimal]:
    """(net, gross) sums of ``drafts`` as ``invoice_issue`` will compute them."""
    lines = build_lines(drafts, treatment=order.treatment, places=order.currency.decimal_places)
    net = sum((line.amount for line in lines), Decimal(0))
    gross = sum((line.gross_amount for line in lines), Decimal(0))
    return net, gross


def _payment_method(code, *, order: _Order, user, default: Currency) -> None:
    """Check 8: the method (``code`` or the default one) exists, is available and accepts the
    order; sets ``order.method`` and ``order.fee``. Skipped for a zero item total."""
    net, gross = _gross_total(drafts_of(order, with_fee=False), order)
    if gross == 0:
        order.zero_total = True
        return
    if code in (None, ""):
        method = PaymentMethod.objects.filter(is_default=True).first()
        if method is None:
            raise _unavailable("No payment method is available for this order")
    else:
        method = payment_method_chosen(code)
    order.method = method
    order.fee = fee_amount(method, net_total=net, currency=order.currency, default=default)
    if order.fee is not None:
        _net, gross = _gross_total(drafts_of(order), order)
    country = buyer_snapshot(user)["country"] or platform_settings_get().address_country or None
    # As amount_in_default_currency does, with the rates already loaded.
    amount_in_default = convert(
        gross,
        from_rate=order.currency.exchange_rate,
        to_rate=default.exchange_rate,
        places=default.decimal_places,
    )
    accepted = payment_method_is_available(method) and payment_method_accepts(
        method,
        currency=order.currency.code,
        country=country,
        amount_in_default=amount_in_default,
    )
    if not accepted:
        raise _unavailable(f"Payment method '{method.name}' is not available for this order")


def _checked_plan(plan_uuid):
    if plan_uuid is None:
        return None
    plan = Plan.objects.prefetch_related("categories").filter(pk=plan_uuid).first()
    if plan is None:
        raise ValidationFailed("Plan not found", field="plan_id")
    if not plan.is_active:
        raise _unavailable("Plan is not active")
    return plan


def _add_bundles(order: _Order, bundle_uuids, currencies) -> None:
    bundles = {row.pk: row for row in TokenBundle.objects.filter(pk__in=set(bundle_uuids))}
    for bundle_uuid in bundle_uuids:
        bundle = bundles.get(bundle_uuid)
        if bundle is None:
            raise ValidationFailed(
                f"Token bundle {bundle_uuid} not found", field="token_bundle_ids"
            )
        if not bundle.is_active:
            raise _unavailable(f"Token bundle {bundle.name} is not active")
        price = _converted(bundle.price, bundle.currency, order.currency, currencies)
        order.bundles.append((bundle, price))


def _add_addons(order: _Order, addon_uuids, currencies, *, user, now) -> None:
    plan = order.plan
    addons = {
        row.pk: row for row in AddOn.objects.prefetch_related("plans").filter(pk__in=addon_uuids)
    }
    valid_subscriptions = None
    for addon_uuid in addon_uuids:
        addon = addons.get(addon_uuid)
        if addon is None:
            raise ValidationFailed(f"Add-on {addon_uuid} not found", field="add_on_ids")
        if not addon.is_active:
            raise _unavailable(f"Add-on {addon.name} is not active")
        plan_ids = {bound.pk for bound in addon.plans.all()}
        if plan_ids and (plan is None or plan.pk not in plan_ids):
            if valid_subscriptions is None:
                valid_subscriptions = list(
                    subscription_selectors.subscriptions_valid(user, now=now)
                )
            owner = next((row for row in valid_subscriptions if row.plan_id in plan_ids), None)
            if owner is None:
                raise _unavailable(
                    f"Add-on {addon.name} requires a subscription to one of its plans"
                )
            order.addon_owner[addon.pk] = owner
        price = _converted(addon.price, addon.currency, order.currency, currencies)
        order.addons.append((addon, price))


def _coupon(code, *, order: _Order, user, now) -> None:
    """The coupon checks, after the items and before the payment method; sets
    ``order.coupon``."""
    coupon = coupon_check(code, user=user, now=now, currency=order.currency.code)
    items = [(LineType.SUBSCRIPTION, order.plan.pk)] if order.plan is not None else []
    items += [(LineType.TOKEN_BUNDLE, bundle.pk) for bundle, _price in order.bundles]
    items += [(LineType.ADD_ON, addon.pk) for addon, _price in order.addons]
    if not any(coupon.covers(line_type, item_id) for line_type, item_id in items):
        raise not_applicable(coupon)
    order.coupon = coupon


def order_validate(
    *,
    user,
    plan_id,
    token_bundle_ids,
    add_on_ids,
    currency,
    payment_method_code,
    now,
    coupon_code=None,
    check_payment_method: bool = True,
) -> _Order:
    """Every check of a checkout, in order, the first failure refused; reads only. A coupon
    preview leaves out the payment method (``check_payment_method``)."""
    plan_uuid, bundle_uuids, addon_uuids = checkout_ids_parse(
        plan_id=plan_id, token_bundle_ids=token_bundle_ids, add_on_ids=add_on_ids
    )
    currencies = currencies_by_code()
    requested = None
    if currency not in (None, ""):
        requested = _active_currency(currency, currencies)

    plan = _checked_plan(plan_uuid)

    default = next((row for row in currencies.values() if row.is_default), None)
    default = default or default_currency()
    if requested is not None:
        invoice_currency = requested
    else:
        invoice_currency = _active_currency(plan.currency if plan else default.code, currencies)
    order = _Order(
        currency=invoice_currency,
        treatment=treatment_for(user, on=now.date()),
        currencies=currencies,
    )

    if plan is not None:
        exclusive_refusal(user=user, plan=plan)
        order.plan = plan
        order.plan_price = _converted(plan.price, plan.currency, invoice_currency, currencies)
    if bundle_uuids:
        _add_bundles(order, bundle_uuids, currencies)
    if addon_uuids:
        _add_addons(order, addon_uuids, currencies, user=user, now=now)
    if coupon_code not in (None, ""):
        _coupon(coupon_code, order=order, user=user, now=now)

    if check_payment_method:
        _payment_method(payment_method_code, order=order, user=user, default=default)
    return order
