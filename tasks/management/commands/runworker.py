"""``manage.py runworker bcpages.tasks``: Channels' runworker with the slot-aware worker.

Listed before ``channels`` in INSTALLED_APPS, so this command takes its name.
"""

from channels.management.commands import runworker

from tasks.worker import TaskWorker


class Command(runworker.Command):
    help = "Run a Channels worker for page background tasks (one child session per free slot)."
    worker_class = TaskWorker
