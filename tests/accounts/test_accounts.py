"""Customer accounts: sign-in by username or email, password reset and change, time zone, invitations from start
to end (expired, reused, cancelled, resent, for someone else), members and the last-owner rule, all audited."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.models import Invitation
from integrations.models import AuditEntry
from portal.models import Membership, Role, UserProfile

pytestmark = pytest.mark.django_db
STRONG = "Correct-Horse-Battery-42"


def members_url(org):
    return reverse("accounts:members", kwargs={"org": org.slug})


def link_in(message):
    return re.search(r"https?://[^\s]+", message.body).group(0)


def invite(client, org, email="new.person@example.com", role=Role.OPERATOR):
    response = client.post(members_url(org), {"email": email, "role": role})
    return response


# ---- signing in ---------------------------------------------------------------------------------------------------

def test_sign_in_by_username_or_by_email_in_any_case(cast, client):
    login = reverse("accounts:login")
    assert client.post(login, {"username": "owner_a", "password": "pw"}).status_code == 302
    client.logout()
    response = client.post(login, {"username": "  OWNER_A@Example.COM ", "password": "pw"})
    assert response.status_code == 302 and response.url == reverse("console:home")
    client.logout()
    refused = client.post(login, {"username": "owner_a@example.com", "password": "wrong"})
    assert refused.status_code == 200 and "correct username" in refused.content.decode()


def test_an_email_two_accounts_share_signs_in_neither(cast, client):
    get_user_model().objects.create_user("twin", "owner_a@EXAMPLE.com", "pw")
    assert client.post(reverse("accounts:login"), {"username": "owner_a@example.com",
                                                   "password": "pw"}).status_code == 200
    assert client.post(reverse("accounts:login"), {"username": "twin", "password": "pw"}).status_code == 302


def test_the_admin_login_takes_an_email_too(cast, client):
    response = client.post("/admin/login/", {"username": "OPS@example.com", "password": "pw", "next": "/admin/"})
    assert response.status_code == 302 and response.url == "/admin/"


# ---- passwords ----------------------------------------------------------------------------------------------------

def test_password_reset_sends_a_link_that_sets_a_new_password_once(cast, client):
    response = client.post(reverse("accounts:password_reset"), {"email": "Owner_A@example.com"})
    assert response.status_code == 302 and response.url == reverse("accounts:password_reset_done")
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["owner_a@example.com"]
    link = link_in(mail.outbox[0])
    assert "/accounts/password/reset/" in link
    form = client.get(link, follow=True)
    assert "new_password1" in form.content.decode()
    done = client.post(form.redirect_chain[-1][0], {"new_password1": STRONG, "new_password2": STRONG})
    assert done.status_code == 302 and done.url == reverse("accounts:password_reset_complete")
    assert client.login(username="owner_a", password=STRONG)
    assert AuditEntry.objects.filter(actor=cast.owner_a, action="password_reset").exists()
    client.logout()
    assert "does not work any more" in client.get(link, follow=True).content.decode()  # used: a dead link


def test_password_reset_for_an_unknown_address_says_the_same_and_sends_nothing(client, cast):
    response = client.post(reverse("accounts:password_reset"), {"email": "nobody@example.com"})
    assert response.status_code == 302 and mail.outbox == []


def test_password_change_checks_the_old_one_and_the_validators(cast, client, login):
    login(cast.owner_a)
    url = reverse("accounts:password_change")
    weak = client.post(url, {"old_password": "pw", "new_password1": "12345678", "new_password2": "12345678"})
    assert weak.status_code == 200 and "too common" in weak.content.decode()
    wrong = client.post(url, {"old_password": "nope", "new_password1": STRONG, "new_password2": STRONG})
    assert wrong.status_code == 200
    assert client.post(url, {"old_password": "pw", "new_password1": STRONG, "new_password2": STRONG}).status_code \
        == 302
    cast.owner_a.refresh_from_db()
    assert cast.owner_a.check_password(STRONG)
    assert AuditEntry.objects.filter(actor=cast.owner_a, action="password_change").exists()


# ---- profile and time zone ----------------------------------------------------------------------------------------

def test_a_user_picks_a_time_zone_and_pages_use_it(cast, client, login):
    login(cast.owner_a)
    url = reverse("accounts:profile")
    assert client.post(url, {"first_name": "Ann", "last_name": "Owner", "timezone": "Mars/Olympus"}).status_code \
        == 200  # not a zone: the form says so
    response = client.post(url, {"first_name": "Ann", "last_name": "Owner", "timezone": "America/Chicago"})
    assert response.status_code == 302
    assert UserProfile.objects.get(user=cast.owner_a).timezone == "America/Chicago"
    assert "Times are shown in America/Chicago" in client.get(url).content.decode()
    entry = AuditEntry.objects.get(actor=cast.owner_a, action="profile_change")
    assert entry.after["timezone"] == "America/Chicago" and entry.before["timezone"] == ""


def test_pages_of_accounts_need_sign_in(client):
    for name in ("accounts:profile", "accounts:password_change"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and response.url.startswith(reverse("accounts:login"))


# ---- invitations --------------------------------------------------------------------------------------------------

def test_an_invited_person_sets_name_and_password_and_lands_in_the_organization(cast, client, login):
    login(cast.owner_a)
    response = invite(client, cast.org_a)
    assert response.status_code == 302
    invitation = Invitation.objects.get(email="new.person@example.com")
    assert invitation.role == Role.OPERATOR and invitation.invited_by == cast.owner_a
    assert invitation.expires_at - invitation.sent_at == timedelta(days=7)
    assert AuditEntry.objects.filter(action="invite", organization=cast.org_a, actor=cast.owner_a).exists()
    (message,) = mail.outbox
    link = link_in(message)
    token = link.rstrip("/").rsplit("/", 1)[1]
    assert invitation.token_hash != token and token not in invitation.token_hash  # only a hash is kept
    client.logout()

    page = client.get(link)
    assert page.status_code == 200 and "Make my account" in page.content.decode()
    weak = client.post(link, {"first_name": "New", "last_name": "Person", "password1": "new.person",
                              "password2": "new.person"})
    assert weak.status_code == 200 and not get_user_model().objects.filter(email="new.person@example.com").exists()
    differ = client.post(link, {"first_name": "New", "password1": STRONG, "password2": STRONG + "x"})
    assert "differ" in differ.content.decode()
    joined = client.post(link, {"first_name": "New", "last_name": "Person", "password1": STRONG,
                                "password2": STRONG})
    assert joined.status_code == 302 and joined.url == reverse("console:organization", kwargs={"org": cast.org_a.slug})
    user = get_user_model().objects.get(email="new.person@example.com")
    assert (user.first_name, user.is_staff) == ("New", False)
    assert Membership.objects.get(user=user).role == Role.OPERATOR
    assert client.get(joined.url).status_code == 200  # signed in already
    invitation.refresh_from_db()
    assert invitation.accepted_by == user and invitation.accepted_at
    assert AuditEntry.objects.filter(action="invite_accept", actor=user, organization=cast.org_a).exists()

    client.logout()
    again = client.get(link)
    assert again.status_code == 410 and "already used" in again.content.decode()
    assert client.post(link, {"first_name": "X", "password1": STRONG, "password2": STRONG}).status_code == 410
    assert client.login(username="NEW.PERSON@example.com", password=STRONG)


def test_an_expired_invitation_says_so_and_makes_nothing(cast, client, login):
    login(cast.owner_a)
    invite(client, cast.org_a)
    link = link_in(mail.outbox[0])
    Invitation.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    client.logout()
    page = client.get(link)
    assert page.status_code == 410 and "expired" in page.content.decode()
    assert "owner_a" in page.content.decode()  # who to ask
    client.post(link, {"first_name": "Late", "password1": STRONG, "password2": STRONG})
    assert not get_user_model().objects.filter(email="new.person@example.com").exists()


def test_a_made_up_token_is_not_found_in_plain_words(client, db):
    page = client.get(reverse("accounts:invitation", args=["not-a-real-token"]))
    assert page.status_code == 404 and "not valid" in page.content.decode()


def test_an_invitation_for_someone_else_is_refused_to_the_signed_in_user(cast, client, login):
    login(cast.owner_a)
    invite(client, cast.org_a, email="someone.else@example.com")
    link = link_in(mail.outbox[0])
    login(cast.outsider_b)
    page = client.get(link)
    assert page.status_code == 403 and "is for someone.else@example.com" in page.content.decode()
    assert client.post(link).status_code == 403
    assert not Membership.objects.filter(user=cast.outsider_b, organization=cast.org_a).exists()
    assert Invitation.objects.get().accepted_at is None


def test_someone_with_an_account_signs_in_and_joins(cast, client, login):
    login(cast.owner_a)
    invite(client, cast.org_a, email="OUTSIDER_B@example.com", role=Role.VIEWER)
    link = link_in(mail.outbox[0])
    client.logout()
    page = client.get(link)
    assert "Sign in to join" in page.content.decode()
    signed_in = client.post(page.context["login_url"], {"username": "outsider_b@example.com", "password": "pw",
                                                        "next": page.context["login_url"].split("next=")[1]})
    assert signed_in.url == link.replace("http://testserver", "")
    assert client.post(link).status_code == 302
    assert Membership.objects.get(user=cast.outsider_b, organization=cast.org_a).role == Role.VIEWER
    assert Membership.objects.get(user=cast.outsider_b, organization=cast.org_b).role == Role.OWNER


def test_resend_makes_a_new_link_and_cancel_kills_it(cast, client, login):
    login(cast.owner_a)
    invite(client, cast.org_a)
    first = link_in(mail.outbox[0])
    invitation = Invitation.objects.get()
    client.post(reverse("accounts:invitation_resend", kwargs={"org": cast.org_a.slug, "pk": invitation.pk}))
    second = link_in(mail.outbox[1])
    assert first != second
    assert client.get(first).status_code == 404
    client.post(reverse("accounts:invitation_cancel", kwargs={"org": cast.org_a.slug, "pk": invitation.pk}))
    page = client.get(second)
    assert page.status_code == 410 and "cancelled" in page.content.decode()
    assert {e.action for e in AuditEntry.objects.filter(organization=cast.org_a)} == {
        "invite", "invite_resend", "invite_cancel"}


def test_one_pending_invitation_per_address_and_none_for_members(cast, client, login):
    login(cast.owner_a)
    invite(client, cast.org_a)
    again = invite(client, cast.org_a, email="NEW.person@example.com")
    assert again.status_code == 200 and "already invited" in again.content.decode()
    member = invite(client, cast.org_a, email="member_a@example.com")
    assert "already a member" in member.content.decode()
    bad = invite(client, cast.org_a, email="not an address")
    assert bad.status_code == 200 and Invitation.objects.count() == 1


def test_an_admin_invites_up_to_admin_never_an_owner(cast, client, people):
    client.force_login(people.admin)
    refused = invite(client, cast.org_a, role=Role.OWNER)
    assert refused.status_code == 200 and not Invitation.objects.exists()
    assert Role.OWNER not in dict(refused.context["form"].fields["role"].choices)
    assert invite(client, cast.org_a, role=Role.ADMIN).status_code == 302


@pytest.mark.parametrize("who, page, post", [
    ("viewer", 200, 403), ("operator", 200, 403), ("admin", 200, 302), ("owner", 200, 302),
    ("outsider", 404, 404), ("staff", 200, 403), ("integration_admin", 200, 302), ("anonymous", 302, 302)])
def test_members_page_and_invitations_by_role(cast, client, people, who, page, post):
    """Operations staff act as operators on customers' pages, integration admins as owners."""
    if who == "integration_admin":
        client.force_login(cast.integration_admin)
    elif who != "anonymous":
        client.force_login(getattr(people, who))
    assert client.get(members_url(cast.org_a)).status_code == page
    assert invite(client, cast.org_a).status_code == post
    invitation = Invitation.objects.first()
    if invitation is None:
        invitation = Invitation(organization=cast.org_a, email="x@example.com", invited_by=cast.owner_a)
        invitation.new_token()
        invitation.save()
    for name in ("accounts:invitation_resend", "accounts:invitation_cancel"):
        url = reverse(name, kwargs={"org": cast.org_a.slug, "pk": invitation.pk})
        assert client.post(url).status_code == post
        assert client.get(url).status_code == 405


def test_the_members_page_lists_only_the_organizations_members(cast, client, people):
    client.force_login(people.viewer)
    page = client.get(members_url(cast.org_a)).content.decode()
    assert "owner_a@example.com" in page and "operator_a@example.com" in page
    assert "outsider_b@example.com" not in page
    assert 'id="invite-form"' not in page and "Remove" not in page  # viewers see, never change


def test_another_tenants_invitation_or_member_is_not_found(cast, client, people):
    other = Membership.objects.get(user=cast.outsider_b)
    client.force_login(people.owner)
    for name in ("accounts:member_role", "accounts:member_remove"):
        assert client.post(reverse(name, kwargs={"org": cast.org_a.slug, "pk": other.pk}),
                           {"role": "viewer"}).status_code == 404
    assert Membership.objects.get(user=cast.outsider_b).role == Role.OWNER


# ---- roles and the last owner -------------------------------------------------------------------------------------

def role_url(name, membership):
    return reverse(name, kwargs={"org": membership.organization.slug, "pk": membership.pk})


def test_the_last_owner_can_be_neither_demoted_nor_removed(cast, client, people):
    mine = Membership.objects.get(user=cast.owner_a, organization=cast.org_a)
    client.force_login(cast.owner_a)
    response = client.post(role_url("accounts:member_role", mine), {"role": "admin"}, follow=True)
    assert "last owner" in response.content.decode()
    client.post(role_url("accounts:member_remove", mine))
    mine.refresh_from_db()
    assert mine.role == Role.OWNER

    admin = Membership.objects.get(user=people.admin)
    client.post(role_url("accounts:member_role", admin), {"role": "owner"})
    client.post(role_url("accounts:member_role", mine), {"role": "viewer"})
    mine.refresh_from_db()
    assert mine.role == Role.VIEWER  # another owner exists now
    entries = AuditEntry.objects.filter(action="member_role", organization=cast.org_a).order_by("id")
    assert [(e.before["role"], e.after["role"]) for e in entries] == [("admin", "owner"), ("owner", "viewer")]


def test_owners_change_roles_and_remove_members_admins_do_not(cast, client, people):
    operator = Membership.objects.get(user=people.operator)
    client.force_login(people.admin)
    assert client.post(role_url("accounts:member_role", operator), {"role": "admin"}).status_code == 403
    assert client.post(role_url("accounts:member_remove", operator)).status_code == 403
    client.force_login(people.owner)
    assert client.post(role_url("accounts:member_role", operator), {"role": "bogus"}).status_code == 302
    operator.refresh_from_db()
    assert operator.role == Role.OPERATOR
    client.post(role_url("accounts:member_remove", operator))
    assert not Membership.objects.filter(pk=operator.pk).exists()
    entry = AuditEntry.objects.get(action="member_remove")
    assert entry.before == {"user": "operator_a", "email": "operator_a@example.com", "role": "operator"}
    client.force_login(people.operator)
    assert client.get(members_url(cast.org_a)).status_code == 404  # no longer sees the organization

def test_an_invitation_whose_inviter_left_still_opens(cast, client, people):
    client.force_login(cast.owner_a)
    invite(client, cast.org_a, email="late@example.com")
    link = link_in(mail.outbox[0])
    Invitation.objects.update(invited_by=None)
    client.logout()
    page = client.get(link)
    assert page.status_code == 200 and "An owner invites" in " ".join(page.content.decode().split())


def test_the_invitation_link_starts_with_the_portals_address_when_set(cast, client, settings):
    settings.PORTAL_BASE_URL = "https://portal.example.com"
    client.force_login(cast.owner_a)
    invite(client, cast.org_a)
    assert link_in(mail.outbox[0]).startswith("https://portal.example.com/accounts/invite/")
