from django.apps import AppConfig


class ChannelAdvisorSandboxConfig(AppConfig):
    name = "sandbox.channeladvisor"
    label = "sandbox_channeladvisor"
    verbose_name = "Sandbox: ChannelAdvisor"
