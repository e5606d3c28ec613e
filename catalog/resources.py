"""Import and export of the catalog (django-import-export), keyed by natural keys rather than database ids.

Rows name their data store, entity and column, so an export from one installation imports into another.
Every import runs in one transaction: a file with any invalid row changes nothing. Every imported change
writes a history row attributed to the importing user, in bulk mode too.
"""

import copy
import json
import logging

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import BooleanField, CharField, TextField
from import_export import fields, resources, widgets
from import_export.results import Error
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from catalog.guarded_fields import guarded_fields
from catalog.models import Column, DataStore, Domain, Entity, Index, Regulation, RetentionPolicy
from catalog.schema.snapshot import COLUMN_FIELDS, COLUMN_GENERATION_FIELDS
from catalog.services import index_columns_parse, index_columns_set, index_columns_spec
from core.exports import formula_unescaped, spreadsheet_cell

__all__ = [
    "FormulaSafeResource",
    "StrictBooleanWidget",
    "DataStoreResource",
    "DomainResource",
    "EntityResource",
    "ColumnResource",
    "IndexResource",
    "RetentionPolicyResource",
    "RESOURCES",
]


logger = logging.getLogger(__name__)


class NaturalKeyWidget(widgets.ForeignKeyWidget):
    """A foreign key by a unique name; an unknown name is a row error that says which name."""

    def clean(self, value, row=None, **kwargs):
        if value in (None, ""):
            return None
        try:
            return super().clean(value, row=row, **kwargs)
        except self.model.DoesNotExist:
            raise ValueError(f"No {self.model._meta.verbose_name} named '{value}'.") from None


class ValueListWidget(widgets.Widget):
    """A list of values as a JSON array, e.g. ["new", "paid"]; empty means no restriction."""

    def clean(self, value, row=None, **kwargs):
        if value in (None, ""):
            return []
        if isinstance(value, list):
            return value
        try:
            parsed = json.loads(value)
        except (TypeError, ValueError):
            parsed = None
        if not isinstance(parsed, list):
            raise ValueError(f'Write the values as a JSON list such as ["new", "paid"], not {value!r}.')
        return parsed

    def render(self, value, obj=None, **kwargs):
        return json.dumps(value) if value else ""


class OptionsWidget(widgets.Widget):
    """Options as a JSON object, e.g. {"start": 100, "increment": 5}; empty means none."""

    def clean(self, value, row=None, **kwargs):
        if value in (None, ""):
            return {}
        if isinstance(value, dict):
            return value
        try:
            parsed = json.loads(value)
        except (TypeError, ValueError):
            parsed = None
        if not isinstance(parsed, dict):
            raise ValueError(f'Write the options as a JSON object such as {{"start": 100}}, not {value!r}.')
        return parsed

    def render(self, value, obj=None, **kwargs):
        return json.dumps(value, sort_keys=True) if value else ""


class StrictBooleanWidget(widgets.BooleanWidget):
    """true/false, yes/no, 1/0 in any case (and a spreadsheet's own booleans); anything else is a row error
    on the field rather than a silent false."""

    WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}

    def clean(self, value, row=None, **kwargs):
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, (int, float)) and value in (0, 1):
            return bool(value)
        text = str(value).strip().lower()
        if text == "":
            return None
        if text not in self.WORDS:
            raise ValueError(f"'{value}' is not a yes/no value; write true or false (yes/no, 1/0 also work).")
        return self.WORDS[text]


class ImportProblem(Error):
    """A problem of the whole file, told in its own words: no Python traceback on the page (it is logged)."""

    def __init__(self, error, row=None, number=None):
        if isinstance(error, ValidationError):
            error = ValueError(" ".join(error.messages))
        elif not isinstance(error, ValueError):
            logger.error("Catalog import failed", exc_info=error)
        super().__init__(error, row=row, number=number)

    @property
    def traceback(self):
        return ""


def entities_by_natural_key(dataset) -> dict:
    """{(datastore name, entity name): entity} for the data stores a dataset names, in one query."""
    names = {row.get("datastore") for row in dataset.dict}
    return {
        (e.datastore.name, e.name): e
        for e in Entity.objects.filter(datastore__name__in=names).select_related("datastore")
    }


def user_widget():
    return NaturalKeyWidget(get_user_model(), "username")


class FormulaSafeResource(resources.ModelResource):
    """A resource whose exports a spreadsheet opens run no formula (core.exports), in every format; what it
    escaped it unescapes on import, so an export imports back as it was. Every admin export uses one."""

    # Text fields whose values are numbers when they look like one (a column's minimum, say).
    numeric_text: tuple[str, ...] = ()

    def export_field(self, field, instance, **kwargs):
        # Every format a spreadsheet opens gets text that cannot run as a formula; the number widgets
        # know their values are numbers, so a negative number stays one.
        value = super().export_field(field, instance, **kwargs)
        if isinstance(value, str):
            numeric = isinstance(field.widget, widgets.NumberWidget) or field.column_name in self.numeric_text
            return spreadsheet_cell(value, numeric=numeric)
        return value

    def before_import_row(self, row, **kwargs):
        # A file exported here and read back in imports the text as it was, without the export's escape.
        for name, value in row.items():
            if isinstance(value, str):
                row[name] = formula_unescaped(value)


class CatalogResource(FormulaSafeResource):
    """Shared import behaviour: known headers only, all-or-nothing, history with the importing user."""

    # Fields that need a permission beyond importing (field -> permission), besides the compliance fields of
    # catalog/guarded_fields.py, which every resource of their model gets. A row that sets a new value
    # without the permission is refused on that field; the value as it stands passes.
    field_permissions: dict[str, str] = {}

    def _permission_for(self, instance, attribute: str) -> str | None:
        """The permission a change of `attribute` needs on this row, or None. The compliance fields may be
        set by whoever creates the object, as on its admin page; others (a SQL condition) need it always."""
        if attribute in self.field_permissions:
            return self.field_permissions[attribute]
        if instance.pk is None:
            return None
        return guarded_fields(instance).get(attribute)

    @classmethod
    def widget_from_django_field(cls, f, default=widgets.Widget):
        if isinstance(f, BooleanField):
            return StrictBooleanWidget
        return super().widget_from_django_field(f, default)

    def get_error_result_class(self):
        return ImportProblem

    def __init__(self, user=None, html_diff: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.user = user
        if not html_diff:
            # The HTML diff is for the admin's preview; without one it is most of the per-row cost.
            self._meta = copy.copy(self._meta)
            self._meta.skip_html_diff = True

    class Meta:
        skip_unchanged = True
        report_skipped = True
        clean_model_instances = True
        use_transactions = True

    def import_data(
        self,
        dataset,
        dry_run=False,
        raise_errors=False,
        use_transactions=None,
        collect_failed_rows=False,
        rollback_on_validation_errors=True,
        **kwargs,
    ):
        return super().import_data(
            dataset,
            dry_run=dry_run,
            raise_errors=raise_errors,
            use_transactions=use_transactions,
            collect_failed_rows=collect_failed_rows,
            rollback_on_validation_errors=rollback_on_validation_errors,
            **kwargs,
        )

    def before_import(self, dataset, **kwargs):
        self.user = kwargs.get("user") or self.user
        if not dataset.headers:
            raise ValidationError("The file has no header row; the first row must name the columns.")
        known = {field.column_name for field in self.get_import_fields()}
        headers = [str(header).strip() for header in dataset.headers]
        unknown = [header for header in headers if header not in known]
        required = [self.fields[name].column_name for name in self._meta.import_id_fields]
        missing = [name for name in required if name not in headers]
        problems = []
        if missing:
            problems.append(
                f"Missing column{'s' if len(missing) > 1 else ''} in the file: {', '.join(missing)} "
                f"(every row names its {' and '.join(required)})."
            )
        if unknown:
            plural = "s" if len(unknown) > 1 else ""
            problems.append(f"Unknown column{plural} in the file: {', '.join(unknown)}.")
        if problems:
            raise ValidationError(" ".join(problems + [f"Expected columns: {', '.join(sorted(known))}."]))
        dataset.headers = headers

    def import_field(self, field, instance, row, is_m2m=False, **kwargs):
        permission = self._permission_for(instance, field.attribute)
        before = self._value_before(instance, field.attribute) if permission else None
        try:
            super().import_field(field, instance, row, is_m2m=is_m2m, **kwargs)
        except (ArithmeticError, TypeError) as exc:  # decimal.InvalidOperation from the number widgets
            raise ValueError(f"'{row.get(field.column_name)}' is not a number.") from exc
        changed = permission and getattr(instance, field.attribute) != before
        if changed and not (self.user is not None and self.user.has_perm(permission)):
            setattr(instance, field.attribute, before)
            label = instance._meta.get_field(field.attribute).verbose_name
            shown = "empty" if before in (None, "") else f"'{before}'"
            raise ValueError(
                f"You may not change the {label}: that needs the permission "
                f"{permission}. Leave it as it is ({shown}) "
                "or ask someone who has it to import this row."
            )

    @staticmethod
    def _value_before(instance, attribute):
        """The value a field holds now, or for a new object the value it would get without the file."""
        if instance.pk is None:
            return instance._meta.get_field(attribute).get_default()
        return getattr(instance, attribute)

    def import_instance(self, instance, row, **kwargs):
        try:
            super().import_instance(instance, row, **kwargs)
        finally:
            # Spreadsheet cells left empty arrive as None; a text field stores them as "".
            for model_field in instance._meta.concrete_fields:
                if isinstance(model_field, (CharField, TextField)) and not model_field.null:
                    if getattr(instance, model_field.attname) is None:
                        setattr(instance, model_field.attname, "")

    def do_instance_save(self, instance, is_create):
        instance._history_user = self.user
        instance.save(force_insert=is_create)

    def bulk_create(self, using_transactions, dry_run, raise_errors, batch_size=None, result=None):
        if self.create_instances and (using_transactions or not dry_run):
            try:
                bulk_create_with_history(
                    self.create_instances, self._meta.model, batch_size=batch_size, default_user=self.user
                )
            except Exception as exc:
                self.handle_import_error(result, exc, raise_errors)
            finally:
                self.create_instances.clear()

    def bulk_update(self, using_transactions, dry_run, raise_errors, batch_size=None, result=None):
        if self.update_instances and (using_transactions or not dry_run):
            try:
                for instance in self.update_instances:
                    instance.version += 1
                fields_to_update = [
                    self.fields[f].attribute
                    for f in self.get_bulk_update_fields()
                    if self.fields[f].attribute and not self.fields[f].readonly
                ]
                bulk_update_with_history(
                    self.update_instances,
                    self._meta.model,
                    fields_to_update + ["version"],
                    batch_size=batch_size,
                    default_user=self.user,
                )
            except Exception as exc:
                self.handle_import_error(result, exc, raise_errors)
            finally:
                self.update_instances.clear()


class DataStoreResource(CatalogResource):
    owner = fields.Field("owner", "owner", widget=user_widget())

    class Meta(CatalogResource.Meta):
        model = DataStore
        import_id_fields = ["name"]
        fields = [
            "name",
            "engine",
            "schema_name",
            "connection_alias",
            "url_env",
            "read_role",
            "description",
            "owner",
        ]


class DomainResource(CatalogResource):
    owner = fields.Field("owner", "owner", widget=user_widget())

    class Meta(CatalogResource.Meta):
        model = Domain
        import_id_fields = ["name"]
        fields = ["name", "description", "owner"]


class EntityResource(CatalogResource):
    """Entities, created and updated in bulk (they do not refer to each other)."""

    datastore = fields.Field("datastore", "datastore", widget=NaturalKeyWidget(DataStore, "name"))
    domain = fields.Field("domain", "domain", widget=NaturalKeyWidget(Domain, "name"))
    owner = fields.Field("owner", "owner", widget=user_widget())

    class Meta(CatalogResource.Meta):
        model = Entity
        use_bulk = True
        import_id_fields = ["datastore", "name"]
        fields = [
            "datastore",
            "name",
            "kind",
            "domain",
            "description",
            "owner",
            "sensitivity",
            "has_audit_columns",
            "legal_hold",
        ]

    def get_queryset(self):
        return Entity.objects.select_related("datastore", "domain", "owner").order_by(
            "datastore__name", "name"
        )


class EntityInRowWidget(widgets.Widget):
    """The entity named in a row, inside the data store named in the same row (looked up once per import)."""

    def __init__(self, resource: "ColumnResource"):
        super().__init__()
        self.resource = resource

    def clean(self, value, row=None, **kwargs):
        datastore = (row or {}).get("datastore")
        entity = self.resource.entities.get((datastore, value))
        if entity is None:
            raise ValueError(f"No entity '{value}' in data store '{datastore}'; import the entities first.")
        return entity

    def render(self, value, obj=None, **kwargs):
        return value.name if value else ""


class ColumnReferenceWidget(widgets.Widget):
    """A foreign key target written as "entity.column" in the row's data store."""

    def __init__(self, resource: "ColumnResource"):
        super().__init__()
        self.resource = resource

    def clean(self, value, row=None, **kwargs):
        if value in (None, ""):
            return None
        entity_name, _dot, column_name = str(value).partition(".")
        key = ((row or {}).get("datastore"), entity_name, column_name)
        target = self.resource.columns.get(key)
        if target is None and key in self.resource.keys_in_file:
            # Defined further down the file: resolved once that row is saved.
            self.resource.pending_reference = key
            return None
        if target is None:
            raise ValueError(
                f"'{value}' is not a column of data store '{key[0]}' nor defined in this file; "
                "write it as entity.column."
            )
        return target

    def render(self, value, obj=None, **kwargs):
        return f"{value.entity.name}.{value.name}" if value else ""


class EntityRowsResource(CatalogResource):
    """Rows that name their entity inside their data store: the entities are looked up once per import."""

    datastore = fields.Field("entity__datastore__name", "datastore", readonly=True)
    entity = fields.Field("entity", "entity")

    def __init__(self, user=None, **kwargs):
        super().__init__(user=user, **kwargs)
        self.fields["entity"].widget = EntityInRowWidget(self)
        self.entities: dict = {}

    def before_import(self, dataset, **kwargs):
        super().before_import(dataset, **kwargs)
        self.entities = entities_by_natural_key(dataset)


class ColumnResource(EntityRowsResource):
    """Columns, keyed by (datastore, entity, name); foreign keys as entity.column, in any row order.

    Rows are validated one by one against a per-import map of the data stores' columns (no query per row),
    then created in bulk with their history: first the columns whose foreign-key target already exists,
    then those pointing at columns of that first batch, and so on.
    """

    numeric_text = ("min_value", "max_value", "default_value")

    references = fields.Field("references", "references")
    allowed_values = fields.Field("allowed_values", "allowed_values", widget=ValueListWidget())
    identity_options = fields.Field("identity_options", "identity_options", widget=OptionsWidget())
    partition_key = fields.Field(column_name="partition_key", readonly=True, widget=StrictBooleanWidget())

    class Meta(CatalogResource.Meta):
        model = Column
        use_bulk = True
        # One flush at the end: a row may name a foreign-key target anywhere further down the file.
        batch_size = None
        import_id_fields = ["datastore", "entity", "name"]
        # The column's own fields are those a snapshot records; the file names the FK target, not its id.
        fields = [
            "datastore",
            "entity",
            *(name.removesuffix("_id") for name in COLUMN_FIELDS),
            *COLUMN_GENERATION_FIELDS,
            "partition_key",
        ]

    def __init__(self, user=None, **kwargs):
        super().__init__(user=user, **kwargs)
        self.fields["references"].widget = ColumnReferenceWidget(self)
        self.columns: dict = {}
        self.keys_in_file: set = set()
        self.deferred: list = []
        self.partition_keys: list = []
        self.pending_reference = None

    def get_queryset(self):
        return Column.objects.select_related("entity__datastore", "references__entity").order_by(
            "entity__datastore__name", "entity__name", "position", "name"
        )

    def dehydrate_partition_key(self, column):
        return int(column.entity.partition_column_id == column.pk)

    def before_import(self, dataset, **kwargs):
        super().before_import(dataset, **kwargs)
        names = {row.get("datastore") for row in dataset.dict}
        self.columns = {
            (c.entity.datastore.name, c.entity.name, c.name): c
            for c in self.get_queryset().filter(entity__datastore__name__in=names)
        }
        self.keys_in_file = {
            (row.get("datastore"), row.get("entity"), row.get("name")) for row in dataset.dict
        }

    def get_instance(self, instance_loader, row):
        return self.columns.get((row.get("datastore"), row.get("entity"), row.get("name")))

    def import_instance(self, instance, row, **kwargs):
        self.pending_reference = None
        super().import_instance(instance, row, **kwargs)

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        # Uniqueness is checked against the per-import map (and by the database's constraints), not with
        # two queries per row; the resolved foreign keys are known to exist.
        errors = dict(import_validation_errors or {})
        key = self._key(instance) if instance.entity_id else None
        existing = self.columns.get(key)
        if key and existing is not None and existing is not instance and existing.pk != instance.pk:
            errors["name"] = ValidationError(f"Column '{instance.name}' appears twice for this entity.")
        # A foreign key to a row further down is checked, with its ON DELETE, once that row is read.
        instance.reference_pending = self.pending_reference is not None
        if instance.references is not None:
            self._note_key_size(instance.references)
        try:
            instance.full_clean(
                exclude=[*errors.keys(), "entity", "references"],
                validate_unique=False,
                validate_constraints=False,
            )
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        if errors:
            raise ValidationError(errors)

    def save_instance(self, instance, is_create, row, **kwargs):
        if self.pending_reference is not None:
            self.deferred.append((kwargs.get("row_number"), row, instance, self.pending_reference))
        if "partition_key" in row:
            self.partition_keys.append((instance, StrictBooleanWidget().clean(row.get("partition_key"))))
        self.columns[self._key(instance)] = instance
        super().save_instance(instance, is_create, row, **kwargs)

    @staticmethod
    def _key(column):
        return column.entity.datastore.name, column.entity.name, column.name

    def _note_key_size(self, target):
        """How many primary-key columns the target's entity has, counting those of this import."""
        datastore, entity = target.entity.datastore.name, target.entity.name
        target.known_primary_key_size = sum(
            1
            for (d, e, _n), column in self.columns.items()
            if d == datastore and e == entity and column.primary_key_position is not None
        )

    def _resolve_deferred(self, result):
        """Point the rows that named a later row at it, and check those foreign keys now."""
        for row_number, row, instance, target_key in self.deferred:
            instance.references = self.columns.get(target_key)
            instance.reference_pending = False
            try:
                if instance.references is None:
                    raise ValidationError(
                        {"references": f"'{target_key[1]}.{target_key[2]}' is not valid itself."}
                    )
                self._note_key_size(instance.references)
                instance.full_clean(exclude=["entity"], validate_unique=False, validate_constraints=False)
            except ValidationError as exc:
                result.append_invalid_row(row_number, row, exc)
        self.deferred.clear()

    def _assign_positions(self):
        last = {}
        for column in self.columns.values():
            if column.position is not None:
                last[column.entity_id] = max(last.get(column.entity_id, 0), column.position)
        for column in self.create_instances:
            if column.position is None:
                last[column.entity_id] = column.position = last.get(column.entity_id, 0) + 1

    def bulk_create(self, using_transactions, dry_run, raise_errors, batch_size=None, result=None):
        self._resolve_deferred(result)
        if result is not None and result.has_validation_errors():
            self.create_instances.clear()
            self.update_instances.clear()
            return
        self._assign_positions()
        pending = list(self.create_instances)
        try:
            while pending:
                # Columns whose foreign-key target has an id can be inserted now.
                ready = [c for c in pending if c.references is None or c.references.pk is not None]
                if not ready:
                    raise ValidationError(
                        "These columns reference each other in a cycle: "
                        + ", ".join(str(c) for c in pending[:10])
                    )
                self.create_instances[:] = ready
                super().bulk_create(using_transactions, dry_run, raise_errors, batch_size=500, result=result)
                inserted = {id(c) for c in ready}
                pending = [c for c in pending if id(c) not in inserted]
        finally:
            self.create_instances.clear()

    def after_import(self, dataset, result, **kwargs):
        super().after_import(dataset, result, **kwargs)
        if result.has_errors() or result.has_validation_errors():
            return
        for column, wanted in self.partition_keys:
            entity = column.entity
            if wanted and entity.partition_column_id != column.pk:
                entity.partition_column = column
            elif wanted is False and entity.partition_column_id == column.pk:
                entity.partition_column = None
            else:
                continue
            entity._history_user = self.user
            entity.save()
        self.partition_keys.clear()


class IndexResource(EntityRowsResource):
    """Indexes with their key and included columns written as "last_name, first_name DESC"."""

    field_permissions = {"condition": "catalog.write_sql_condition"}

    key_columns = fields.Field(column_name="columns", readonly=True)
    included_columns = fields.Field(column_name="include", readonly=True)

    class Meta(CatalogResource.Meta):
        model = Index
        import_id_fields = ["datastore", "name"]
        fields = [
            "datastore",
            "entity",
            "name",
            "is_unique",
            "is_constraint",
            "method",
            "condition",
            "description",
            "key_columns",
            "included_columns",
        ]

    def get_queryset(self):
        return (
            Index.objects.select_related("entity__datastore")
            .prefetch_related("index_columns__column")
            .order_by("entity__datastore__name", "name")
        )

    def get_instance(self, instance_loader, row):
        return (
            self.get_queryset()
            .filter(entity__datastore__name=row.get("datastore"), name=row.get("name"))
            .first()
        )

    def dehydrate_key_columns(self, index):
        return index_columns_spec(index)

    def dehydrate_included_columns(self, index):
        return index_columns_spec(index, included=True)

    def import_instance(self, instance, row, **kwargs):
        errors = {}
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        try:
            instance._key_columns = index_columns_parse(row.get("columns") or "")
            instance._included_columns = [
                name for name, _order in index_columns_parse(row.get("include") or "")
            ]
        except ValidationError as exc:
            errors["condition"] = exc
        if errors:
            raise ValidationError(errors)

    def skip_row(self, instance, original, row, import_validation_errors=None):
        if instance.pk and (
            index_columns_spec(instance) != (row.get("columns") or "")
            or index_columns_spec(instance, included=True) != (row.get("include") or "")
        ):
            return False
        return super().skip_row(instance, original, row, import_validation_errors)

    def after_save_instance(self, instance, row, **kwargs):
        try:
            index_columns_set(
                index=instance,
                key_columns=instance._key_columns,
                included_columns=instance._included_columns,
                user=self.user,
            )
        except ValidationError as exc:
            raise ValidationError({"name": exc.messages}) from exc


class RetentionPolicyResource(EntityRowsResource):
    anchor_column = fields.Field("anchor_column", "anchor_column")
    regulation = fields.Field("regulation", "regulation", widget=NaturalKeyWidget(Regulation, "code"))

    class Meta(CatalogResource.Meta):
        model = RetentionPolicy
        import_id_fields = ["datastore", "entity", "name"]
        fields = [
            "datastore",
            "entity",
            "name",
            "anchor_column",
            "keep_for",
            "keep_unit",
            "action",
            "regulation",
            "legal_basis",
            "legal_hold",
            "description",
        ]

    def __init__(self, user=None, **kwargs):
        super().__init__(user=user, **kwargs)
        self.fields["anchor_column"].widget = AnchorColumnWidget()

    def get_queryset(self):
        return RetentionPolicy.objects.select_related(
            "entity__datastore", "anchor_column", "regulation"
        ).order_by("entity__datastore__name", "entity__name", "name")

    def get_instance(self, instance_loader, row):
        return (
            self.get_queryset()
            .filter(
                entity__datastore__name=row.get("datastore"),
                entity__name=row.get("entity"),
                name=row.get("name"),
            )
            .first()
        )


class AnchorColumnWidget(widgets.Widget):
    """A column of the row's entity, by name."""

    def clean(self, value, row=None, **kwargs):
        if value in (None, ""):
            return None
        column = Column.objects.filter(
            entity__datastore__name=(row or {}).get("datastore"),
            entity__name=(row or {}).get("entity"),
            name=value,
        ).first()
        if column is None:
            raise ValueError(f"Entity '{(row or {}).get('entity')}' has no column '{value}'.")
        return column

    def render(self, value, obj=None, **kwargs):
        return value.name if value else ""


RESOURCES = {
    "datastores": DataStoreResource,
    "domains": DomainResource,
    "entities": EntityResource,
    "columns": ColumnResource,
    "indexes": IndexResource,
    "retention_policies": RetentionPolicyResource,
}
