"""Invitations: an owner or admin asks someone by email to join their organization with a role. Only a hash of the
link's token is stored, so a database dump cannot be used to join."""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from portal.models import Organization, Role

INVITATION_DAYS = 7


def hash_token(token):
    return hashlib.sha256(str(token).encode()).hexdigest()


class InvitationQuerySet(models.QuerySet):
    def pending(self):
        return self.filter(accepted_at__isnull=True, cancelled_at__isnull=True, expires_at__gt=timezone.now())


class Invitation(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.VIEWER)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(default=timezone.now, help_text="The last time the link was sent.")
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    cancelled_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["organization", "email"], name="invitation_org_email")]

    def __str__(self):
        return f"{self.email} to {self.organization} as {self.get_role_display()}"

    def new_token(self):
        """A fresh token (the old link stops working) and a fresh week; returns the token, which is never stored."""
        token = secrets.token_urlsafe(32)
        self.token_hash = hash_token(token)
        self.sent_at = timezone.now()
        self.expires_at = self.sent_at + timedelta(days=INVITATION_DAYS)
        return token

    @property
    def state(self):
        if self.accepted_at:
            return "accepted"
        if self.cancelled_at:
            return "cancelled"
        if self.expires_at <= timezone.now():
            return "expired"
        return "pending"
