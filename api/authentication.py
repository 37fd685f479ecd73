"""`Authorization: Api-Key <key>`: the caller is the key itself (a principal with the key's scope), not its creator,
so a key can never do more than its scope says, whoever made it."""

from rest_framework import authentication, exceptions

from api import keys

KEYWORD = "Api-Key"


class KeyPrincipal:
    """What request.user is for a key: authenticated, no Django permissions, named for the audit log."""

    is_authenticated = True
    is_active = True
    is_anonymous = False
    is_staff = False
    is_superuser = False
    pk = id = None

    def __init__(self, key):
        self.key = key
        owner = f" of {key.created_by.username}" if key.created_by_id else ""
        self.username = f"API key {key.prefix}{owner}"

    def __str__(self):
        return self.username


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != KEYWORD.lower().encode():
            return None  # not ours: session authentication may still know the caller
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send the key as `Authorization: Api-Key <key>`.")
        try:
            text = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("This API key is unknown or revoked.") from None
        key = keys.find(text)
        if key is None:
            raise exceptions.AuthenticationFailed("This API key is unknown or revoked.")
        keys.touch(key)
        return KeyPrincipal(key), key

    def authenticate_header(self, request):
        return KEYWORD  # a 401, not a 403, for a missing or bad key
