"""``manage.py load_demo_data``: loads the demo company (see ``bcpages.demo.loader``)."""

import datetime
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from bcpages.demo import loader


def iso_date(text):
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--today must be a date as YYYY-MM-DD, not {text!r}.") from None


class Command(BaseCommand):
    help = (
        "Loads the demo company: Microsoft's demo customers, items and sales documents, "
        "and a generated history of posted sales invoices and payments ending today."
    )

    def add_arguments(self, parser):
        parser.add_argument("--if-empty", action="store_true", help="Do nothing when customers exist already.")
        parser.add_argument("--flush", action="store_true", help="Delete the demo tables' rows first.")
        parser.add_argument(
            "--today", type=iso_date, default=None, help="The date the history ends (YYYY-MM-DD); default today."
        )
        parser.add_argument("--seed", type=int, default=loader.DEFAULT_SEED, help="Seed of the generated history.")
        parser.add_argument("--years", type=int, default=loader.HISTORY_YEARS, help="Years of generated history.")
        parser.add_argument(
            "--lines",
            type=int,
            default=loader.MIN_INVOICE_LINES,
            help="Least number of generated posted sales invoice lines.",
        )

    def handle(self, *args, if_empty, flush, today, seed, years, lines, **options):
        if if_empty and flush:
            raise CommandError("--if-empty and --flush contradict each other: use one of them.")
        if if_empty and loader.demo_data_present():
            self.stdout.write("The demo data is already loaded (customers exist): nothing to do.")
            return
        if not flush and loader.demo_data_present():
            raise CommandError(
                "The demo data is already loaded (customers exist). Loading it again would duplicate it: "
                "run with --flush to replace it, or with --if-empty to keep it."
            )

        started = time.perf_counter()
        # One transaction: a failed load leaves the previous data in place, flushed or not.
        with transaction.atomic():
            if flush:
                loader.flush_demo_data()
                self.stdout.write("Deleted the demo tables' rows.")
            try:
                counts = loader.load_demo_data(
                    today=today, seed=seed, stdout=self.stdout, years=years, min_invoice_lines=lines
                )
            except loader.DemoDataPresent as error:
                raise CommandError(str(error)) from None

        for table, count in counts.items():
            self.stdout.write(f"  {table:<22} {count:>9,}")
        self.stdout.write(self.style.SUCCESS(f"Loaded the demo data in {time.perf_counter() - started:.1f} s."))
