from django.apps import AppConfig


class PrestaShopSandboxConfig(AppConfig):
    name = "sandbox.prestashop"
    label = "sandbox_prestashop"
    verbose_name = "Sandbox: PrestaShop"
