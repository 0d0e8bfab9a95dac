"""Runs the scheduled billing jobs once (the Celery beat entries, by hand or from cron)."""

from django.core.management.base import BaseCommand, CommandError

from billing.subscriptions.jobs import JOBS, run_jobs


class Command(BaseCommand):
    help = (
        "Runs every scheduled billing job once, in order (renewals, saved-method charges, "
        "PAST_DUE, expiry, add-ons, stale plan changes, overdue invoices, dunning, pending "
        "refunds, outbound webhook deliveries); safe to run "
        "twice and next to Celery beat. Prints 'name: count' per job."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--only",
            action="append",
            metavar="NAME",
            help=f"run only this job (repeatable): {', '.join(JOBS)}",
        )

    def handle(self, *args, **options):
        only = options.get("only")
        if only:
            unknown = [name for name in only if name not in JOBS]
            if unknown:
                raise CommandError(f"Unknown job(s): {', '.join(unknown)}. Jobs: {', '.join(JOBS)}")
        for name, count in run_jobs(only=only or None).items():
            self.stdout.write(f"{name}: {count}")
