"""Sign in with a username or an email address (case-insensitive), through Django's own ModelBackend."""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend


class UsernameOrEmailBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        user = self._find(str(username).strip())
        if user is None:
            get_user_model()().set_password(password)  # as long as a real check: no hint which names exist
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None

    def _find(self, name):
        users = get_user_model()._default_manager
        exact = users.filter(username=name).first()
        if exact is not None or "@" not in name:
            return exact
        # An address two accounts share names neither: they sign in with their usernames.
        by_email = list(users.filter(email__iexact=name)[:2])
        return by_email[0] if len(by_email) == 1 else None
