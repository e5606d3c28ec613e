"""The owner picker: an autocomplete of staff users for whoever may change the object, without the user
admin (Django's own autocomplete asks for permission to view users, which stewards do not have); and the
owner shown read-only as its name in words, not as a link to a user page the viewer may not open."""

from django.contrib import admin
from django.contrib.admin.widgets import AutocompleteSelect
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponseNotAllowed, JsonResponse
from django.urls import path, reverse

from catalog.owners import owner_candidates, owner_label

__all__ = ["OwnerPickerMixin", "OwnerAutocompleteSelect"]

OWNER_FIELD = "owner"
OWNER_TEXT = "owner_text"
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
        return OWNER_FIELD in (self.autocomplete_fields or ()) and self._has_owner_field()

    def _has_owner_field(self) -> bool:
        try:
            field = self.model._meta.get_field(OWNER_FIELD)
        except FieldDoesNotExist:
            return False
        return field.remote_field is not None and field.remote_field.model is get_user_model()

    def _may_view_users(self, request) -> bool:
        user_admin = self.admin_site._registry.get(get_user_model())
        return user_admin is not None and user_admin.has_view_permission(request)

    @admin.display(description="owner")
    def owner_text(self, obj) -> str:
        return owner_label(obj.owner) if obj is not None and obj.owner_id else self.get_empty_value_display()

    def _owner_in_words(self, request, adminform) -> None:
        # Django renders a read-only foreign key as a link to the related admin page whoever looks, and the
        # user page answers 403 to all but who may view users: they see the owner's name in words instead.
        if (
            adminform is None
            or not self._has_owner_field()
            or OWNER_FIELD not in adminform.readonly_fields
            or self._may_view_users(request)
        ):
            return
        adminform.readonly_fields = [
            OWNER_TEXT if name == OWNER_FIELD else name for name in adminform.readonly_fields
        ]
        adminform.fieldsets = [
            (name, {**options, "fields": _owner_as_text(options["fields"])})
            for name, options in adminform.fieldsets
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        self._owner_in_words(request, context.get("adminform"))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def render_history_view(self, request, template, context, **kwargs):
        """simple-history's pages: an old version's owner in words too, and on the list of changes the user
        who made each one without a link (the template leaves a name that does not resolve unlinked)."""
        self._owner_in_words(request, context.get("adminform"))
        if "admin_user_view" in context and not self._may_view_users(request):
            context["admin_user_view"] = ""
        return super().render_history_view(request, template, context, **kwargs)

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


def _owner_as_text(fields) -> list:
    """A fieldset's field names, with the owner (alone or on a line of several) swapped for its text."""
    return [
        tuple(OWNER_TEXT if name == OWNER_FIELD else name for name in line)
        if isinstance(line, (list, tuple))
        else (OWNER_TEXT if line == OWNER_FIELD else line)
        for line in fields
    ]
