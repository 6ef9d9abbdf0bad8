from importlib import import_module

from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class TasksConfig(AppConfig):
    name = "tasks"
    verbose_name = "Page background tasks"

    def ready(self):
        # Every app declares its codeunits in a ``codeunits`` module; importing them
        # here makes the registry the same in the parent and in every child process.
        autodiscover_modules("codeunits")
        from tasks import conf

        for module in conf.get("CODEUNIT_MODULES"):
            import_module(module)
        from tasks import checks  # noqa: F401  (registers the system checks)
