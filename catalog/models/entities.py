"""What the data is: entities (tables) and their columns."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from catalog.choices import (
    IDENTITY_OPTIONS,
    TYPE_FAMILIES,
    DataType,
    Deferrability,
    EntityKind,
    KeyGeneration,
    MaskingStrategy,
    OnDelete,
    OnUpdate,
    PIICategory,
    SensitivityLevel,
)
from catalog.literals import ALLOWED_DEFAULT_FUNCTIONS, is_orderable, is_string_type, parse_literal
from catalog.models.base import VersionedModel
from catalog.validators import DESCRIPTION_MAX_LENGTH, text_limit, validate_identifier, validate_regex

__all__ = ["Entity", "Column", "identity_options_kept"]

MAX_VARCHAR_LENGTH = 10_485_760  # PostgreSQL's limit for varchar(n)
MAX_NUMERIC_PRECISION = 1000
PARTITION_FAMILIES = {"date", "timestamp", "integer"}


def identity_options_kept(options: dict) -> dict:
    """The sequence options that differ from their defaults, in a fixed order."""
    return {
        name: options[name]
        for name in IDENTITY_OPTIONS
        if name in options and options[name] is not None and options[name] != IDENTITY_OPTIONS[name]
    } | {name: value for name, value in options.items() if name not in IDENTITY_OPTIONS}


class Entity(VersionedModel):
    """A table (or dimension, fact, reference or staging table) in a data store."""

    datastore = models.ForeignKey(
        "catalog.DataStore", on_delete=models.CASCADE, related_name="entities", verbose_name=_("data store")
    )
    domain = models.ForeignKey(
        "catalog.Domain", null=True, blank=True, on_delete=models.SET_NULL, related_name="entities"
    )
    name = models.CharField(max_length=63, validators=[validate_identifier], help_text=_("Table name."))
    kind = models.CharField(max_length=20, choices=EntityKind.choices, default=EntityKind.TABLE)
    description = models.TextField(
        blank=True,
        max_length=DESCRIPTION_MAX_LENGTH,
        validators=[text_limit(DESCRIPTION_MAX_LENGTH)],
        help_text=_("Becomes the table comment."),
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_entities",
        help_text=_("The steward accountable for this entity."),
    )
    sensitivity = models.CharField(
        max_length=20, choices=SensitivityLevel.choices, default=SensitivityLevel.INTERNAL
    )
    has_audit_columns = models.BooleanField(
        _("audit columns"),
        default=False,
        help_text=_("Add created_at, updated_at, created_by, updated_by and version columns."),
    )
    partition_column = models.ForeignKey(
        "catalog.Column",
        null=True,
        blank=True,
        on_delete=models.RESTRICT,
        related_name="+",
        help_text=_("Range-partition the table on this date, timestamp or integer column."),
    )
    legal_hold = models.BooleanField(
        default=False, help_text=_("While on hold, no retention or erasure may delete or change its rows.")
    )

    class Meta:
        ordering = ["datastore__name", "name"]
        verbose_name_plural = _("entities")
        permissions = [("change_entity_compliance", "Can change sensitivity and legal hold of entities")]
        constraints = [
            models.UniqueConstraint(fields=["datastore", "name"], name="catalog_entity_unique_name_per_store")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def qualified_name(self) -> str:
        return f"{self.datastore.name}.{self.name}"

    def clean(self):
        super().clean()
        if self.partition_column_id is None:
            return
        column = self.partition_column
        # The partition key is a column of this entity
        if column.entity_id != self.pk:
            raise ValidationError({"partition_column": _("Choose a column of this entity.")})
        # Range partitioning needs an orderable key
        if TYPE_FAMILIES[DataType(column.data_type)] not in PARTITION_FAMILIES:
            raise ValidationError(
                {"partition_column": _("Range partitions need a date, timestamp or integer column.")}
            )
        # PostgreSQL requires the partition key in the primary key
        has_primary_key = self.columns.filter(primary_key_position__isnull=False).exists()
        if has_primary_key and column.primary_key_position is None:
            raise ValidationError(
                {
                    "partition_column": _("'%(col)s' must be part of the primary key to partition on it.")
                    % {"col": column.name}
                }
            )


class Column(VersionedModel):
    """A column of an entity: its type, key role, checks, personal-data classification and foreign key."""

    entity = models.ForeignKey("catalog.Entity", on_delete=models.CASCADE, related_name="columns")
    name = models.CharField(max_length=63, validators=[validate_identifier])
    position = models.PositiveSmallIntegerField(
        blank=True, help_text=_("Order in the table; left empty, the column goes last.")
    )
    data_type = models.CharField(_("type"), max_length=20, choices=DataType.choices)
    length = models.PositiveIntegerField(null=True, blank=True, help_text=_("n of varchar(n) and char(n)."))
    precision = models.PositiveSmallIntegerField(null=True, blank=True, help_text=_("p of numeric(p,s)."))
    scale = models.PositiveSmallIntegerField(null=True, blank=True, help_text=_("s of numeric(p,s)."))
    nullable = models.BooleanField(default=True)
    default_value = models.CharField(
        _("default"),
        max_length=200,
        blank=True,
        help_text=_("A literal (42, 'text', true, 2024-01-31) or one of: %(functions)s.")
        % {"functions": ", ".join(ALLOWED_DEFAULT_FUNCTIONS)},
    )
    generation = models.CharField(
        _("key generation"),
        max_length=20,
        choices=KeyGeneration.choices,
        default=KeyGeneration.NONE,
        blank=True,
        help_text=_(
            "How the database fills the column when an insert leaves it out: serial, or an identity "
            "(ALWAYS refuses a given value, BY DEFAULT takes one). smallint, integer or bigint only, "
            "and no default value beside it."
        ),
    )
    identity_options = models.JSONField(
        default=dict,
        blank=True,
        help_text=_(
            "Sequence options of an identity that differ from the default, e.g. "
            '{"start": 100, "increment": 5}; keys: start, increment, minvalue, maxvalue, cache, cycle.'
        ),
    )
    primary_key_position = models.PositiveSmallIntegerField(
        _("PK position"), null=True, blank=True, help_text=_("1 for the first primary-key column, 2 ...")
    )
    is_unique = models.BooleanField(_("unique"), default=False)
    min_value = models.CharField(_("minimum"), max_length=100, blank=True)
    max_value = models.CharField(_("maximum"), max_length=100, blank=True)
    min_length = models.PositiveIntegerField(_("minimum length"), null=True, blank=True)
    pattern = models.CharField(
        max_length=500,
        blank=True,
        validators=[validate_regex],
        help_text=_("Regular expression values match."),
    )
    allowed_values = models.JSONField(default=list, blank=True, help_text=_("Only these values are allowed."))
    description = models.TextField(
        blank=True,
        max_length=DESCRIPTION_MAX_LENGTH,
        validators=[text_limit(DESCRIPTION_MAX_LENGTH)],
        help_text=_("Becomes the column comment."),
    )
    pii_category = models.CharField(
        _("PII category"), max_length=30, choices=PIICategory.choices, default=PIICategory.NONE
    )
    masking_strategy = models.CharField(
        max_length=20, choices=MaskingStrategy.choices, default=MaskingStrategy.NONE
    )
    references = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.RESTRICT,
        related_name="referenced_by",
        help_text=_("Foreign key: the primary or unique key column this column points at."),
    )
    on_delete = models.CharField(
        _("on delete"),
        max_length=20,
        choices=OnDelete.choices,
        default=OnDelete.NO_ACTION,
        help_text=_("SET NULL needs a nullable column, SET DEFAULT a default value."),
    )
    on_update = models.CharField(
        _("on update"),
        max_length=20,
        choices=OnUpdate.choices,
        default=OnUpdate.NO_ACTION,
        help_text=_(
            "What happens to this column when the key it points at changes. SET NULL needs a nullable "
            "column, SET DEFAULT a default value."
        ),
    )
    deferrable = models.CharField(
        _("deferrable"),
        max_length=20,
        choices=Deferrability.choices,
        default=Deferrability.NOT_DEFERRABLE,
        help_text=_("When the foreign key is checked: at each statement, or possibly only at commit."),
    )

    class Meta:
        ordering = ["entity_id", "position", "id"]
        permissions = [
            ("change_column_pii", "Can change PII category and masking of columns"),
            ("view_pii", "Can see personal data unmasked (quarantined rows, quality samples, requests)"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["entity", "name"], name="catalog_column_unique_name_per_entity"),
            models.UniqueConstraint(
                fields=["entity", "primary_key_position"],
                condition=models.Q(primary_key_position__isnull=False),
                name="catalog_column_unique_pk_position",
            ),
            models.CheckConstraint(
                condition=models.Q(primary_key_position__isnull=True) | models.Q(nullable=False),
                name="catalog_column_pk_not_nullable",
                violation_error_message=_("A primary-key column cannot be nullable."),
            ),
            models.CheckConstraint(
                condition=models.Q(scale__isnull=True)
                | models.Q(precision__isnull=False, scale__lte=models.F("precision")),
                name="catalog_column_scale_within_precision",
                violation_error_message=_("Numeric scale must not exceed its precision."),
            ),
        ]

    def __str__(self) -> str:
        entity_name = self.entity.name if self.entity_id else "?"
        return f"{entity_name}.{self.name}"

    def save(self, *args, **kwargs):
        # Only options that differ from the sequence's default are kept (so equal identities compare equal).
        if isinstance(self.identity_options, dict):
            self.identity_options = identity_options_kept(self.identity_options)
        if self.position is None:
            last = Column.objects.filter(entity_id=self.entity_id).aggregate(models.Max("position"))
            self.position = (last["position__max"] or 0) + 1
        super().save(*args, **kwargs)

    @property
    def type_family(self) -> str:
        return TYPE_FAMILIES[DataType(self.data_type)]

    @property
    def sql_type(self) -> str:
        """The catalog type with its parameters, e.g. varchar(120) or numeric(12,2)."""
        if self.data_type in (DataType.VARCHAR, DataType.CHAR):
            return f"{self.data_type}({self.length})"
        if self.data_type == DataType.NUMERIC and self.precision:
            return f"numeric({self.precision},{self.scale or 0})"
        return self.data_type

    @property
    def is_pii(self) -> bool:
        return self.pii_category != PIICategory.NONE

    @property
    def is_unique_key(self) -> bool:
        """A foreign key may point here: the column is UNIQUE or the entity's whole primary key."""
        if self.is_unique:
            return True
        if self.primary_key_position is None:
            return False
        # An import that has not saved its rows yet knows the key's size from the file.
        if getattr(self, "known_primary_key_size", None) is not None:
            return self.known_primary_key_size == 1
        return (
            not Column.objects.filter(entity_id=self.entity_id, primary_key_position__isnull=False)
            .exclude(pk=self.pk)
            .exists()
        )

    def dependents_blocking_delete(self) -> list[str]:
        """Why this column cannot be deleted on its own (foreign keys, indexes, policies, partitioning using
        it), one sentence each saying what to do first."""
        column = {"col": self.name}
        reasons = [
            _("Column '%(col)s' is referenced by foreign key %(ref)s; remove that foreign key first.")
            % {**column, "ref": ref}
            for ref in self.referenced_by.exclude(pk=self.pk).select_related("entity")
        ]
        reasons += [
            _("Column '%(col)s' is used by index '%(idx)s'; remove it from the index first.")
            % {**column, "idx": usage.index.name}
            for usage in self.index_usages.select_related("index")
        ]
        reasons += [
            _("Column '%(col)s' anchors retention policy '%(policy)s'; choose another anchor first.")
            % {**column, "policy": policy.name}
            for policy in self.anchored_policies.all()
        ]
        if Entity.objects.filter(partition_column=self).exists():
            reasons.append(
                _("Entity '%(entity)s' is partitioned on column '%(col)s'; partition it on another first.")
                % {**column, "entity": self.entity.name}
            )
        return [str(reason) for reason in reasons]

    def clean(self):
        super().clean()
        errors: dict[str, list] = {}
        if not self.data_type:
            return
        for check in (
            self._clean_type_parameters,
            self._clean_primary_key,
            self._clean_default,
            self._clean_generation,
            self._clean_range,
            self._clean_string_checks,
            self._clean_allowed_values,
            self._clean_masking,
            self._clean_reference,
        ):
            for field, message in check():
                errors.setdefault(field, []).append(message)
        if errors:
            raise ValidationError(errors)

    def _clean_type_parameters(self):
        # varchar and char need a length; no other type takes one
        if self.data_type in (DataType.VARCHAR, DataType.CHAR):
            if not self.length:
                yield "length", _("%(type)s needs a length, e.g. 255.") % {"type": self.data_type}
            elif self.length > MAX_VARCHAR_LENGTH:
                yield "length", _("At most %(max)d characters.") % {"max": MAX_VARCHAR_LENGTH}
        elif self.length is not None:
            yield "length", _("Only varchar and char take a length.")
        # numeric takes precision >= scale; no other type takes either
        if self.data_type == DataType.NUMERIC:
            if self.scale is not None and self.precision is None:
                yield "precision", _("Give a precision when you give a scale.")
            if self.precision is not None and not 1 <= self.precision <= MAX_NUMERIC_PRECISION:
                yield (
                    "precision",
                    _("Precision must be between 1 and %(max)d.") % {"max": MAX_NUMERIC_PRECISION},
                )
            if self.precision and self.scale is not None and self.scale > self.precision:
                yield (
                    "scale",
                    _("Scale %(s)d is larger than precision %(p)d.")
                    % {
                        "s": self.scale,
                        "p": self.precision,
                    },
                )
        elif self.precision is not None or self.scale is not None:
            yield "precision", _("Only numeric takes a precision and scale.")

    def _clean_primary_key(self):
        # Primary-key columns are NOT NULL
        if self.primary_key_position is not None and self.nullable:
            yield "nullable", _("A primary-key column cannot be nullable.")
        # Large objects make poor keys and most engines refuse them
        if self.primary_key_position is not None and self.type_family in {"json", "binary"}:
            yield (
                "primary_key_position",
                _("A %(type)s column cannot be part of a primary key.") % {"type": self.data_type},
            )

    def _clean_default(self):
        value = self.default_value.strip()
        if not value:
            return
        function = ALLOWED_DEFAULT_FUNCTIONS.get(value.lower())
        if function is not None:
            if self.type_family not in function:
                yield (
                    "default_value",
                    _("%(fn)s does not suit a %(type)s column.")
                    % {
                        "fn": value,
                        "type": self.data_type,
                    },
                )
            return
        if value.endswith(")"):
            yield (
                "default_value",
                _("Only these functions are allowed as defaults: %(fns)s.")
                % {"fns": ", ".join(ALLOWED_DEFAULT_FUNCTIONS)},
            )
            return
        yield from self._literal_errors("default_value", self.default_value)

    def _clean_generation(self):
        options = self.identity_options or {}
        if not isinstance(options, dict):
            yield "identity_options", _('Give an object of sequence options, e.g. {"start": 100}.')
            return
        if not self.generation:
            if options:
                yield "identity_options", _("Sequence options apply to identity columns only.")
            return
        # Only integers come from a sequence
        if self.type_family != "integer":
            yield (
                "generation",
                _("Key generation needs a smallint, integer or bigint column, not %(type)s.")
                % {"type": self.data_type},
            )
        # A generated column always has a value (PostgreSQL makes serial and identity columns NOT NULL)
        if self.nullable:
            yield "nullable", _("A generated column is NOT NULL; untick nullable.")
        # The sequence is the column's default: a second one has no place
        if self.default_value.strip():
            yield "default_value", _("A generated column takes no default value; clear one of the two.")
        if options and self.generation == KeyGeneration.SERIAL:
            yield "identity_options", _("A serial column has no sequence options; make it an identity.")
        yield from self._identity_option_errors(options)

    def _identity_option_errors(self, options: dict):
        unknown = sorted(set(options) - set(IDENTITY_OPTIONS))
        if unknown:
            yield (
                "identity_options",
                _("Unknown sequence options %(names)s; use %(known)s.")
                % {"names": ", ".join(unknown), "known": ", ".join(IDENTITY_OPTIONS)},
            )
        for name, value in options.items():
            if name == "cycle":
                if not isinstance(value, bool):
                    yield "identity_options", _("cycle is true or false.")
            elif name in IDENTITY_OPTIONS and (isinstance(value, bool) or not isinstance(value, int)):
                yield "identity_options", _("%(name)s must be a whole number.") % {"name": name}
        if options.get("increment") == 0:
            yield "identity_options", _("increment cannot be 0.")
        low, high = options.get("minvalue"), options.get("maxvalue")
        if isinstance(low, int) and isinstance(high, int) and low >= high:
            yield "identity_options", _("minvalue must be smaller than maxvalue.")
        if isinstance(options.get("cache"), int) and options["cache"] < 1:
            yield "identity_options", _("cache is at least 1.")

    def _clean_range(self):
        if not (self.min_value or self.max_value):
            return
        if not is_orderable(self.data_type):
            yield "min_value", _("Minimum and maximum apply to numbers, dates and times only.")
            return
        bounds = {}
        for field in ("min_value", "max_value"):
            text = getattr(self, field)
            if text:
                try:
                    bounds[field] = parse_literal(self.data_type, text)
                except ValueError as exc:
                    yield field, str(exc)
        if len(bounds) == 2 and bounds["min_value"] > bounds["max_value"]:
            yield "max_value", _("The maximum is smaller than the minimum.")

    def _clean_string_checks(self):
        if (self.pattern or self.min_length is not None) and not is_string_type(self.data_type):
            yield "pattern", _("Patterns and lengths apply to text columns only.")
        if self.min_length is not None and self.length and self.min_length > self.length:
            yield (
                "min_length",
                _("The minimum length exceeds the column's length %(n)d.") % {"n": self.length},
            )

    def _clean_allowed_values(self):
        if not isinstance(self.allowed_values, list):
            yield "allowed_values", _("Give a list of values.")
            return
        for value in self.allowed_values:
            yield from self._literal_errors("allowed_values", str(value))

    def _literal_errors(self, field: str, text: str):
        try:
            parse_literal(self.data_type, text)
        except ValueError as exc:
            yield field, str(exc)
            return
        if self.length and is_string_type(self.data_type) and len(text) > self.length:
            yield field, _("'%(value)s' is longer than %(n)d characters.") % {"value": text, "n": self.length}

    def _clean_masking(self):
        # Masking is a property of personal data
        if self.masking_strategy != MaskingStrategy.NONE and not self.is_pii:
            yield "masking_strategy", _("Masking applies to personal data: set a PII category first.")

    def _clean_reference(self):
        target = self.references
        if target is None:
            # An import may set the target after this row is checked (it is further down the file).
            if not getattr(self, "reference_pending", False):
                if self.on_delete != OnDelete.NO_ACTION:
                    yield "on_delete", _("ON DELETE applies to foreign keys only.")
                if self.on_update != OnUpdate.NO_ACTION:
                    yield "on_update", _("ON UPDATE applies to foreign keys only.")
                if self.deferrable != Deferrability.NOT_DEFERRABLE:
                    yield "deferrable", _("DEFERRABLE applies to foreign keys only.")
            return
        yield from self._reference_target_errors(target)
        for field, action in (("on_delete", self.on_delete), ("on_update", self.on_update)):
            # SET NULL needs a nullable column, SET DEFAULT a default
            if action == OnDelete.SET_NULL and not self.nullable:
                yield field, _("SET NULL needs a nullable column.")
            if action == OnDelete.SET_DEFAULT and not self.default_value:
                yield field, _("SET DEFAULT needs a default value.")

    def _reference_target_errors(self, target: "Column"):
        if self.pk and target.pk == self.pk:
            yield "references", _("A column cannot reference itself.")
            return
        # A foreign key stays inside one data store
        if self.entity_id and target.entity.datastore_id != self.entity.datastore_id:
            yield "references", _("%(col)s is in another data store.") % {"col": target}
        # A foreign key must point at a primary or unique key of the same type family
        if not target.is_unique_key:
            yield (
                "references",
                _("%(col)s is not a primary or unique key; a foreign key must point at one.")
                % {"col": target},
            )
        if target.type_family != self.type_family:
            yield (
                "references",
                _("%(col)s is %(their)s but this column is %(ours)s.")
                % {
                    "col": target,
                    "their": target.sql_type,
                    "ours": self.sql_type,
                },
            )
