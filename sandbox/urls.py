from django.urls import include, path

urlpatterns = [
    path("<slug:slug>/prestashop/", include("sandbox.prestashop.urls")),
    path("<slug:slug>/channeladvisor/", include("sandbox.channeladvisor.urls")),
    path("<slug:slug>/tims/", include("sandbox.tims.urls")),
]
