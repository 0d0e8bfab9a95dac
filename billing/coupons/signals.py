"""Domain events of coupons. Sent after the transaction that made the change has committed, with
``send_robust``; receivers of a disabled plugin are skipped (PluginSignal)."""

from plugins.signals import PluginSignal

coupon_redeemed = PluginSignal()
"""Sent when the invoice a coupon was redeemed on is captured (the redemption became APPLIED).
Args: ``redemption`` (CouponRedemption, with ``coupon``), ``invoice``. Not sent for renewals that
carry a recurring discount, nor when the invoice is voided."""
