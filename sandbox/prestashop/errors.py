"""The one exception every layer raises for an answer in PrestaShop's error envelope."""


class ApiError(Exception):
    def __init__(self, status, code, message, empty_body=False, authenticate=False):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.empty_body = empty_body  # a missing single record: 404 with no body at all
        self.authenticate = authenticate  # send WWW-Authenticate (authentication failures)


def did_you_mean(wrong, choices):
    """PrestaShop's hint after an unknown name: the closest candidate, if any is close."""
    import difflib

    close = difflib.get_close_matches(wrong, list(choices), n=1)
    return f' Did you mean: "{close[0]}"?' if close else ""
