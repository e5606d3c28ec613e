"""Custodian URL configuration: everything a person uses lives in the admin."""

import django_rq.urls
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from config.superuser_urls import superuser_only_patterns
from dashboard.views import dashboard_index

# rq-scheduler's page needs a package Custodian does not use (RQ's own scheduler runs the tick): it answered
# 500, so it is not served.
RQ_PATTERNS = [p for p in django_rq.urls.urlpatterns if getattr(p, "name", "") != "scheduler_jobs"]

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    # The admin's index with the dashboard above the app list; first, so it answers /admin/ itself.
    path("admin/", admin.site.admin_view(dashboard_index), name="dashboard"),
    path("admin/", admin.site.urls),
    # The job queues can empty, delete, requeue and stop any job: superusers only, on every view.
    path("django-rq/", include((superuser_only_patterns(RQ_PATTERNS), "django_rq"))),
]
