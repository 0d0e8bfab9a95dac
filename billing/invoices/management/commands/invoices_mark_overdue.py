"""Marks PENDING invoices past their due date OVERDUE (the beat job, runnable by hand or cron)."""

from django.core.management.base import BaseCommand, CommandError

from billing.invoices.services import invoices_mark_overdue


class Command(BaseCommand):
    help = "Moves PENDING invoices whose due date has passed to OVERDUE (safe to run twice)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size",
            type=int,
            default=500,
            help="invoices claimed per transaction (default 500)",
        )

    def handle(self, *args, **options):
        batch_size = options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        marked = invoices_mark_overdue(batch_size=batch_size)
        self.stdout.write(self.style.SUCCESS(f"Marked {marked} invoice(s) overdue."))
