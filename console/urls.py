"""The customer's console: their organizations, records, failures, value maps and audit log."""

from django.urls import path

from console import views

app_name = "console"
urlpatterns = [
    path("", views.home, name="home"),
    path("<slug:org>/", views.organization, name="organization"),
    path("<slug:org>/records/", views.records, name="records"),
    path("<slug:org>/records/<int:pk>/", views.record, name="record"),
    path("<slug:org>/records/<int:pk>/status/", views.record_status, name="record_status"),
    path("<slug:org>/records/<int:pk>/retry/", views.record_retry, name="record_retry"),
    path("<slug:org>/records/<int:pk>/discard/", views.record_discard, name="record_discard"),
    path("<slug:org>/failures/", views.failures, name="failures"),
    path("<slug:org>/jobs/<int:pk>/", views.job, name="job"),
    path("<slug:org>/jobs/<int:pk>/cancel/", views.job_cancel, name="job_cancel"),
    path("<slug:org>/maps/", views.value_maps, name="value_maps"),
    path("<slug:org>/maps/<int:pk>/", views.value_map, name="value_map"),
    path("<slug:org>/maps/<int:pk>/versions/<int:number>/rollback/", views.value_map_rollback,
         name="value_map_rollback"),
    path("<slug:org>/audit/", views.audit_log, name="audit"),
    path("<slug:org>/members/", views.members, name="members"),
]
