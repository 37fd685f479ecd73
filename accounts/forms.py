import zoneinfo

from django import forms
from django.contrib.auth import get_user_model, password_validation

from portal.models import Role, UserProfile

ROLE_HELP = ("Viewer: sees everything, changes nothing. Operator: also retries and discards records. Admin: also "
             "value maps, connections and members. Owner: everything, including owners.")


class InviteForm(forms.Form):
    email = forms.EmailField(max_length=254)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER, help_text=ROLE_HELP)

    def __init__(self, *args, grantable=None, **kwargs):
        super().__init__(*args, **kwargs)
        if grantable is not None:
            self.fields["role"].choices = [(value, label) for value, label in Role.choices if value in grantable]


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class NewAccountForm(forms.Form):
    """A new person's name and password, checked by the project's password validators."""

    first_name = forms.CharField(max_length=150)
    last_name = forms.CharField(max_length=150, required=False)
    password1 = forms.CharField(label="Password", strip=False, widget=forms.PasswordInput(
        attrs={"autocomplete": "new-password"}), help_text=password_validation.password_validators_help_text_html())
    password2 = forms.CharField(label="Password again", strip=False, widget=forms.PasswordInput(
        attrs={"autocomplete": "new-password"}))

    def __init__(self, *args, email="", **kwargs):
        super().__init__(*args, **kwargs)
        self.email = email

    def clean(self):
        cleaned = super().clean()
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords differ.")
        elif first:
            probe = get_user_model()(username=self.email.lower(), email=self.email,
                                     first_name=cleaned.get("first_name", ""), last_name=cleaned.get("last_name", ""))
            try:
                password_validation.validate_password(first, probe)
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return cleaned


def timezone_choices():
    return [("", "The portal's default")] + [(name, name) for name in sorted(zoneinfo.available_timezones())
                                              if "/" in name and not name.startswith(("Etc/", "SystemV/"))]


class ProfileForm(forms.Form):
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    timezone = forms.ChoiceField(choices=timezone_choices, required=False, label="Time zone",
                                 help_text="Times on every page are shown in this zone.")

    def save(self, user):
        user.first_name, user.last_name = self.cleaned_data["first_name"], self.cleaned_data["last_name"]
        user.save(update_fields=["first_name", "last_name"])
        UserProfile.objects.update_or_create(user=user, defaults={"timezone": self.cleaned_data["timezone"]})
