"""Members and invitations as plain functions: the members page calls them, and so may an API. Each change is
audited (integrations.pipeline.actions.audit) and keeps an organization with at least one owner."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import Invitation, hash_token
from integrations.pipeline.actions import audit
from portal.access import RANK
from portal.models import Membership, Role


class MembershipProblem(ValueError):
    """A change refused, with the reason in words for the person who asked."""


def may_grant(granter_role, role):
    """An owner grants any role; an admin any role up to admin (never owner)."""
    if granter_role == Role.OWNER:
        return True
    return granter_role == Role.ADMIN and RANK[Role(role)] <= RANK[Role.ADMIN]


def inviter_name(invitation, nobody="an owner or admin"):
    user = invitation.invited_by
    return (user.get_full_name() or user.username) if user else nobody


def _send(invitation, token, build_url):
    link = build_url(token)
    context = {"invitation": invitation, "link": link, "days": (invitation.expires_at - invitation.sent_at).days,
               "inviter": inviter_name(invitation, "Someone")}
    send_mail(f"Join {invitation.organization.name} on the integration portal",
              render_to_string("accounts/email/invitation.txt", context), settings.DEFAULT_FROM_EMAIL,
              [invitation.email])


def invite(organization, email, role, by, by_role, build_url):
    """Invite `email` as `role`; `build_url(token)` makes the link's absolute URL. Returns the invitation."""
    email = email.strip()
    if role not in Role.values:
        raise MembershipProblem("Choose a role: owner, admin, operator or viewer.")
    if not may_grant(by_role, role):
        raise MembershipProblem("Only an owner may invite an owner.")
    if Membership.objects.filter(organization=organization, user__email__iexact=email).exists():
        raise MembershipProblem(f"{email} is already a member of {organization.name}.")
    if Invitation.objects.pending().filter(organization=organization, email__iexact=email).exists():
        raise MembershipProblem(f"{email} is already invited: resend that invitation instead.")
    with transaction.atomic():
        invitation = Invitation(organization=organization, email=email, role=role, invited_by=by)
        token = invitation.new_token()
        invitation.save()
        audit(by, "invite", organization=organization, after={"email": email, "role": role,
                                                               "expires_at": invitation.expires_at.isoformat()})
    _send(invitation, token, build_url)
    return invitation


def resend(invitation, by, build_url):
    """A new link (the old one stops working) and a new week."""
    if invitation.state in ("accepted", "cancelled"):
        raise MembershipProblem(f"That invitation was {invitation.state}; invite {invitation.email} again instead.")
    with transaction.atomic():
        token = invitation.new_token()
        invitation.save(update_fields=["token_hash", "sent_at", "expires_at"])
        audit(by, "invite_resend", organization=invitation.organization,
              after={"email": invitation.email, "role": invitation.role,
                     "expires_at": invitation.expires_at.isoformat()})
    _send(invitation, token, build_url)


def cancel(invitation, by):
    if invitation.state in ("accepted", "cancelled"):
        raise MembershipProblem(f"That invitation was already {invitation.state}.")
    with transaction.atomic():
        invitation.cancelled_at = timezone.now()
        invitation.save(update_fields=["cancelled_at"])
        audit(by, "invite_cancel", organization=invitation.organization,
              before={"email": invitation.email, "role": invitation.role})


def find_invitation(token):
    return Invitation.objects.select_related("organization", "invited_by").filter(
        token_hash=hash_token(token)).first()


def why_not_usable(invitation):
    """None when the invitation can be accepted, else what to tell the person, in plain words."""
    if invitation is None:
        return "This invitation link is not valid. Check that you opened the whole link from the email."
    inviter = inviter_name(invitation)
    if invitation.state == "accepted":
        return "This invitation was already used. Sign in to reach your organization."
    if invitation.state == "cancelled":
        return f"This invitation was cancelled. Ask {inviter} to invite you again if you still need access."
    if invitation.state == "expired":
        return (f"This invitation expired on {timezone.localtime(invitation.expires_at):%Y-%m-%d %H:%M}. "
                f"Ask {inviter} to send you a new one.")
    return None


def accept(token, user, *, new_user=None):
    """Join the invitation's organization as `user` (an existing account whose email matches), or create the
    account from `new_user` ({"first_name", "last_name", "password"}). One use only, even when two tabs race.
    Returns (user, invitation, membership, joined: False when the user already was a member)."""
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update().filter(token_hash=hash_token(token)).first()
        problem = why_not_usable(invitation)
        if problem:
            raise MembershipProblem(problem)
        if new_user is not None:
            user = _create_user(invitation.email, new_user)
        elif user.email.lower() != invitation.email.lower():
            raise MembershipProblem(f"This invitation is for {invitation.email}, and you are signed in as "
                                    f"{user.email or user.username}. Sign out, then open the link again.")
        membership, joined = Membership.objects.get_or_create(organization=invitation.organization, user=user,
                                                              defaults={"role": invitation.role})
        invitation.accepted_at, invitation.accepted_by = timezone.now(), user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        audit(user, "invite_accept", organization=invitation.organization,
              after={"email": invitation.email, "role": membership.role, "new_account": new_user is not None,
                     "already_member": not joined})
    return user, invitation, membership, joined


def _create_user(email, data):
    users = get_user_model()._default_manager
    if users.filter(email__iexact=email).exists():
        raise MembershipProblem(f"There is already an account for {email}: sign in to join.")
    username = email.lower()[:150]
    if users.filter(username=username).exists():
        raise MembershipProblem(f"The username {username} is taken: ask the person who invited you for help.")
    user = users.create_user(username, email=email, first_name=data.get("first_name", ""),
                             last_name=data.get("last_name", ""))
    user.set_password(data["password"])
    user.save(update_fields=["password"])
    return user


def _owners(organization):
    return Membership.objects.select_for_update().filter(organization=organization, role=Role.OWNER)


def change_role(membership, role, by):
    if role not in Role.values:
        raise MembershipProblem("Choose a role: owner, admin, operator or viewer.")
    with transaction.atomic():
        owners = list(_owners(membership.organization).values_list("pk", flat=True))  # locked: two demotions race
        membership.refresh_from_db()
        if membership.role == role:
            return False
        if membership.role == Role.OWNER and owners == [membership.pk]:
            raise MembershipProblem("This is the last owner: make someone else an owner first.")
        before = membership.role
        membership.role = role
        membership.save(update_fields=["role"])
        audit(by, "member_role", organization=membership.organization,
              before={"user": membership.user.username, "role": before},
              after={"user": membership.user.username, "role": role})
    return True


def remove_member(membership, by):
    with transaction.atomic():
        owners = list(_owners(membership.organization).values_list("pk", flat=True))
        if membership.role == Role.OWNER and owners == [membership.pk]:
            raise MembershipProblem("This is the last owner: make someone else an owner first.")
        audit(by, "member_remove", organization=membership.organization,
              before={"user": membership.user.username, "email": membership.user.email, "role": membership.role})
        membership.delete()
