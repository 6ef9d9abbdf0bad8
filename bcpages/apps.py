from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class BcpagesConfig(AppConfig):
    name = "bcpages"
    verbose_name = "Pages"

    def ready(self):
        # Every app declares its pages in a ``pages`` module.
        autodiscover_modules("pages")
