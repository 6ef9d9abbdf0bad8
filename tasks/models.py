"""What administrators keep in the database: codeunit settings, bindings, the task log.

- ``CodeunitSetting``: one row per codeunit, created from the registry (id, name,
  description, implementation come from the code and are refreshed by
  ``sync_codeunits``); the administrator edits enabled, default timeout, default
  error level and notes. A row whose codeunit left the code stays, flagged missing.
- ``CodeunitBinding``: a codeunit run for every record a page shows, with result
  keys shown as extra fields in a FactBox of that page: live fields without code.
- ``TaskLogEntry``: one row per ended task (S36), written in batches by
  ``tasks.tasklog``, pruned by ``manage.py prune_task_log``.
- ``Monitor``: a proxy without data of its own, so that the live monitor has its
  place (and its link) in the admin index at ``/admin/tasks/monitor/``.

Parent sessions never query these tables per task: ``tasks.settings_cache`` keeps
a snapshot of settings and bindings, refreshed after a short TTL and at once when
this process saves a row (the receivers at the bottom of this module).
"""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.signals import post_delete, post_migrate, post_save
from django.dispatch import receiver

from tasks.values import ERROR_LEVELS

ERROR_LEVEL_CHOICES = [(level, level) for level in ERROR_LEVELS]
OUTCOME_CHOICES = [("completed", "completed"), ("failed", "failed"), ("cancelled", "cancelled")]


class CodeunitSetting(models.Model):
    id = models.PositiveIntegerField("codeunit id", primary_key=True)
    name = models.CharField(max_length=250)
    description = models.TextField(blank=True)
    implementation = models.CharField(
        max_length=300,
        help_text="The registered Python function that runs this codeunit. It comes from the code "
        "(the @codeunit registry) and can only be chosen from it, never typed.",
    )
    enabled = models.BooleanField(
        default=True, help_text="A disabled codeunit cannot be enqueued: pages get UnknownCodeunit."
    )
    default_timeout_ms = models.PositiveIntegerField(
        "default timeout (ms)",
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Used when page code gives no timeout. Empty: the server default (BCPAGES DEFAULT_TIMEOUT_MS).",
    )
    default_error_level = models.CharField(
        max_length=10,
        blank=True,
        choices=ERROR_LEVEL_CHOICES,
        help_text="Used when page code does not name an error level. Empty: error.",
    )
    notes = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "codeunit"
        verbose_name_plural = "codeunits"

    def __str__(self):
        return f"{self.id} {self.name}"

    @property
    def registered(self):
        """False when the codeunit is no longer in the code (shown as missing)."""
        from tasks.codeunits import get_codeunit
        from tasks.errors import UnknownCodeunit

        try:
            get_codeunit(self.id)
        except UnknownCodeunit:
            return False
        return True


class CodeunitBinding(models.Model):
    page = models.CharField(max_length=100, help_text="A registered page, by name (for example customer-card).")
    codeunit = models.ForeignKey(CodeunitSetting, on_delete=models.PROTECT, related_name="bindings")
    caption = models.CharField(
        "FactBox caption",
        max_length=100,
        help_text="The FactBox the fields appear in; an existing part's caption adds them to that part.",
    )
    parameters = models.JSONField(
        "parameter template",
        default=dict,
        blank=True,
        help_text='A JSON object of strings; {field} is the current record\'s field, for example {"CustomerNo": "{no}"}. '
        "Write {{ and }} for literal braces.",
    )
    results = models.TextField(
        "result fields",
        help_text="One result key per line, with its caption: for example 'balance: Balance (LCY)'.",
    )
    timeout_ms = models.PositiveIntegerField(
        "timeout (ms)", null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(2**31 - 1)],
        help_text="Empty: the codeunit's default timeout.",
    )
    error_level = models.CharField(
        max_length=10, blank=True, choices=ERROR_LEVEL_CHOICES,
        help_text="What the user sees when the task fails. Empty: the codeunit's default error level.",
    )
    enabled = models.BooleanField(default=True)
    notes = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["page", "id"]
        verbose_name = "binding"
        verbose_name_plural = "bindings"

    def __str__(self):
        return f"{self.page}: {self.caption} ({self.codeunit_id})"


class TaskLogEntry(models.Model):
    """One ended task: who enqueued what, for which record, when, and how it ended."""

    session_id = models.CharField("parent session", max_length=64, db_index=True)
    task_id = models.PositiveIntegerField()
    username = models.CharField("user", max_length=150, blank=True)
    page = models.CharField(max_length=100)
    record = models.CharField(max_length=100, blank=True)
    codeunit_id = models.PositiveIntegerField("codeunit")
    codeunit_name = models.CharField(max_length=250)
    binding_id = models.PositiveIntegerField("binding", null=True, blank=True)
    parameters = models.JSONField(default=dict)
    error_level = models.CharField(max_length=10)
    timeout_ms = models.PositiveIntegerField("effective timeout (ms)")
    queued_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField()
    duration_ms = models.FloatField("duration (ms)", null=True, blank=True, help_text="From start to end.")
    outcome = models.CharField(max_length=10, choices=OUTCOME_CHOICES)
    code = models.CharField(max_length=100, blank=True)
    text = models.TextField(blank=True)
    call_stack = models.TextField(blank=True)

    class Meta:
        ordering = ["-queued_at", "-id"]
        verbose_name = "task log entry"
        verbose_name_plural = "task log"
        indexes = [
            models.Index(fields=["queued_at"], name="tasks_log_queued_at"),
            models.Index(fields=["outcome", "queued_at"], name="tasks_log_outcome"),
            models.Index(fields=["codeunit_id", "queued_at"], name="tasks_log_codeunit"),
        ]

    def __str__(self):
        return f"{self.codeunit_id} {self.codeunit_name} on {self.page} {self.record}: {self.outcome}"

    @property
    def queued_ms(self):
        """Milliseconds the task waited in its parent session's queue."""
        if self.started_at is None:
            return None
        return round((self.started_at - self.queued_at).total_seconds() * 1000, 1)


class Monitor(TaskLogEntry):
    """The live monitor's place in the admin (``tasks.admin.MonitorAdmin``)."""

    class Meta:
        proxy = True
        verbose_name = "live monitor"
        verbose_name_plural = "live monitor"


# Receivers ---------------------------------------------------------------------
# Connected here rather than in AppConfig.ready(): this module is imported once the
# app registry is ready, and the receivers belong with the tables they watch.


@receiver(post_migrate, dispatch_uid="tasks.sync_codeunits_after_migrate")
def _sync_after_migrate(sender, app_config=None, using="default", **kwargs):
    if app_config is None or app_config.label != "tasks":
        return
    from tasks.settings_cache import sync_codeunits

    sync_codeunits(using=using)


@receiver(post_save, sender=CodeunitSetting, dispatch_uid="tasks.codeunit_setting_saved")
@receiver(post_delete, sender=CodeunitSetting, dispatch_uid="tasks.codeunit_setting_deleted")
@receiver(post_save, sender=CodeunitBinding, dispatch_uid="tasks.binding_saved")
@receiver(post_delete, sender=CodeunitBinding, dispatch_uid="tasks.binding_deleted")
def _settings_changed(sender, **kwargs):
    # This process sees the change at once; other processes within the cache's TTL.
    from tasks.settings_cache import invalidate

    invalidate()
