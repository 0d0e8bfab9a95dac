"""The documented requests, in the order a client would make them, on the demo data.

Each ``rec.call(name, …)`` with a name becomes the example of that name in ``docs/api/``; calls
without a name only prepare the state the next examples show. Sections start at their own hour
of the example clock (``Recorder.section``), so a request added to one section moves no
timestamp of another. The story: the demo customer holds Basic; Jane registers and checks out
Pro with its trial, a bundle and an add-on; the customer upgrades; staff record payments, refund
Jane, maintain the catalog, the settings and the plugins; the customer's account is
anonymised; last, staff register a webhook endpoint and read the audit log.
"""

from __future__ import annotations

import io

from django.core.management import call_command

from vbwd.management.docs_examples.recorder import Recorder
from vbwd.management.docs_examples.scenario import conventions, customer, integrations, staff


def run(rec: Recorder) -> None:
    rec.section(0)
    call_command("seed_demo", stdout=io.StringIO())
    ids: dict[str, str] = {}
    customer.service(rec)
    customer.auth(rec)
    customer.profile(rec)
    customer.catalog(rec, ids)
    customer.checkout(rec, ids)
    customer.invoices(rec, ids)
    customer.subscriptions(rec, ids)
    customer.tokens(rec)
    staff.users(rec, ids)
    staff.billing(rec, ids)
    staff.catalog(rec, ids)
    staff.settings(rec)
    staff.plugins_and_gateways(rec)
    conventions.run(rec, ids)
    staff.account_deletion(rec)
    integrations.webhooks(rec, ids)
    integrations.audit_log(rec, ids)
    integrations.frontend_events(rec)
