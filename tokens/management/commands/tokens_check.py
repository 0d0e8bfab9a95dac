"""Verifies the ledger invariant: every balance equals the sum of its user's ledger."""

from django.core.management.base import BaseCommand
from django.db.models import Sum

from tokens.models import TokenBalance, TokenTransaction


class Command(BaseCommand):
    help = "Checks that every token balance equals the sum of the ledger (exit code 1 if not)."

    def handle(self, *args, **options):
        sums = dict(
            TokenTransaction.objects.values("user_id")
            .annotate(total=Sum("amount"))
            .values_list("user_id", "total")
        )
        balances = dict(TokenBalance.objects.values_list("user_id", "balance"))
        mismatches = []
        for user_id in sorted(set(sums) | set(balances), key=str):
            balance, total = balances.get(user_id, 0), sums.get(user_id) or 0
            if balance != total or balance < 0:
                mismatches.append((user_id, balance, total))
        for user_id, balance, total in mismatches:
            self.stdout.write(
                self.style.ERROR(f"user {user_id}: balance {balance}, ledger sum {total}")
            )
        checked = len(set(sums) | set(balances))
        if mismatches:
            self.stderr.write(f"{len(mismatches)} of {checked} balance(s) do not match the ledger")
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS(f"All {checked} balance(s) match the ledger."))
