"""Admin for entities, columns and indexes: the steward's main screens."""

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q

from catalog.admin.base import (
    CatalogModelAdmin,
    VersionedInlineMixin,
    VersionedModelForm,
    breakable,
    text_preview,
)
from catalog.admin.codegen import CodegenMixin
from catalog.admin.schema import SchemaDDLMixin
from catalog.choices import PIICategory
from catalog.guarded_fields import COLUMN_PII, ENTITY_COMPLIANCE, GUARDED_FIELDS
from catalog.guarded_fields import guarded_fields as permission_guarded_fields
from catalog.lineage import column_lineage, entity_lineage
from catalog.models import Column, Entity, Index, IndexColumn, RetentionPolicy
from catalog.resources import ColumnResource, EntityResource, IndexResource
from catalog.services import index_columns_parse, index_columns_set, index_columns_spec

__all__ = ["EntityAdmin", "ColumnAdmin", "IndexAdmin"]

# The fields only a compliance permission may change, from the one map forms and imports share
COLUMN_PII_FIELDS = list(GUARDED_FIELDS["catalog.column"])
ENTITY_COMPLIANCE_FIELDS = list(GUARDED_FIELDS["catalog.entity"])


class AllowedValuesField(forms.CharField):
    """A list of allowed values, one per line."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 30})

    def prepare_value(self, value):
        if isinstance(value, list):
            return "\n".join(str(v) for v in value)
        return value

    def to_python(self, value):
        if isinstance(value, list):
            return value
        return [line.strip() for line in (value or "").splitlines() if line.strip()]

    def has_changed(self, initial, data):
        # Where the field is not shown (the entity's columns inline) it has no initial value: no list is no
        # change, not a change from "" to [].
        return self.to_python(initial or []) != self.to_python(data)


class EntityForm(VersionedModelForm):
    """An entity; its sensitivity and legal hold are the compliance officer's to change."""

    guarded_fields = permission_guarded_fields(Entity)

    class Meta:
        model = Entity
        fields = "__all__"


class ColumnForm(VersionedModelForm):
    """A column; its PII category and masking are the compliance officer's to change once it exists (who
    adds a column classifies it), since unclassifying one would unmask its values."""

    allowed_values = AllowedValuesField(required=False, help_text="One value per line.")
    guarded_fields = permission_guarded_fields(Column)

    class Meta:
        model = Column
        fields = "__all__"

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("DELETE") and self.instance.pk:
            blockers = self.instance.dependents_blocking_delete()
            if blockers:
                # Said here in the steward's words; the admin's own check would name database rows instead.
                del cleaned["DELETE"]
                raise forms.ValidationError(blockers, code="deleting_protected")
        return cleaned


class PartialEditMixin:
    """Lets holders of a narrow permission (e.g. PII settings) edit only those fields of an object."""

    partial_permission: str
    partial_fields: list[str]

    def has_full_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self.has_full_change_permission(request, obj) or request.user.has_perm(self.partial_permission)

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if self.has_full_change_permission(request, obj) or not request.user.has_perm(
            self.partial_permission
        ):
            return readonly
        editable = set(self.partial_fields)
        names = [f.name for f in self.model._meta.fields if f.editable and not f.auto_created]
        return readonly + [name for name in names if name not in editable and name not in readonly]


class LineageMixin:
    """Shows "Where this data comes from" on the change page, as told by the apps that load the data."""

    def lineage_rows(self, request, obj) -> list:
        raise NotImplementedError

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["lineage_rows"] = self.lineage_rows(request, obj) if obj is not None else None
        return super().render_change_form(request, context, add, change, form_url, obj)


class ColumnInline(VersionedInlineMixin, PartialEditMixin, admin.TabularInline):
    model = Column
    form = ColumnForm
    partial_permission = COLUMN_PII
    partial_fields = COLUMN_PII_FIELDS
    # Defaults, checks, ON DELETE / ON UPDATE / DEFERRABLE and the description are on the column's own page,
    # one click away.
    fields = [
        "name",
        "position",
        "data_type",
        "length",
        "precision",
        "scale",
        "nullable",
        "primary_key_position",
        "is_unique",
        "pii_category",
        "masking_strategy",
        "references",
    ]
    autocomplete_fields = ["references"]
    show_change_link = True
    extra = 0
    fk_name = "entity"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("entity", "references__entity")


class IndexInlineForm(VersionedModelForm):
    key_columns = forms.CharField(label="Columns", help_text="In order, e.g. last_name, first_name DESC")
    include_columns = forms.CharField(label="Include", required=False)

    class Meta:
        model = Index
        fields = ["name", "is_unique", "is_constraint", "method", "condition", "description"]
        widgets = {
            "condition": forms.TextInput(attrs={"size": 30}),
            "description": forms.TextInput(attrs={"size": 20}),
        }

    def __init__(self, *args, known_column_names: set[str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.known_column_names = known_column_names
        # The model's check of the condition may name columns added in the same save.
        self.instance.pending_column_names = known_column_names
        if self.instance.pk:
            self.initial["key_columns"] = index_columns_spec(self.instance)
            self.initial["include_columns"] = index_columns_spec(self.instance, included=True)

    def clean_key_columns(self):
        return self._known(index_columns_parse(self.cleaned_data["key_columns"]))

    def clean_include_columns(self):
        parsed = index_columns_parse(self.cleaned_data.get("include_columns") or "")
        return [name for name, _order in self._known(parsed)]

    def _known(self, parsed):
        unknown = [
            name
            for name, _order in parsed
            if self.known_column_names is not None and name not in self.known_column_names
        ]
        if unknown:
            raise forms.ValidationError(f"No column named {', '.join(unknown)} in this entity.")
        return parsed


class IndexInlineFormSet(forms.BaseInlineFormSet):
    """Index rows may name columns added in the same save; they are checked against those too."""

    def get_form_kwargs(self, index):
        kwargs = super().get_form_kwargs(index)
        if self.is_bound:
            kwargs["known_column_names"] = self.posted_column_names()
        return kwargs

    def posted_column_names(self) -> set[str]:
        if not hasattr(self, "_posted_column_names"):
            names = set(self.instance.columns.values_list("name", flat=True)) if self.instance.pk else set()
            total = int(self.data.get("columns-TOTAL_FORMS") or 0)
            for i in range(min(total, 5000)):
                name = self.data.get(f"columns-{i}-name")
                if name and not self.data.get(f"columns-{i}-DELETE"):
                    names.add(name)
            self._posted_column_names = names
        return self._posted_column_names


class IndexInline(VersionedInlineMixin, admin.TabularInline):
    model = Index
    form = IndexInlineForm
    formset = IndexInlineFormSet
    fields = [
        "name",
        "key_columns",
        "include_columns",
        "is_unique",
        "is_constraint",
        "method",
        "condition",
        "description",
    ]
    extra = 0
    show_change_link = True

    def get_readonly_fields(self, request, obj=None):
        if request.user.has_perm("catalog.write_sql_condition"):
            return []
        return ["condition"]

    # A user who may only view the entity sees every field read-only; the column lists are form fields, not
    # model attributes, so the admin looks them up here (it showed "None" without these).
    @admin.display(description="Columns")
    def key_columns(self, index):
        return index_columns_spec(index)

    @admin.display(description="Include")
    def include_columns(self, index):
        return index_columns_spec(index, included=True)


class RetentionPolicyInline(VersionedInlineMixin, admin.TabularInline):
    model = RetentionPolicy
    fields = ["name", "anchor_column", "keep_for", "keep_unit", "action", "regulation", "legal_hold"]
    extra = 0
    show_change_link = True

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "anchor_column":
            entity_id = request.resolver_match.kwargs.get("object_id")
            kwargs["queryset"] = Column.objects.filter(entity_id=entity_id).select_related("entity")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class HasPIIFilter(admin.SimpleListFilter):
    title = "personal data"
    parameter_name = "has_pii"

    def lookups(self, request, model_admin):
        return [("yes", "Has PII columns"), ("no", "No PII columns")]

    def queryset(self, request, queryset):
        pii = Column.objects.exclude(pii_category=PIICategory.NONE).values("entity_id")
        if self.value() == "yes":
            return queryset.filter(pk__in=pii)
        if self.value() == "no":
            return queryset.exclude(pk__in=pii)
        return queryset


@admin.register(Entity)
class EntityAdmin(LineageMixin, CodegenMixin, SchemaDDLMixin, PartialEditMixin, CatalogModelAdmin):
    resource_classes = [EntityResource]
    form = EntityForm
    # The change page links to the entity's DDL.
    change_form_template = "admin/catalog/entity/change_form.html"
    partial_permission = ENTITY_COMPLIANCE
    partial_fields = ENTITY_COMPLIANCE_FIELDS
    list_display = [
        "entity_name",
        "store_name",
        "domain",
        "kind",
        "owner_name",
        "column_count",
        "pii_count",
        "retention",
        "sensitivity",
        "legal_hold",
    ]
    list_filter = [
        "datastore",
        "domain",
        ("owner", admin.RelatedOnlyFieldListFilter),
        HasPIIFilter,
        ("retention_policies__regulation", admin.RelatedOnlyFieldListFilter),
        "kind",
        "sensitivity",
        "legal_hold",
    ]
    list_select_related = ["datastore", "domain", "owner"]
    search_fields = ["name", "description", "datastore__name"]
    autocomplete_fields = ["datastore", "domain", "owner"]
    inlines = [ColumnInline, IndexInline, RetentionPolicyInline]
    actions = ["place_on_legal_hold", "release_legal_hold"]
    fieldsets = [
        (None, {"fields": ["datastore", "name", "kind", "domain", "owner", "description"]}),
        ("Governance", {"fields": ["sensitivity", "legal_hold"]}),
        ("Physical design", {"fields": ["has_audit_columns", "partition_column"], "classes": ["collapse"]}),
    ]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                column_total=Count("columns", distinct=True),
                pii_total=Count("columns", filter=~Q(columns__pii_category=PIICategory.NONE), distinct=True),
            )
            .prefetch_related("retention_policies")
            # An aggregate drops Meta.ordering (Django 3.1+): order again, so autocomplete pages are stable.
            .order_by("datastore__name", "name")
        )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "partition_column":
            entity_id = request.resolver_match.kwargs.get("object_id")
            kwargs["queryset"] = Column.objects.filter(entity_id=entity_id).select_related("entity")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    # Names may wrap at underscores, so the list fits a 1280 px window beside its filters.
    @admin.display(description="name", ordering="name")
    def entity_name(self, obj):
        return breakable(obj.name)

    @admin.display(description="data store", ordering="datastore__name")
    def store_name(self, obj):
        return breakable(obj.datastore.name)

    @admin.display(description="owner", ordering="owner__username")
    def owner_name(self, obj):
        return breakable(obj.owner.get_username()) if obj.owner_id else "—"

    @admin.display(description="columns", ordering="column_total")
    def column_count(self, obj):
        return obj.column_total

    @admin.display(description="PII", ordering="pii_total")
    def pii_count(self, obj):
        return obj.pii_total

    @admin.display(description="retention")
    def retention(self, obj):
        policies = obj.retention_policies.all()
        return ", ".join(f"{p.period_label} → {p.get_action_display().lower()}" for p in policies) or "—"

    def ddl_scope(self, obj):
        return obj.datastore, {str(obj.pk)}

    def lineage_rows(self, request, obj):
        return entity_lineage(obj, user=request.user)

    def save_formset(self, request, form, formset, change):
        super().save_formset(request, form, formset, change)
        if formset.model is not Index:
            return
        for index_form in formset.forms:
            # Only rows the user could edit and did: a view-only or untouched row has nothing to save.
            if index_form in formset.deleted_forms or not index_form.has_changed():
                continue
            added = "key_columns" not in index_form.initial
            if added or {"key_columns", "include_columns"}.intersection(index_form.changed_data):
                index_columns_set(
                    index=index_form.instance,
                    key_columns=index_form.cleaned_data["key_columns"],
                    included_columns=index_form.cleaned_data["include_columns"],
                    user=request.user,
                )

    @admin.action(permissions=["compliance"], description="Place selected entities on legal hold")
    def place_on_legal_hold(self, request, queryset):
        self._set_legal_hold(request, queryset, True)

    @admin.action(permissions=["compliance"], description="Release legal hold on selected entities")
    def release_legal_hold(self, request, queryset):
        self._set_legal_hold(request, queryset, False)

    def has_compliance_permission(self, request):
        return request.user.has_perm(ENTITY_COMPLIANCE)

    def _set_legal_hold(self, request, queryset, hold: bool):
        changed = 0
        for entity in queryset.filter(legal_hold=not hold):
            entity.legal_hold = hold
            entity._history_user = request.user
            entity.save()
            changed += 1
        state = "placed on legal hold" if hold else "released from legal hold"
        self.message_user(
            request, f"{changed} entit{'y' if changed == 1 else 'ies'} {state}.", messages.SUCCESS
        )


@admin.register(Column)
class ColumnAdmin(LineageMixin, PartialEditMixin, CatalogModelAdmin):
    resource_classes = [ColumnResource]
    form = ColumnForm
    change_form_template = "admin/catalog/column/change_form.html"
    partial_permission = COLUMN_PII
    partial_fields = COLUMN_PII_FIELDS
    # Keys in one column and the data store left to the filter, so masking and references fit at 1280 px.
    list_display = [
        "column_name",
        "entity_name",
        "sql_type",
        "keys",
        "pii_category",
        "masking_strategy",
        "reference",
    ]
    list_filter = [
        "entity__datastore",
        "data_type",
        "pii_category",
        "masking_strategy",
        "nullable",
        "is_unique",
        "generation",
    ]
    list_select_related = ["entity__datastore", "references__entity"]
    search_fields = ["name", "entity__name", "description"]
    autocomplete_fields = ["entity", "references"]
    fieldsets = [
        (None, {"fields": ["entity", "name", "position", "description"]}),
        ("Type", {"fields": ["data_type", "length", "precision", "scale", "nullable", "default_value"]}),
        (
            "Keys",
            {
                "fields": [
                    "primary_key_position",
                    "is_unique",
                    "references",
                    ("on_delete", "on_update"),
                    "deferrable",
                ]
            },
        ),
        ("Key generation", {"fields": ["generation", "identity_options"]}),
        ("Checks", {"fields": ["min_value", "max_value", "min_length", "pattern", "allowed_values"]}),
        ("Personal data", {"fields": ["pii_category", "masking_strategy"]}),
    ]

    @admin.display(description="data store", ordering="entity__datastore__name")
    def datastore(self, obj):
        return obj.entity.datastore

    @admin.display(description="type", ordering="data_type")
    def sql_type(self, obj):
        return obj.sql_type

    @admin.display(description="name", ordering="name")
    def column_name(self, obj):
        return breakable(obj.name)

    @admin.display(description="entity", ordering="entity__name")
    def entity_name(self, obj):
        return breakable(obj.entity.qualified_name)

    @admin.display(description="keys", ordering="primary_key_position")
    def keys(self, obj):
        """'PK 1', 'unique', 'identity', 'NOT NULL', or '—' for a nullable column that is no key."""
        roles = [f"PK {obj.primary_key_position}"] if obj.primary_key_position is not None else []
        roles += ["unique"] if obj.is_unique else []
        roles += [obj.get_generation_display()] if obj.generation else []
        roles += ["NOT NULL"] if not obj.nullable and obj.primary_key_position is None else []
        return ", ".join(roles) or "—"

    @admin.display(description="references", ordering="references__entity__name")
    def reference(self, obj):
        return breakable(obj.references) if obj.references_id else "—"

    def get_search_results(self, request, queryset, search_term):
        # The autocomplete for foreign keys offers key columns only: a FK must point at one.
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if request.GET.get("field_name") == "references":
            queryset = queryset.filter(Q(is_unique=True) | Q(primary_key_position__isnull=False))
        return queryset, may_have_duplicates

    def lineage_rows(self, request, obj):
        return column_lineage(obj, user=request.user)

    def delete_model(self, request, obj):
        from catalog.services import column_delete

        column_delete(column=obj, user=request.user)


class IndexColumnInline(VersionedInlineMixin, admin.TabularInline):
    model = IndexColumn
    fields = ["position", "column", "order", "included"]
    extra = 0

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "column":
            index_id = request.resolver_match.kwargs.get("object_id")
            kwargs["queryset"] = Column.objects.filter(entity__indexes=index_id).select_related("entity")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Index)
class IndexAdmin(CatalogModelAdmin):
    resource_classes = [IndexResource]
    list_display = ["name", "entity", "key", "is_unique", "method", "short_condition"]
    list_filter = ["entity__datastore", "method", "is_unique"]
    list_select_related = ["entity__datastore"]
    search_fields = ["name", "entity__name"]
    autocomplete_fields = ["entity"]
    inlines = [IndexColumnInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("index_columns__column")

    def get_readonly_fields(self, request, obj=None):
        if request.user.has_perm("catalog.write_sql_condition"):
            return []
        return ["condition"]

    @admin.display(description="columns")
    def key(self, obj):
        return index_columns_spec(obj)

    @admin.display(description="condition", ordering="condition")
    def short_condition(self, obj):
        return text_preview(obj.condition)
