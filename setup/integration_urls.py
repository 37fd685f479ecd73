"""The integration wizard, the shadow run, go-live and pause (issue #14, parts 3 and 4)."""

from django.urls import path

from setup.integrations import views

urlpatterns = [
    path("<slug:org>/integrations/", views.integration_list, name="integrations"),
    path("<slug:org>/integrations/new/", views.new_integration, name="integration_new"),
    path("<slug:org>/integrations/<int:pk>/flows/", views.integration_flows, name="integration_flows"),
    path("<slug:org>/integrations/<int:pk>/review/", views.integration_review, name="integration_review"),
    path("<slug:org>/integrations/<int:pk>/review/sample/", views.review_sample, name="integration_sample"),
    path("<slug:org>/integrations/<int:pk>/review/sample.json", views.review_sample_status,
         name="integration_sample_status"),
    path("<slug:org>/integrations/<int:pk>/shadow/", views.shadow_page, name="integration_shadow"),
    path("<slug:org>/integrations/<int:pk>/shadow.json", views.shadow_report, name="integration_shadow_report"),
    path("<slug:org>/integrations/<int:pk>/go-live/", views.go_live, name="integration_go_live"),
    path("<slug:org>/integrations/<int:pk>/go-live/count.json", views.go_live_count, name="integration_go_live_count"),
    path("<slug:org>/integrations/<int:pk>/pause/", views.pause, name="integration_pause"),
    path("<slug:org>/integrations/<int:pk>/resume/", views.resume, name="integration_resume"),
]
