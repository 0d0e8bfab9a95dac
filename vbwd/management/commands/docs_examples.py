"""Regenerates the request/response examples of the API guide (docs/api/) from the running code.

The examples are taken in a throwaway database (created, migrated and dropped again, like the
test suite's), so the configured database is never touched and its data never shows up in the
docs. ``--check`` only compares and exits with status 1 when a committed example is out of date.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from vbwd.management import docs_examples


class Command(BaseCommand):
    help = (
        "Seeds the demo data in a throwaway database, performs the requests the API guide "
        "documents and writes their examples into docs/api/*.md (--check: only compare)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--check",
            action="store_true",
            help="write nothing; exit with status 1 when an example in docs/ is out of date",
        )

    def handle(self, *args, **options):
        examples = self._generate(verbosity=options["verbosity"])
        try:
            if options["check"]:
                self._check(examples)
            else:
                self._write(examples)
        except ValueError as error:  # a marker without an example, or an example shown nowhere
            raise CommandError(str(error)) from error

    def _check(self, examples: dict[str, str]) -> None:
        stale = docs_examples.outdated(examples)
        for path in stale:
            self.stderr.write(f"out of date: {path.relative_to(settings.BASE_DIR)}")
        if stale:
            raise CommandError("Run `python manage.py docs_examples` and commit the result.")
        self.stdout.write(self.style.SUCCESS(f"{len(examples)} examples are up to date."))

    def _write(self, examples: dict[str, str]) -> None:
        changed = docs_examples.write(examples)
        for path in changed:
            self.stdout.write(f"updated {path.relative_to(settings.BASE_DIR)}")
        self.stdout.write(
            self.style.SUCCESS(f"{len(examples)} examples, {len(changed)} file(s) changed.")
        )

    def _generate(self, *, verbosity: int) -> dict[str, str]:
        """The examples, taken in a throwaway database (``<name>_docs_examples``, or an
        in-memory one for SQLite)."""
        test_settings = settings.DATABASES["default"].setdefault("TEST", {})
        if connection.vendor != "sqlite":
            test_settings["NAME"] = f"{settings.DATABASES['default']['NAME']}_docs_examples"
        original_name = connection.creation.create_test_db(
            verbosity=max(verbosity - 1, 0), autoclobber=True, serialize=False
        )
        try:
            return docs_examples.generate()
        finally:
            connection.creation.destroy_test_db(original_name, verbosity=max(verbosity - 1, 0))
