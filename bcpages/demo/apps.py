from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "bcpages.demo"
    label = "demo"
    verbose_name = "Demo company (Contoso / CRONUS)"
