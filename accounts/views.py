"""Customer accounts: profile, password change and reset (Django's views with the site's templates), invitations
and the members of an organization. Every change goes through accounts.services, which audits it."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.views.decorators.http import require_POST

from accounts import services
from accounts.forms import InviteForm, NewAccountForm, ProfileForm, RoleForm
from accounts.models import Invitation
from integrations.pipeline.actions import audit
from portal.access import customer_view, may
from portal.models import Membership, Role, UserProfile

BACKEND = "accounts.backends.UsernameOrEmailBackend"


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "accounts/password_reset_form.html"
    email_template_name = "accounts/email/password_reset.txt"
    subject_template_name = "accounts/email/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password_reset_done")


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")

    def form_valid(self, form):
        response = super().form_valid(form)
        audit(form.user, "password_reset")
        return response


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change_form.html"
    success_url = reverse_lazy("accounts:profile")

    def form_valid(self, form):
        response = super().form_valid(form)
        audit(self.request.user, "password_change")
        messages.success(self.request, "Your password was changed.")
        return response


@login_required
def profile(request):
    current = getattr(UserProfile.objects.filter(user=request.user).first(), "timezone", "")
    initial = {"first_name": request.user.first_name, "last_name": request.user.last_name, "timezone": current}
    form = ProfileForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        form.save(request.user)
        after = {key: form.cleaned_data[key] for key in initial}
        if after != initial:
            audit(request.user, "profile_change", before=initial, after=after)
        messages.success(request, "Saved. Times are now shown in "
                                  f"{form.cleaned_data['timezone'] or 'the portal default time zone'}.")
        return redirect("accounts:profile")
    return render(request, "accounts/profile.html", {"form": form})


def _invite_url(request):
    """The link in the email: at PORTAL_BASE_URL when set (behind a proxy the request's host may be an inner one)."""
    def build(token):
        path = reverse("accounts:invitation", args=[token])
        return settings.PORTAL_BASE_URL + path if settings.PORTAL_BASE_URL else request.build_absolute_uri(path)
    return build


# ---- accepting an invitation ------------------------------------------------------------------------------------

def invitation(request, token):
    """The link from the email: a new person sets a name and password; someone with an account signs in and joins."""
    found = services.find_invitation(token)
    problem = services.why_not_usable(found)
    if problem:
        return render(request, "accounts/invitation.html", {"problem": problem}, status=404 if found is None else 410)
    existing = get_user_model()._default_manager.filter(email__iexact=found.email).exists()
    context = {"invitation": found, "existing": existing, "inviter": services.inviter_name(found, "An owner")}
    if request.user.is_authenticated:
        if request.user.email.lower() != found.email.lower():
            context["problem"] = (f"This invitation is for {found.email}, and you are signed in as "
                                  f"{request.user.email or request.user.username}. Sign out, then open the link "
                                  "again.")
            return render(request, "accounts/invitation.html", context, status=403)
        if request.method == "POST":
            return _accepted(request, token, user=request.user)
        return render(request, "accounts/invitation.html", context)
    if existing:  # they sign in first and come back here
        context["login_url"] = reverse("accounts:login") + "?next=" + request.path
        if request.method == "POST":
            return HttpResponseNotAllowed(["GET"])
        return render(request, "accounts/invitation.html", context)
    form = NewAccountForm(request.POST or None, email=found.email)
    if request.method == "POST" and form.is_valid():
        return _accepted(request, token, new_user={"first_name": form.cleaned_data["first_name"],
                                                   "last_name": form.cleaned_data["last_name"],
                                                   "password": form.cleaned_data["password1"]})
    context["form"] = form
    return render(request, "accounts/invitation.html", context)


def _accepted(request, token, user=None, new_user=None):
    try:
        user, found, membership, joined = services.accept(token, user, new_user=new_user)
    except services.MembershipProblem as problem:
        return render(request, "accounts/invitation.html", {"problem": str(problem)}, status=409)
    if new_user is not None:
        login(request, user, backend=BACKEND)
    if joined:
        messages.success(request, f"Welcome to {found.organization.name}: you are {membership.get_role_display()}.")
    else:
        messages.info(request, f"You already were a member of {found.organization.name} "
                               f"({membership.get_role_display()}); your role is unchanged.")
    return redirect("console:organization", org=found.organization.slug)


# ---- members of an organization ---------------------------------------------------------------------------------

def _grantable(role):
    return [value for value in Role.values if services.may_grant(role, value)]


@customer_view("view")
def members(request):
    org = request.organization
    manages = may(request.user, org, "admin")
    form = InviteForm(grantable=_grantable(request.role))
    if request.method == "POST":
        if not manages:
            raise PermissionDenied("Only owners and admins invite people.")
        form = InviteForm(request.POST, grantable=_grantable(request.role))
        if form.is_valid():
            try:
                services.invite(org, form.cleaned_data["email"], form.cleaned_data["role"], request.user,
                                request.role, _invite_url(request))
            except services.MembershipProblem as problem:
                form.add_error("email", str(problem))
            else:
                messages.success(request, f"Invitation sent to {form.cleaned_data['email']}; the link works for "
                                          "7 days.")
                return redirect("accounts:members", org=org.slug)
    rows = Membership.objects.filter(organization=org).select_related("user").order_by("user__username")
    owners = sum(1 for m in rows if m.role == Role.OWNER)
    return render(request, "accounts/members.html", {
        "members": rows, "owners": owners, "form": form, "manages": manages,
        "owns": may(request.user, org, "own"), "roles": Role.choices,
        "invitations": Invitation.objects.pending().filter(organization=org).select_related("invited_by")
        if manages else [],
    })


def _invitation_of(request, pk):
    return get_object_or_404(Invitation, pk=pk, organization=request.organization)


@require_POST
@customer_view("admin")
def resend_invitation(request, pk):
    found = _invitation_of(request, pk)
    try:
        services.resend(found, request.user, _invite_url(request))
    except services.MembershipProblem as problem:
        messages.error(request, str(problem))
    else:
        messages.success(request, f"A new link was sent to {found.email}; the old one no longer works.")
    return redirect("accounts:members", org=request.organization.slug)


@require_POST
@customer_view("admin")
def cancel_invitation(request, pk):
    found = _invitation_of(request, pk)
    try:
        services.cancel(found, request.user)
    except services.MembershipProblem as problem:
        messages.error(request, str(problem))
    else:
        messages.success(request, f"The invitation of {found.email} is cancelled: its link no longer works.")
    return redirect("accounts:members", org=request.organization.slug)


def _membership_of(request, pk):
    return get_object_or_404(Membership.objects.select_related("user"), pk=pk, organization=request.organization)


@require_POST
@customer_view("own")
def change_role(request, pk):
    membership = _membership_of(request, pk)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a role: owner, admin, operator or viewer.")
    else:
        try:
            changed = services.change_role(membership, form.cleaned_data["role"], request.user)
        except services.MembershipProblem as problem:
            messages.error(request, str(problem))
        else:
            if changed:
                messages.success(request, f"{membership.user.username} is now {membership.get_role_display()}.")
    return redirect("accounts:members", org=request.organization.slug)


@require_POST
@customer_view("own")
def remove_member(request, pk):
    membership = _membership_of(request, pk)
    try:
        services.remove_member(membership, request.user)
    except services.MembershipProblem as problem:
        messages.error(request, str(problem))
    else:
        messages.success(request, f"{membership.user.username} was removed from {request.organization.name}.")
    return redirect("accounts:members", org=request.organization.slug)
