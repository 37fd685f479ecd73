"""What each channel was last sent of a TIMS item's product: a change sends only the fields that differ."""

from django.db import models

from integrations.models import Integration


class SentProduct(models.Model):
    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="+")
    sku = models.CharField("SKU", max_length=100)
    channel_id = models.CharField(max_length=100, help_text="The product's id in the channel.")
    fields = models.JSONField(default=dict, help_text="The fields last sent, as sent.")
    sent_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["integration", "sku"], name="one_sent_product_per_sku")]

    def __str__(self):
        return f"{self.sku} → {self.channel_id}"
