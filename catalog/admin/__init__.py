"""Catalog admin pages, one module per domain; importing this package registers them all."""

from django.contrib import admin

from catalog.admin import accounts, audit, compliance, entities, schema, stores  # noqa: F401
from catalog.signin_throttle import ThrottledAdminAuthenticationForm

admin.site.site_header = "Custodian"
admin.site.site_title = "Custodian"
admin.site.index_title = "Data governance workbench"
# Says in words when signing in is locked out after repeated failures.
admin.site.login_form = ThrottledAdminAuthenticationForm
# Catalog lists are wide (governance columns); the page's width is worth more than a second menu.
admin.site.enable_nav_sidebar = False
