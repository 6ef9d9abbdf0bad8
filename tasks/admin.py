"""The admin of page background tasks: codeunits (settings, run), bindings, the
task log and the live monitor (``/admin/tasks/monitor/``)."""

import time
import uuid

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from tasks import tasklog
from tasks.codeunits import get_codeunit, registered_codeunits
from tasks.errors import UnknownCodeunit
from tasks.forms import CodeunitBindingForm, CodeunitSettingForm, ParameterFormSet, RunForm
from tasks.messages import COMPLETED, TaskRun
from tasks.models import CodeunitBinding, CodeunitSetting, Monitor, TaskLogEntry
from tasks.settings_cache import invalidate, policy, sync_codeunits
from tasks.values import effective_timeout


class InCodeFilter(admin.SimpleListFilter):
    title = "in the code"
    parameter_name = "in_code"

    def lookups(self, request, model_admin):
        return [("yes", "Registered"), ("no", "Missing")]

    def queryset(self, request, queryset):
        registered = [unit.id for unit in registered_codeunits()]
        if self.value() == "yes":
            return queryset.filter(id__in=registered)
        if self.value() == "no":
            return queryset.exclude(id__in=registered)
        return queryset


@admin.register(CodeunitSetting)
class CodeunitSettingAdmin(admin.ModelAdmin):
    form = CodeunitSettingForm
    list_display = ["id", "name", "in_code", "enabled", "default_timeout_ms", "default_error_level", "binding_count", "implementation"]
    list_display_links = ["id", "name"]
    list_filter = ["enabled", InCodeFilter]
    list_editable = ["enabled"]
    search_fields = ["name", "description", "implementation", "notes"]
    readonly_fields = ["id", "name", "description", "in_code", "updated_at"]
    fieldsets = [
        (None, {"fields": ["id", "name", "description", "in_code", "implementation"]}),
        ("Administrator's settings", {"fields": ["enabled", "default_timeout_ms", "default_error_level", "notes", "updated_at"]}),
    ]
    actions = ["enable", "disable", "run"]
    change_form_template = "admin/tasks/codeunitsetting/change_form.html"

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(binding_total=Count("bindings"))

    def changelist_view(self, request, extra_context=None):
        # A codeunit added to the code since start-up gets its row here (lazy sync).
        sync_codeunits()
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request):
        return False  # rows come from the registry (post_migrate and the list view)

    def has_delete_permission(self, request, obj=None):
        # Only rows of codeunits that left the code: a registered one would come back.
        if obj is not None and obj.registered:
            return False
        return super().has_delete_permission(request, obj)

    @admin.display(boolean=True, description="in the code")
    def in_code(self, obj):
        return obj.registered

    @admin.display(description="bindings", ordering="binding_total")
    def binding_count(self, obj):
        return getattr(obj, "binding_total", None)

    @admin.action(description="Enable selected codeunits", permissions=["change"])
    def enable(self, request, queryset):
        count = queryset.update(enabled=True)
        invalidate()  # update() sends no post_save
        self.message_user(request, f"{count} codeunit(s) enabled.", messages.SUCCESS)

    @admin.action(description="Disable selected codeunits", permissions=["change"])
    def disable(self, request, queryset):
        count = queryset.update(enabled=False)
        invalidate()
        self.message_user(request, f"{count} codeunit(s) disabled: pages cannot enqueue them.", messages.WARNING)

    @admin.action(description="Run the selected codeunit", permissions=["change"])
    def run(self, request, queryset):
        selected = list(queryset[:2])
        if len(selected) != 1:
            self.message_user(request, "Select exactly one codeunit to run.", messages.ERROR)
            return None
        return HttpResponseRedirect(reverse("admin:tasks_codeunitsetting_run", args=[selected[0].pk]))

    def get_urls(self):
        run = path("<int:codeunit_id>/run/", self.admin_site.admin_view(self.run_view), name="tasks_codeunitsetting_run")
        return [run] + super().get_urls()

    def run_view(self, request, codeunit_id):
        """Run the codeunit in a real child session with the parameters typed here."""
        setting = get_object_or_404(CodeunitSetting, pk=codeunit_id)
        if not self.has_change_permission(request, setting):
            raise PermissionDenied
        try:
            unit = get_codeunit(setting.pk)
        except UnknownCodeunit:
            unit = None
        outcome = run = None
        wall_ms = None
        if request.method == "POST":
            form, parameters = RunForm(request.POST), ParameterFormSet(request.POST, prefix="parameter")
            if unit is None:
                form.add_error(None, f"Codeunit {setting.pk} is missing from the code: it cannot run.")
            elif form.is_valid() and parameters.is_valid():
                timeout = form.cleaned_data["timeout_ms"]
                if timeout is None:
                    timeout = policy(unit.id).default_timeout_ms
                run = TaskRun(f"admin-{uuid.uuid4().hex[:12]}", 1, unit.id, parameters.parameters(), effective_timeout(timeout))
                outcome, wall_ms = _run(run, request)
        else:
            form, parameters = RunForm(), ParameterFormSet(prefix="parameter")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Run codeunit {setting.pk} {setting.name}",
            "setting": setting,
            "registered": unit is not None,
            "form": form,
            "parameters": parameters,
            "run": run,
            "outcome": outcome,
            "completed": outcome is not None and outcome.state == COMPLETED,
            "results": sorted(outcome.results.items()) if outcome is not None else [],
            "wall_ms": wall_ms,
        }
        return TemplateResponse(request, "admin/tasks/codeunitsetting/run.html", context)


def _run(run, request):
    """Run ``run`` in a child session; log it like a page's task. Returns (outcome, wall ms)."""
    from tasks.child_session import run_sync

    queued_at = time.time()
    started = time.monotonic()
    outcome = run_sync(run)
    wall_ms = round((time.monotonic() - started) * 1000, 1)
    tasklog.record_run(run, outcome, queued_at=queued_at, username=request.user.get_username())
    tasklog.flush()
    return outcome, wall_ms


@admin.register(CodeunitBinding)
class CodeunitBindingAdmin(admin.ModelAdmin):
    form = CodeunitBindingForm
    list_display = ["caption", "page", "codeunit", "result_fields", "timeout_ms", "error_level", "enabled"]
    list_filter = ["page", "enabled", "codeunit"]
    search_fields = ["caption", "page", "notes"]
    list_select_related = ["codeunit"]
    fieldsets = [
        (None, {"fields": ["page", "codeunit", "caption", "enabled"]}),
        ("Task", {"fields": ["parameters", "timeout_ms", "error_level"]}),
        ("Fields", {"fields": ["results"]}),
        (None, {"fields": ["notes"]}),
    ]

    @admin.display(description="result fields")
    def result_fields(self, obj):
        return ", ".join(line.split(":", 1)[0].strip() for line in obj.results.splitlines() if line.strip())


class CodeunitFilter(admin.SimpleListFilter):
    title = "codeunit"
    parameter_name = "codeunit"

    def lookups(self, request, model_admin):
        return [(str(row.id), f"{row.id} {row.name}") for row in CodeunitSetting.objects.only("id", "name")]

    def queryset(self, request, queryset):
        if self.value():
            try:
                return queryset.filter(codeunit_id=int(self.value()))
            except ValueError:
                return queryset.none()
        return queryset


class PageFilter(admin.SimpleListFilter):
    title = "page"
    parameter_name = "page"

    def lookups(self, request, model_admin):
        from bcpages.pages import registered_pages

        return [(name, name) for name in sorted(registered_pages())] + [("admin", "admin (run form)")]

    def queryset(self, request, queryset):
        return queryset.filter(page=self.value()) if self.value() else queryset


@admin.register(TaskLogEntry)
class TaskLogEntryAdmin(admin.ModelAdmin):
    """Read-only: rows are written by the engine; only superusers may delete them."""

    list_display = ["queued_at", "codeunit", "page", "record", "username", "outcome_badge", "code", "queued_ms", "duration_ms", "timeout_ms"]
    list_filter = ["outcome", CodeunitFilter, PageFilter, ("queued_at", admin.DateFieldListFilter), "error_level"]
    search_fields = ["session_id", "username", "record", "codeunit_name", "code", "text", "=page"]
    date_hierarchy = "queued_at"
    list_per_page = 100
    show_full_result_count = False  # a count(*) of a large log on every page is slow

    class Media:
        css = {"all": ["tasks/admin.css"]}
    fieldsets = [
        ("Task", {"fields": ["session_id", "task_id", "username", "page", "record", "binding_id"]}),
        ("Codeunit", {"fields": ["codeunit_id", "codeunit_name", "parameters", "error_level", "timeout_ms"]}),
        ("Timings", {"fields": ["queued_at", "started_at", "ended_at", "queued_ms", "duration_ms"]}),
        ("Outcome", {"fields": ["outcome", "code", "text", "call_stack_text"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        return [name for _, options in self.fieldsets for name in options["fields"]]

    @admin.display(description="codeunit", ordering="codeunit_id")
    def codeunit(self, obj):
        return f"{obj.codeunit_id} {obj.codeunit_name}"

    @admin.display(description="outcome", ordering="outcome")
    def outcome_badge(self, obj):
        return format_html('<span class="tasklog-outcome" data-outcome="{}">{}</span>', obj.outcome, obj.outcome)

    @admin.display(description="queued (ms)")
    def queued_ms(self, obj):
        return obj.queued_ms

    @admin.display(description="call stack")
    def call_stack_text(self, obj):
        return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>', obj.call_stack) if obj.call_stack else "-"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser


@admin.register(Monitor)
class MonitorAdmin(admin.ModelAdmin):
    """``/admin/tasks/monitor/``: the live monitor, for every staff user."""

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [path("", self.admin_site.admin_view(self.changelist_view), name="tasks_monitor_changelist")]

    def changelist_view(self, request, extra_context=None):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Live monitor",
            "is_nav_sidebar_enabled": False,  # the timeline wants the width
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/tasks/monitor.html", context)
