"""What the three clients share: the HTTP entry point, error wording, auth handling (refresh once, never loop)."""

from integrations.connectors import auth
from integrations.connectors.errors import AuthError
from integrations.connectors.http import HttpClient, parse_json


class BaseClient:
    system = ""

    def __init__(self, connection, *, lane="normal", use_governor=True, use_breaker=True):
        self.connection = connection
        self.http = HttpClient(connection, self.system, lane=lane, use_governor=use_governor,
                               use_breaker=use_breaker, describe_error=self.describe_error)

    @property
    def base_url(self):
        return self.connection.base_url.rstrip("/")

    def describe_error(self, response):
        """(one readable sentence, [field sentences]) from the remote's error body; override per system."""
        return "", []

    def auth_hint(self, error: AuthError) -> str:
        """What a person should do about an auth failure; override per system."""
        return "check the connection's credentials."

    def auth_failed(self, error: AuthError):
        from integrations.connectors import health

        message = f"{error} — {self.auth_hint(error)}"
        auth.mark_needs_attention(self.connection, message)
        health.record_auth_failure(self.connection, message)
        error.message = message
        return error

    def call(self, method, url, **kwargs):
        try:
            return self.http.request(method, url, **kwargs)
        except AuthError as exc:
            raise self.auth_failed(exc) from None

    def json(self, response):
        return parse_json(response, self.system)


class OAuthClient(BaseClient):
    """A client whose calls carry a Bearer token: on 401 it refreshes once and retries once."""

    def fetch_token(self):
        """Ask the remote for a new access token: (token, expires_in); raise AuthError when refused."""
        raise NotImplementedError

    def token(self, stale=None):
        try:
            return auth.access_token(self.connection, self.fetch_token, stale=stale)
        except AuthError as exc:
            # Marked here, outside the refresh transaction, so the mark is not rolled back with it.
            raise self.auth_failed(exc) from None

    def call(self, method, url, *, headers=None, **kwargs):
        token = self.token()
        try:
            return self.http.request(method, url, headers={**(headers or {}), "Authorization": f"Bearer {token}"},
                                     **kwargs)
        except AuthError as exc:
            if exc.status != 401:
                raise self.auth_failed(exc) from None
        token = self.token(stale=token)
        try:
            return self.http.request(method, url, headers={**(headers or {}), "Authorization": f"Bearer {token}"},
                                     **kwargs)
        except AuthError as exc:
            raise self.auth_failed(exc) from None
