"""Checkout: one plan, token bundles and add-ons bought on one invoice.

Everything is validated first, in a fixed order, and the first problem
answers 400 with nothing written. Then one transaction, with the buyer's row locked, opens the
subscription, the pending bundle purchases and add-on subscriptions, and issues one CHECKOUT
invoice; a zero total is captured in the same transaction. ``checkout_requested`` is sent after
commit.

Rules decided here:

- Prices. Every catalog price is converted into the invoice currency at the current rates
  (``pricing.convert``) and then treated like any catalog price by ``invoice_issue``: gross when
  the buyer country's prices include tax, net otherwise.
- Service periods. A TRIALING subscription's line covers the first paid period, trial end →
  ``period_end(trial end)``. A PENDING subscription and add-ons start when the invoice is paid,
  so their lines carry no period.
- Fees. Only a method whose ``fee_charged_to`` is ``customer`` and ``fee_type`` is not ``none``
  adds a FEE line (see ``fee_amount``); the fee is a net amount taxed like the other lines.
- Payment method. Its checks run on the gross total including the fee, converted into the
  default currency; the country is the buyer's billing country, else the seller's. A zero item
  total ignores the method (no fee, none recorded on the invoice).
- An add-on belongs to the subscription that meets its plan binding: the one bought with it
  when the bought plan is one of the add-on's plans (or the add-on is open to everyone), else
  the user's newest valid subscription on one of its plans; an add-on open to everyone bought
  without a plan belongs to none. So an add-on renews with the subscription it is bound to.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from audit.services import audit_batch
from billing.catalog.models import (
    Plan,
)
from billing.catalog.pricing import format_money
from billing.checkout.order import drafts_of, exclusive_refusal, order_validate
from billing.checkout.signals import checkout_requested
from billing.coupons.discounts import discount_total
from billing.coupons.models import DISCOUNT_LINE
from billing.coupons.serializers import public_coupon_data
from billing.coupons.services import coupon_lock, periods_after_checkout, redemption_create
from billing.invoices.models import Invoice, InvoiceType
from billing.invoices.serializers.fields import percent_text
from billing.invoices.services import build_lines, invoice_capture_zero, invoice_issue
from billing.subscriptions.models import AddOnSubscription, Subscription
from billing.subscriptions.services import addon_subscription_create, subscription_create
from plugins.signals import domain_events_batch
from tokens.models import TokenBundlePurchase
from tokens.services.purchases import token_bundle_purchases_create

MESSAGE_FREE_PLAN = "Checkout complete. Free plan activated."
MESSAGE_COMPLETE = "Checkout complete."
MESSAGE_TRIAL = "Checkout created. Trial started."
MESSAGE_AWAITING = "Checkout created. Awaiting payment."


@dataclass
class CheckoutResult:
    invoice: Invoice
    subscription: Subscription | None
    token_purchases: list[TokenBundlePurchase]
    addon_subscriptions: list[AddOnSubscription]
    zero_total: bool
    trial: bool
    # the currencies by code the checkout read (for the answer's money places)
    currencies: dict | None = None
    coupon: object = None  # the Coupon redeemed, or None

    @property
    def message(self) -> str:
        if self.zero_total:
            return MESSAGE_FREE_PLAN if self.subscription is not None else MESSAGE_COMPLETE
        return MESSAGE_TRIAL if self.trial else MESSAGE_AWAITING


def _trial_applies(plan: Plan | None, plan_price: Decimal | None, user) -> bool:
    return bool(plan is not None and plan.trial_days > 0 and plan_price and not user.has_used_trial)


def checkout_create(
    *,
    user,
    plan_id=None,
    token_bundle_ids=(),
    add_on_ids=(),
    currency=None,
    payment_method_code=None,
    coupon_code=None,
) -> CheckoutResult:
    """Validates the order (the first failing check is a 400 and nothing is written), then in one
    transaction opens the subscription, bundle purchases and add-on subscriptions and issues
    their CHECKOUT invoice; a zero total is captured at once. ``checkout_requested`` after
    commit."""
    now = timezone.now()
    order = order_validate(
        user=user,
        plan_id=plan_id,
        token_bundle_ids=token_bundle_ids,
        add_on_ids=add_on_ids,
        currency=currency,
        payment_method_code=payment_method_code,
        now=now,
        coupon_code=coupon_code,
    )
    method_code = order.method.code if order.method is not None else None
    plan = order.plan
    # The purchases and add-on subscriptions name their invoice from the start (the foreign key
    # is checked at commit), so no second write links them.
    invoice_pk = uuid.uuid4()

    with transaction.atomic(), domain_events_batch():
        if plan is not None:
            buyer = _locked_buyer(user)
            # Concurrent checkouts of one user queue on the lock; what they decided on may have
            # changed meanwhile.
            exclusive_refusal(user=buyer, plan=plan)
        else:
            # Without a plan nothing is decided on the user's row (no trial, no exclusive
            # category, add-on owners were chosen by the validation): no lock to wait for.
            buyer = user
        trial = _trial_applies(plan, order.plan_price, buyer)
        coupon = coupon_lock(order.coupon, user=buyer) if order.coupon is not None else None

        # The records' audit rows go in with one insert, before a zero total is captured.
        with audit_batch():
            subscription = None
            trial_end = None
            if plan is not None:
                subscription = subscription_create(
                    user=buyer, plan=plan, now=now, trial=trial, payment_method=method_code
                )
                trial_end = subscription.trial_end_at if trial else None
                user.has_used_trial = buyer.has_used_trial

            purchases = token_bundle_purchases_create(
                user=buyer, items=order.bundles, currency=order.currency.code, invoice_id=invoice_pk
            )
            addon_items = [
                addon_subscription_create(
                    user=buyer,
                    addon=addon,
                    subscription=order.addon_owner.get(addon.pk) or subscription,
                    invoice_id=invoice_pk,
                )
                for addon, _price in order.addons
            ]

            invoice = invoice_issue(
                user=buyer,
                invoice_type=InvoiceType.CHECKOUT,
                currency=order.currency,
                drafts=drafts_of(
                    order,
                    subscription=subscription,
                    trial_end=trial_end,
                    purchases=purchases,
                    addon_items=addon_items,
                ),
                payment_method=order.method,
                subscription_id=subscription.pk if subscription is not None else None,
                tarif_plan_id=plan.pk if plan is not None else None,
                due_date=trial_end,
                treatment=order.treatment,
                actor=user,
                now=now,
                invoice_id=invoice_pk,
            )
            if coupon is not None:
                _redeem(coupon, buyer=buyer, invoice=invoice, subscription=subscription, now=now)
        for row in (*purchases, *addon_items):
            row.invoice = invoice

        zero_total = invoice.total_amount == 0
        if zero_total:
            invoice = invoice_capture_zero(invoice_id=invoice.pk, actor=user).invoice
            subscription, purchases, addon_items = _reloaded(subscription, purchases, addon_items)
            if subscription is not None and subscription.discount_coupon_id is not None:
                subscription.discount_coupon = coupon

        checkout_requested.send_on_commit(
            sender=Invoice,
            invoice=invoice,
            user=user,
            subscription=subscription,
            zero_total=zero_total,
        )

    if subscription is not None:
        subscription.open_invoice_pk = None if zero_total else invoice.pk
    return CheckoutResult(
        invoice=invoice,
        subscription=subscription,
        token_purchases=purchases,
        addon_subscriptions=addon_items,
        zero_total=zero_total,
        trial=trial,
        currencies=order.currencies,
        coupon=coupon,
    )


def _redeem(coupon, *, buyer, invoice, subscription, now) -> None:
    """Records the coupon's PENDING redemption on the invoice; a recurring coupon bought with
    a plan it covers (or with an add-on it covers) stays on the subscription as its discount
    for the periods after this one."""
    lines = list(invoice.lines.all())
    keeps = (
        subscription is not None
        and coupon.is_recurring
        and any(
            coupon.covers(line.type, line.catalog_item_id)
            for line in lines
            if line.type in ("SUBSCRIPTION", "ADD_ON")
        )
    )
    redemption_create(
        coupon=coupon,
        user=buyer,
        invoice=invoice,
        subscription_id=subscription.pk if keeps else None,
        discount=discount_total(lines),
        currency=invoice.currency,
    )
    remaining = periods_after_checkout(coupon) if keeps else 0
    if keeps and remaining != 0:
        subscription.discount_coupon = coupon
        subscription.discount_periods_remaining = remaining
        subscription.discount_started_at = now
        subscription.save(
            update_fields=[
                "discount_coupon",
                "discount_periods_remaining",
                "discount_started_at",
                "updated_at",
            ]
        )


def _locked_buyer(user):
    """The buyer's row, locked for the checkout. The billing details come along for the
    invoice's buyer snapshot: those the validation read (the tax treatment is decided on them),
    else in the same query."""
    user_model = get_user_model()
    details = user_model.details
    locked = user_model.objects.select_for_update(of=("self",))
    if not details.is_cached(user):
        return locked.select_related("details").get(pk=user.pk)
    buyer = locked.get(pk=user.pk)
    details.related.set_cached_value(buyer, details.related.get_cached_value(user))
    return buyer


def _reloaded(subscription, purchases, addon_items):
    """The records as the capture left them (activation changes other instances), in order."""
    if subscription is not None:
        plan = subscription.plan
        subscription = Subscription.objects.get(pk=subscription.pk)
        subscription.plan = plan
    if purchases:
        fresh = TokenBundlePurchase.objects.select_related("invoice").in_bulk(
            [row.pk for row in purchases]
        )
        purchases = [fresh[row.pk] for row in purchases]
    if addon_items:
        fresh = AddOnSubscription.objects.select_related("addon", "invoice").in_bulk(
            [row.pk for row in addon_items]
        )
        addon_items = [fresh[row.pk] for row in addon_items]
    return subscription, purchases, addon_items


def coupon_preview(
    *, user, coupon_code, plan_id=None, token_bundle_ids=(), add_on_ids=(), currency=None
) -> dict:
    """The DISCOUNT lines a checkout of this order with ``coupon_code`` would write, after the
    same checks (the payment method aside); reads only."""
    order = order_validate(
        user=user,
        plan_id=plan_id,
        token_bundle_ids=token_bundle_ids,
        add_on_ids=add_on_ids,
        currency=currency,
        payment_method_code=None,
        now=timezone.now(),
        coupon_code=coupon_code,
        check_payment_method=False,
    )
    places = order.currency.decimal_places
    lines = [
        line
        for line in build_lines(
            drafts_of(order, with_fee=False), treatment=order.treatment, places=places
        )
        if line.type == DISCOUNT_LINE
    ]
    return {
        "coupon": public_coupon_data(order.coupon, places={order.currency.code: places}),
        "discount": format_money(discount_total(lines), places),
        "currency": order.currency.code,
        "lines": [
            {
                "type": line.type,
                "description": line.description,
                "amount": format_money(line.amount, places),
                "tax_rate": percent_text(line.tax_rate),
                "tax_amount": format_money(line.tax_amount, places),
                "gross_amount": format_money(line.gross_amount, places),
            }
            for line in lines
        ],
    }
