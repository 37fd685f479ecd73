from django.apps import AppConfig


class TimsSandboxConfig(AppConfig):
    name = "sandbox.tims"
    label = "sandbox_tims"
    verbose_name = "Sandbox: Tims"
