"""With DEBUG on (development, the demo), Django's technical error pages show source code, local variables,
settings and URL patterns. They go only to a developer on this machine; any other client gets the plain pages
production shows. Production runs with DEBUG off and never builds them."""

import ipaddress

from django.conf import settings
from django.http import Http404
from django.views import defaults
from django.views.debug import ExceptionReporter

# Both technical pages (HTML and text) say so; a response carrying it is a technical page.
TECHNICAL_MARK = b"DEBUG = True"
PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


def is_local(request):
    """A loopback client that came through no proxy (a local proxy would make every client look local)."""
    if any(request.META.get(header) for header in PROXY_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


class PlainReporter(ExceptionReporter):
    """Used instead of the technical 500 (and 400) page for a remote client: no traceback is even built."""

    def get_traceback_html(self):
        return "<h1>Server Error (500)</h1>" if self._is_server_error() else "<h1>Bad Request (400)</h1>"

    def get_traceback_text(self):
        return "Server Error (500)" if self._is_server_error() else "Bad Request (400)"

    def _is_server_error(self):
        from django.core.exceptions import BadRequest, SuspiciousOperation

        return not (self.exc_type and issubclass(self.exc_type, BadRequest | SuspiciousOperation))


class LocalTechnicalPagesMiddleware:
    """First in MIDDLEWARE, so it sees every response, including those made for errors of other middleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not settings.DEBUG or is_local(request):
            return self.get_response(request)
        request.exception_reporter_class = PlainReporter  # Django's hook for the technical 500 page
        response = self.get_response(request)
        # The technical 404 page (URL patterns, the view that raised) has no hook: swap it for the plain one.
        if response.status_code == 404 and TECHNICAL_MARK in getattr(response, "content", b""):
            return defaults.page_not_found(request, Http404())
        return response
