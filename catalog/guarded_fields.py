"""Fields of catalog objects that only a compliance permission may change once the object exists.

The admin shows them disabled to everyone else (catalog/admin/base.py); any other writer (an import, the
API) asks `guarded_changes_refused` before saving, so no path lets a steward release a legal hold or
unclassify personal data."""

from django.utils.translation import gettext as _

__all__ = ["GUARDED_FIELDS", "guarded_fields", "guarded_changes_refused"]

ENTITY_COMPLIANCE = "catalog.change_entity_compliance"
COLUMN_PII = "catalog.change_column_pii"

# "app_label.model_name" -> {field: permission needed to change it}
GUARDED_FIELDS: dict[str, dict[str, str]] = {
    "catalog.entity": {"sensitivity": ENTITY_COMPLIANCE, "legal_hold": ENTITY_COMPLIANCE},
    "catalog.column": {"pii_category": COLUMN_PII, "masking_strategy": COLUMN_PII},
}


def guarded_fields(model) -> dict[str, str]:
    """{field: permission} of `model` (a class or instance); empty for a model with none."""
    return dict(GUARDED_FIELDS.get(model._meta.label_lower, {}))


def guarded_changes_refused(*, obj, user) -> dict[str, str]:
    """{field: message} for each guarded field of an existing `obj` whose value differs from the stored one
    while `user` lacks its permission; empty when the save may go ahead. New objects may be classified by
    whoever creates them."""
    guarded = guarded_fields(obj)
    if not guarded or obj._state.adding or obj.pk is None:
        return {}
    stored = type(obj)._base_manager.filter(pk=obj.pk).values(*guarded).first() or {}
    refused = {}
    for field, permission in guarded.items():
        if field in stored and stored[field] != getattr(obj, field) and not user.has_perm(permission):
            label = obj._meta.get_field(field).verbose_name
            refused[field] = _(
                "Only a compliance officer may change the %(field)s of %(model)s '%(name)s'."
            ) % {
                "field": label,
                "model": obj._meta.verbose_name,
                "name": obj,
            }
    return refused
