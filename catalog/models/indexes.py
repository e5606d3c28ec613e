"""Indexes of entities, with their ordered key and included columns."""

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from catalog.choices import IndexMethod, SortOrder
from catalog.models.base import VersionedModel
from catalog.sql_conditions import validate_condition
from catalog.validators import (
    CONDITION_MAX_LENGTH,
    DESCRIPTION_MAX_LENGTH,
    text_limit,
    validate_identifier,
)

__all__ = ["Index", "IndexColumn"]


class Index(VersionedModel):
    """An index on an entity; unique, with a method, an optional partial condition and included columns."""

    entity = models.ForeignKey("catalog.Entity", on_delete=models.CASCADE, related_name="indexes")
    name = models.CharField(max_length=63, validators=[validate_identifier])
    is_unique = models.BooleanField(_("unique"), default=False)
    is_constraint = models.BooleanField(
        _("as a UNIQUE constraint"),
        default=False,
        help_text=_(
            "Create it as a named UNIQUE constraint of the table rather than a unique index, as the "
            "database had it. The two enforce the same rule; foreign keys and ON CONFLICT can name either."
        ),
    )
    method = models.CharField(max_length=10, choices=IndexMethod.choices, default=IndexMethod.BTREE)
    condition = models.TextField(
        blank=True,
        max_length=CONDITION_MAX_LENGTH,
        validators=[text_limit(CONDITION_MAX_LENGTH)],
        help_text=_("Partial index: a WHERE condition on this entity's columns, e.g. deleted_at IS NULL."),
    )
    description = models.TextField(
        blank=True, max_length=DESCRIPTION_MAX_LENGTH, validators=[text_limit(DESCRIPTION_MAX_LENGTH)]
    )

    class Meta:
        ordering = ["entity_id", "name"]
        verbose_name_plural = _("indexes")
        permissions = [("write_sql_condition", "Can write SQL conditions of partial indexes")]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        super().clean()
        # Index names share one namespace per schema, so they are unique per data store
        if self.entity_id and self.name:
            clash = Index.objects.filter(entity__datastore_id=self.entity.datastore_id, name=self.name)
            if clash.exclude(pk=self.pk).exists():
                raise ValidationError(
                    {"name": _("Another index in this data store is named '%(name)s'.") % {"name": self.name}}
                )
        # A UNIQUE constraint is a plain unique B-tree key: no condition and no method of its own
        if self.is_constraint:
            if not self.is_unique:
                raise ValidationError({"is_constraint": _("Only a unique index can be a UNIQUE constraint.")})
            if self.condition:
                raise ValidationError(
                    {
                        "is_constraint": _(
                            "A UNIQUE constraint covers every row; remove the condition or untick this."
                        )
                    }
                )
        # Hash indexes cannot enforce uniqueness in PostgreSQL
        if self.is_unique and self.method not in (IndexMethod.BTREE,):
            raise ValidationError({"method": _("Only B-tree indexes can be unique.")})
        if self.condition and self.entity_id:
            names = getattr(self, "pending_column_names", None) or set(
                self.entity.columns.values_list("name", flat=True)
            )
            try:
                validate_condition(self.condition, column_names=names)
            except ValidationError as exc:
                raise ValidationError({"condition": exc.messages}) from exc


class IndexColumn(VersionedModel):
    """One column of an index, in order; `included` columns are stored in the index but not keyed."""

    index = models.ForeignKey("catalog.Index", on_delete=models.CASCADE, related_name="index_columns")
    column = models.ForeignKey("catalog.Column", on_delete=models.RESTRICT, related_name="index_usages")
    position = models.PositiveSmallIntegerField()
    order = models.CharField(max_length=4, choices=SortOrder.choices, default=SortOrder.ASC)
    included = models.BooleanField(default=False, help_text=_("INCLUDE column, not part of the key."))

    class Meta:
        ordering = ["index_id", "included", "position"]
        constraints = [
            models.UniqueConstraint(fields=["index", "column"], name="catalog_indexcolumn_unique_column"),
        ]

    def __str__(self) -> str:
        # Shown where a deletion is refused ("Index column customer_email_idx (email)"), so in names; a
        # history row may outlive its index or column, and then the ids are all there is.
        try:
            return f"{self.index.name} ({self.column.name})"
        except ObjectDoesNotExist:
            return f"{self.index_id}:{self.column_id}"

    def clean(self):
        super().clean()
        # An index covers columns of its own entity only
        if self.index_id and self.column_id and self.column.entity_id != self.index.entity_id:
            raise ValidationError(
                {"column": _("%(col)s is not a column of the index's entity.") % {"col": self.column}}
            )
