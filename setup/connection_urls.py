"""The connection wizard's pages (setup/connections/views.py), under /setup/."""

from django.urls import path

from setup.connections import views

urlpatterns = [
    path("<slug:org>/connections/", views.connections, name="connections"),
    path("<slug:org>/connections/new/<str:kind>/", views.new, name="connection_new"),
    path("<slug:org>/connections/<int:pk>/change/", views.change, name="connection_change"),
    path("<slug:org>/connections/<int:pk>/check/", views.check_again, name="connection_check"),
    path("<slug:org>/connections/setup/<str:key>/<str:name>/", views.step, name="connection_step"),
    # One fixed address for every organization: it is what gets registered with ChannelAdvisor.
    path("channeladvisor/callback/", views.channeladvisor_callback, name="channeladvisor_callback"),
]
