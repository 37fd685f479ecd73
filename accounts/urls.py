"""Sign-in, sign-out, password reset and change, profile, invitations, and an organization's members."""

from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import views

app_name = "accounts"
urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="accounts/login.html",
                                                redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("profile/", views.profile, name="profile"),
    path("password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("password/reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("password/reset/sent/", auth_views.PasswordResetDoneView.as_view(
        template_name="accounts/password_reset_done.html"), name="password_reset_done"),
    path("password/reset/<uidb64>/<token>/", views.PasswordResetConfirmView.as_view(),
         name="password_reset_confirm"),
    path("password/reset/done/", auth_views.PasswordResetCompleteView.as_view(
        template_name="accounts/password_reset_complete.html"), name="password_reset_complete"),
    path("invite/<str:token>/", views.invitation, name="invitation"),
    # An organization's members (the console links here from /app/<org>/members/).
    path("<slug:org>/members/", views.members, name="members"),
    path("<slug:org>/members/invitations/<int:pk>/resend/", views.resend_invitation, name="invitation_resend"),
    path("<slug:org>/members/invitations/<int:pk>/cancel/", views.cancel_invitation, name="invitation_cancel"),
    path("<slug:org>/members/<int:pk>/role/", views.change_role, name="member_role"),
    path("<slug:org>/members/<int:pk>/remove/", views.remove_member, name="member_remove"),
]
