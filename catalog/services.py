"""Catalog services: every write to the catalog goes through here, whoever asks (admin, import, commands)."""

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from catalog.choices import SortOrder
from catalog.models import Column, Index, IndexColumn, VersionedModel

__all__ = [
    "catalog_object_save",
    "column_delete",
    "index_columns_parse",
    "index_columns_set",
    "index_columns_spec",
]


@transaction.atomic
def catalog_object_save(*, obj: VersionedModel, user: AbstractBaseUser | None) -> VersionedModel:
    """Validate and save any catalog object, with `user` recorded as the author of its history row."""
    obj.full_clean()
    obj._history_user = user
    obj.save()
    return obj


@transaction.atomic
def column_delete(*, column: Column, user: AbstractBaseUser | None) -> None:
    """Delete a column nothing else depends on; ValidationError naming the dependents otherwise."""
    blockers = column.dependents_blocking_delete()
    if blockers:
        raise ValidationError(blockers)
    column._history_user = user
    column.delete()


def index_columns_parse(spec: str) -> list[tuple[str, str]]:
    """Parse "last_name, first_name DESC" into [(name, order)]; ValidationError on anything else."""
    parsed = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        words = part.split()
        order = SortOrder.ASC
        if len(words) == 2 and words[1].lower() in (SortOrder.ASC, SortOrder.DESC):
            order = SortOrder(words[1].lower())
        elif len(words) != 1:
            raise ValidationError(
                _("'%(part)s' is not a column name, optionally followed by ASC or DESC.") % {"part": part}
            )
        parsed.append((words[0], order))
    names = [name for name, _order in parsed]
    if len(set(names)) != len(names):
        raise ValidationError(_("A column appears twice in '%(spec)s'.") % {"spec": spec})
    return parsed


def index_columns_spec(index: Index, *, included: bool = False) -> str:
    """The inverse of index_columns_parse for an index's key (or included) columns."""
    usages = [u for u in index.index_columns.all() if u.included == included]
    return ", ".join(
        u.column.name + (" DESC" if u.order == SortOrder.DESC else "")
        for u in sorted(usages, key=lambda u: u.position)
    )


@transaction.atomic
def index_columns_set(
    *, index: Index, key_columns: list[tuple[str, str]], included_columns: list[str], user
) -> Index:
    """Replace the index's ordered key and included columns by name; ValidationError for unknown names."""
    if not key_columns:
        raise ValidationError(_("An index needs at least one key column."))
    columns = {c.name: c for c in index.entity.columns.all()}
    wanted = [(name, order, False) for name, order in key_columns] + [
        (name, SortOrder.ASC, True) for name in included_columns
    ]
    missing = [name for name, _o, _i in wanted if name not in columns]
    if missing:
        raise ValidationError(
            _("%(entity)s has no column named %(names)s.")
            % {"entity": index.entity, "names": ", ".join(repr(n) for n in missing)}
        )
    current = {
        (u.column.name, u.order, u.included, u.position) for u in index.index_columns.select_related("column")
    }
    desired = {(name, order, included, pos) for pos, (name, order, included) in enumerate(wanted, 1)}
    if current == desired:
        return index
    for usage in index.index_columns.all():
        usage._history_user = user
        usage.delete()
    for position, (name, order, included) in enumerate(wanted, 1):
        usage = IndexColumn(
            index=index, column=columns[name], position=position, order=order, included=included
        )
        catalog_object_save(obj=usage, user=user)
    return index
