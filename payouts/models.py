"""Marketplace payouts: a settlement file staff upload, its lines, each matched to its order and payment, and the
fees handed to the journal flow. The column mapping chosen at upload is remembered per integration."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from integrations.models import Integration, SyncRecord
from jobs.models import Job


class Delimiter(models.TextChoices):
    COMMA = ",", "Comma ( , )"
    SEMICOLON = ";", "Semicolon ( ; )"
    TAB = "\t", "Tab"
    PIPE = "|", "Pipe ( | )"


DATE_FORMATS = [("%Y-%m-%d", "2026-12-31"), ("%d/%m/%Y", "31/12/2026"), ("%m/%d/%Y", "12/31/2026"),
                ("%d.%m.%Y", "31.12.2026"), ("%d-%m-%Y", "31-12-2026"), ("%Y/%m/%d", "2026/12/31")]


class SettlementFormat(models.Model):
    """How one integration's settlement files read: which header holds what. Saved at every upload, offered at the
    next one."""

    integration = models.OneToOneField(Integration, on_delete=models.CASCADE, related_name="settlement_format")
    reference_column = models.CharField(max_length=100, help_text="The header of the order reference column.")
    amount_column = models.CharField(max_length=100)
    fee_column = models.CharField(max_length=100)
    date_column = models.CharField(max_length=100)
    currency_column = models.CharField(max_length=100, blank=True, help_text="Empty: the order's currency.")
    payout_column = models.CharField(max_length=100, blank=True, help_text="The marketplace's payout id, if any.")
    delimiter = models.CharField(max_length=1, choices=Delimiter.choices, default=Delimiter.COMMA)
    date_format = models.CharField(max_length=20, choices=DATE_FORMATS, default="%Y-%m-%d")
    decimal_comma = models.BooleanField(default=False, help_text="Amounts are written 1.234,56.")
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"Settlement file format of {self.integration}"

    def mapping(self):
        return {name: getattr(self, name) for name in MAPPING_FIELDS}


MAPPING_FIELDS = ("reference_column", "amount_column", "fee_column", "date_column", "currency_column",
                  "payout_column", "delimiter", "date_format", "decimal_comma")


class UploadStatus(models.TextChoices):
    DRAFT = "draft", "Waiting for its column mapping"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Reading and matching"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Stopped on request"


class PayoutUpload(models.Model):
    integration = models.ForeignKey(Integration, on_delete=models.PROTECT, related_name="payout_uploads")
    file_name = models.CharField(max_length=255)
    content = models.TextField(help_text="The file as uploaded (UTF-8), kept so the job can run again.")
    mapping = models.JSONField(default=dict, blank=True, help_text="The column mapping this file was read with.")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=10, choices=UploadStatus.choices, default=UploadStatus.DRAFT)
    error = models.TextField(blank=True)
    lines = models.PositiveIntegerField(default=0)
    matched = models.PositiveIntegerField(default=0, help_text="Matched to an order and its payment (posted or not).")
    posted = models.PositiveIntegerField(default=0)
    unmatched = models.PositiveIntegerField(default=0)
    refused = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    fees_total = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    amount_total = models.DecimalField(max_digits=14, decimal_places=2, default=0)

    class Meta:
        ordering = ["-uploaded_at"]

    def __str__(self):
        return f"Payout file {self.file_name} (#{self.pk})"


class LineStatus(models.TextChoices):
    UNMATCHED = "unmatched", "Unmatched: needs a human"
    REFUSED = "refused", "Refused: the line cannot be read"
    MATCHED = "matched", "Matched, not posted yet"
    POSTED = "posted", "Posted to the journal"
    DUPLICATE = "duplicate", "Duplicate: already uploaded"


# Lines that stand for a real settlement: another line like them is a duplicate.
COUNTED = (LineStatus.UNMATCHED, LineStatus.MATCHED, LineStatus.POSTED)


class PayoutLine(models.Model):
    upload = models.ForeignKey(PayoutUpload, on_delete=models.CASCADE, related_name="payout_lines")
    integration = models.ForeignKey(Integration, on_delete=models.PROTECT, related_name="+")
    number = models.PositiveIntegerField(help_text="Its row in the file; the header is row 1.")
    raw = models.JSONField(default=dict, blank=True)
    order_reference = models.CharField(max_length=100, blank=True)
    amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    fee = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    date = models.DateField(null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    payout_id = models.CharField(max_length=100, blank=True)
    fingerprint = models.CharField(max_length=200, blank=True,
                                   help_text="Reference, amount, fee and date: the same line twice is a duplicate.")
    status = models.CharField(max_length=10, choices=LineStatus.choices, default=LineStatus.UNMATCHED)
    reason = models.TextField(blank=True)
    order_id = models.CharField("channel order id", max_length=100, blank=True)
    sales_order_id = models.CharField("TIMS sales order", max_length=100, blank=True)
    payment_link_ids = models.JSONField(default=list, blank=True)
    journal_record = models.ForeignKey(SyncRecord, null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["upload", "number"]
        constraints = [
            models.UniqueConstraint(fields=["upload", "number"], name="payout_line_once_per_row"),
            # Two uploads racing with the same line: one of them is the duplicate.
            models.UniqueConstraint(fields=["integration", "fingerprint"], name="payout_line_counted_once",
                                    condition=Q(status__in=[s.value for s in COUNTED]) & ~Q(fingerprint="")),
        ]
        indexes = [models.Index(fields=["integration", "status"])]

    def __str__(self):
        return f"Row {self.number} of upload #{self.upload_id}"
