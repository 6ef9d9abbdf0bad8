"""``manage.py prune_task_log``: delete task log rows older than the retention.

The retention is ``BCPAGES["TASK_LOG_RETENTION_DAYS"]`` (30 days) unless
``--days`` says otherwise. Rows go in batches, so that a large log never holds one
long lock. Run it daily (cron, a systemd timer).
"""

import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from tasks import conf

BATCH = 5_000


class Command(BaseCommand):
    help = "Delete task log rows queued more than TASK_LOG_RETENTION_DAYS days ago."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None, help="Keep this many days instead of the setting.")
        parser.add_argument("--dry-run", action="store_true", help="Count the rows, delete nothing.")

    def handle(self, *args, days=None, dry_run=False, **options):
        from tasks.models import TaskLogEntry

        days = conf.get("TASK_LOG_RETENTION_DAYS") if days is None else days
        if isinstance(days, bool) or not isinstance(days, int) or days < 0:
            raise CommandError(f"The retention {days!r} is not a whole number of days (0 or more).")
        cutoff = timezone.now() - datetime.timedelta(days=days)
        old = TaskLogEntry.objects.filter(queued_at__lt=cutoff)
        if dry_run:
            self.stdout.write(f"{old.count()} task log row(s) queued before {cutoff:%Y-%m-%d %H:%M} would be deleted.")
            return
        deleted = 0
        while True:
            ids = list(old.order_by().values_list("id", flat=True)[:BATCH])
            if not ids:
                break
            deleted += TaskLogEntry.objects.filter(id__in=ids).delete()[0]
        self.stdout.write(f"Deleted {deleted} task log row(s) queued before {cutoff:%Y-%m-%d %H:%M} (kept {days} days).")
