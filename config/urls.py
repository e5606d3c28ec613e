"""Custodian URL configuration: everything a person uses lives in the admin."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from dashboard.views import dashboard_index

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    # The admin's index with the dashboard above the app list; first, so it answers /admin/ itself.
    path("admin/", admin.site.admin_view(dashboard_index), name="dashboard"),
    path("admin/", admin.site.urls),
    path("django-rq/", include("django_rq.urls")),
]
