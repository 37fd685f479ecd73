from django.urls import path

from sandbox import core
from sandbox.prestashop import views

SYSTEM = "prestashop"


def _wrap(pattern):
    return core.endpoint(SYSTEM, pattern, fault_response=views.fault_response)(views.api)


urlpatterns = [
    path("api/", _wrap("api/")),
    path("api/<str:resource>", _wrap("api/<resource>")),
    path("api/<str:resource>/", _wrap("api/<resource>")),
    path("api/<str:resource>/<str:object_id>", _wrap("api/<resource>/<id>")),
    path("api/<str:resource>/<str:object_id>/", _wrap("api/<resource>/<id>")),
]
