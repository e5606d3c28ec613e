"""The owner picker: an autocomplete of staff users for whoever may change the object, without the user
admin (Django's own autocomplete asks for permission to view users, which stewards do not have)."""

from django.contrib.admin.widgets import AutocompleteSelect
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponseNotAllowed, JsonResponse
from django.urls import path, reverse

from catalog.owners import owner_candidates, owner_label

__all__ = ["OwnerPickerMixin", "OwnerAutocompleteSelect"]

OWNER_FIELD = "owner"
PAGE_SIZE = 20


class OwnerAutocompleteSelect(AutocompleteSelect):
    """Django's autocomplete widget, asking the owner picker of the object's own admin for results."""

    def __init__(self, field, admin_site, *, url_name: str, **kwargs):
        super().__init__(field, admin_site, **kwargs)
        self.url_name = url_name

    def get_url(self):
        return reverse(f"{self.admin_site.name}:{self.url_name}")


class OwnerPickerMixin:
    """For a model admin whose `autocomplete_fields` list `owner` (a user): adds `owner-autocomplete/`
    (GET, JSON in the shape Django's autocomplete expects) for users who may change or add the object and
    may edit its owner, and points the owner field's widget at it. Only active staff users are offered and
    accepted."""

    def _has_owner_picker(self) -> bool:
        if OWNER_FIELD not in (self.autocomplete_fields or ()):
            return False
        field = self.model._meta.get_field(OWNER_FIELD)
        return field.remote_field is not None and field.remote_field.model is get_user_model()

    def _owner_url_name(self) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_owner_autocomplete"

    def get_urls(self):
        urls = super().get_urls()
        if not self._has_owner_picker():
            return urls
        view = self.admin_site.admin_view(self.owner_autocomplete_view)
        # Before the model's own URLs: their "<path:object_id>/" catch-all would take this one.
        return [path("owner-autocomplete/", view, name=self._owner_url_name()), *urls]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == OWNER_FIELD and self._has_owner_picker():
            kwargs.setdefault("queryset", owner_candidates())
            kwargs.setdefault(
                "widget", OwnerAutocompleteSelect(db_field, self.admin_site, url_name=self._owner_url_name())
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def may_pick_owner(self, request) -> bool:
        """Whoever may add or change objects of this admin with the owner editable."""
        if not (self.has_add_permission(request) or self.has_change_permission(request)):
            return False
        return OWNER_FIELD not in self.get_readonly_fields(request)

    def owner_autocomplete_view(self, request):
        if request.method != "GET":
            return HttpResponseNotAllowed(["GET"])
        if not self.may_pick_owner(request):
            raise PermissionDenied
        page = Paginator(owner_candidates(term=request.GET.get("term", "")), PAGE_SIZE).get_page(
            request.GET.get("page")
        )
        return JsonResponse(
            {
                "results": [{"id": str(user.pk), "text": owner_label(user)} for user in page.object_list],
                "pagination": {"more": page.has_next()},
            }
        )
