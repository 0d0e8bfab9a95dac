"""Checkout: one plan, token bundles and add-ons bought on one invoice, across the catalog,
invoices, tokens and subscriptions.

- ``services``: the use case (``checkout_create``) and its transaction;
- ``order``: what is bought, checked in a fixed order before anything is written;
- ``signals``: ``checkout_requested``, sent after a checkout committed;
- ``views`` and ``urls``: ``POST /api/v1/user/checkout``.
"""
