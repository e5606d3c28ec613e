"""How data moves into catalog entities: pipelines, their field mappings, runs, rejected rows and lineage.

Pipelines and mappings are configuration: versioned and audited like the catalog. Runs, rejected rows and
lineage edges are records the runner writes; a finished run never changes.
"""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from catalog.models.base import VersionedModel
from catalog.validators import DESCRIPTION_MAX_LENGTH, text_limit
from core.models import RunKind, RunRecord
from pipelines.choices import FILE_KINDS, ErrorKind, ExtractMode, LoadMode, RunStatus, RunTrigger, SourceKind

# A source query is parsed by the SQL gate on every save and run: bounded like any other text.
SOURCE_QUERY_MAX_LENGTH = 100_000

__all__ = ["Pipeline", "FieldMapping", "PipelineState", "PipelineRun", "RejectedRow", "LineageEdge"]

FINISHED = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)
ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)

validate_pipeline_name = RegexValidator(
    r"^[A-Za-z][A-Za-z0-9_-]{0,99}$",
    _("Use letters, digits, '_' and '-', starting with a letter (at most 100 characters)."),
)


class Pipeline(VersionedModel):
    """Moves rows from one source into one catalog entity: extract, transform, validate, load."""

    name = models.CharField(max_length=100, unique=True, validators=[validate_pipeline_name])
    description = models.TextField(
        blank=True, max_length=DESCRIPTION_MAX_LENGTH, validators=[text_limit(DESCRIPTION_MAX_LENGTH)]
    )
    enabled = models.BooleanField(default=True, help_text=_("Disabled pipelines keep their schedule idle."))
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    target = models.ForeignKey(
        "catalog.Entity",
        on_delete=models.PROTECT,
        related_name="pipelines",
        help_text=_("The entity the rows are loaded into; its table must have been applied."),
    )

    # Source
    source_kind = models.CharField(max_length=20, choices=SourceKind.choices, default=SourceKind.CSV)
    source_path = models.CharField(
        max_length=500,
        blank=True,
        help_text=_("File path relative to CUSTODIAN_IMPORT_ROOT (or upload a file below)."),
    )
    source_file = models.FileField(
        upload_to="pipeline_sources/", blank=True, help_text=_("An uploaded file.")
    )
    csv_delimiter = models.CharField(
        _("CSV delimiter"), max_length=2, default=",", help_text=_("One character; \\t for tab.")
    )
    csv_quotechar = models.CharField(_("CSV quote character"), max_length=1, default='"', blank=True)
    encoding = models.CharField(max_length=40, default="utf-8")
    has_header = models.BooleanField(
        default=True, help_text=_("Without a header, fields are named f1, f2 ...")
    )
    null_markers = models.JSONField(
        default=list, blank=True, help_text=_('Values read as NULL, e.g. ["", "NULL", "n/a"].')
    )
    sheet_name = models.CharField(max_length=100, blank=True, help_text=_("XLSX only; default the first."))
    source_datastore = models.ForeignKey(
        "catalog.DataStore",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="pipeline_sources",
        verbose_name=_("source data store"),
    )
    source_table = models.CharField(max_length=130, blank=True, help_text=_("table or schema.table"))
    source_query = models.TextField(
        blank=True,
        max_length=SOURCE_QUERY_MAX_LENGTH,
        validators=[text_limit(SOURCE_QUERY_MAX_LENGTH)],
        help_text=_("One SELECT statement; run read-only."),
    )

    # Modes
    extract_mode = models.CharField(max_length=20, choices=ExtractMode.choices, default=ExtractMode.FULL)
    watermark_field = models.CharField(
        max_length=100, blank=True, help_text=_("Incremental only: the source field that grows with changes.")
    )
    load_mode = models.CharField(max_length=20, choices=LoadMode.choices, default=LoadMode.APPEND)
    key_columns = models.JSONField(
        default=list,
        blank=True,
        help_text=_("Target columns that identify a row (upsert, SCD2); empty means the primary key."),
    )
    reject_threshold_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=5,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text=_("The run fails, loading nothing, when more than this share of rows is rejected."),
    )
    batch_size = models.PositiveIntegerField(
        default=50_000, validators=[MinValueValidator(100), MaxValueValidator(1_000_000)]
    )
    max_retries = models.PositiveSmallIntegerField(
        default=3, validators=[MaxValueValidator(10)], help_text=_("Retries after transient errors only.")
    )

    run_quality = models.BooleanField(
        _("check quality after loading"),
        default=False,
        help_text=_(
            "Run the target entity's quality rules after each load; a failing error rule fails the run."
        ),
    )

    # When
    schedule = models.CharField(
        max_length=100, blank=True, help_text=_("Cron expression, e.g. '0 2 * * *' (UTC); empty: none.")
    )
    run_after = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="followers",
        help_text=_("Run this pipeline whenever that pipeline succeeds."),
    )

    class Meta:
        ordering = ["name"]
        permissions = [("run_pipeline", "Can run, retry and cancel pipelines")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_file_source(self) -> bool:
        return self.source_kind in FILE_KINDS

    def clean(self):
        from pipelines.config import pipeline_config_errors

        # The pipeline's own settings; with its mappings it is checked as a whole by pipelines.spec.
        errors = pipeline_config_errors(self, with_mappings=False)
        if errors:
            raise ValidationError(errors)


class FieldMapping(VersionedModel):
    """Where one target column's value comes from, and the ordered transform steps applied to it."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="mappings")
    column = models.ForeignKey(
        "catalog.Column",
        on_delete=models.PROTECT,
        related_name="pipeline_mappings",
        help_text=_("Target column."),
    )
    source_field = models.CharField(max_length=200, blank=True, help_text=_("Field name in the source."))
    constant = models.TextField(
        null=True, blank=True, help_text=_("A fixed value instead of a source field (empty: none).")
    )
    steps = models.JSONField(
        default=list,
        blank=True,
        help_text=_('Transform steps applied in order, e.g. ["trim", {"op": "lower"}].'),
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["pipeline", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["pipeline", "column"], name="pipelines_mapping_one_per_column")
        ]

    def __str__(self) -> str:
        return f"{self.pipeline_id and self.pipeline.name}: {self.source_label} → {self.column.name}"

    @property
    def source_label(self) -> str:
        if self.source_field:
            return self.source_field
        return "∅" if self.constant is None else repr(self.constant)

    def clean(self):
        from pipelines.config import generated_always_error
        from pipelines.transforms import steps_normalize

        errors = {}
        if self.constant == "":
            self.constant = None  # an empty box in a form means "no constant"
        if self.source_field and self.constant is not None:
            errors["constant"] = _("Give a source field or a constant, not both.")
        try:
            self.steps = steps_normalize(self.steps)
        except ValueError as exc:
            errors["steps"] = str(exc)
        if self.pipeline_id and self.column_id and self.column.entity_id != self.pipeline.target_id:
            errors["column"] = _("The column must belong to the pipeline's target entity.")
        elif self.column_id and generated_always_error(self.column):
            errors["column"] = generated_always_error(self.column)
        if errors:
            raise ValidationError(errors)


class PipelineState(models.Model):
    """What the runner remembers between runs: the high-water mark and where scheduling stands."""

    pipeline = models.OneToOneField(Pipeline, on_delete=models.CASCADE, related_name="state")
    watermark = models.TextField(null=True, blank=True)
    file_position = models.JSONField(
        default=dict, blank=True, help_text=_("Where an append-only source file was read up to.")
    )
    next_run_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"state of {self.pipeline}"


class PipelineRun(RunRecord):
    """One run of a pipeline: its state while it runs, kept as it ended once finished."""

    run_kind = RunKind(
        job="pipelines.jobs.pipeline_run_job",
        queue="etl",
        lost_note="PostgreSQL rolled back its open transaction, so the target is as it was; retry the run.",
        unclaimed_note="No worker took this run within 6 hours (is an rqworker for the etl queue running?).",
        unclaimed_after=timedelta(hours=6),
        # Its transaction rolled back: whatever it had copied is not in the target.
        lost_fields={
            "error_kind": ErrorKind.LOST,
            "phase": "",
            "rows_loaded": 0,
            "rows_inserted": 0,
            "rows_updated": 0,
        },
        cancelled_fields={"error_kind": ErrorKind.CANCELLED},
    )

    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="runs")
    pipeline_version = models.PositiveIntegerField(help_text=_("The pipeline's version when it was queued."))
    config = models.JSONField(default=dict, help_text=_("The pipeline as it was run (the YAML form)."))
    trigger = models.CharField(max_length=20, choices=RunTrigger.choices, default=RunTrigger.MANUAL)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    retry_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    job_id = models.CharField(max_length=64, blank=True)

    phase = models.CharField(max_length=20, blank=True, help_text=_("What the run is doing now."))
    progress = models.FloatField(null=True, blank=True, help_text=_("0 to 1 when the source size is known."))
    rows_extracted = models.BigIntegerField(default=0)
    rows_loaded = models.BigIntegerField(default=0)
    rows_inserted = models.BigIntegerField(default=0)
    rows_updated = models.BigIntegerField(default=0)
    rows_rejected = models.BigIntegerField(default=0)
    timings = models.JSONField(default=dict, help_text=_("Seconds per phase."))
    rows_per_second = models.FloatField(null=True, blank=True)
    watermark_from = models.TextField(null=True, blank=True)
    watermark_to = models.TextField(null=True, blank=True)
    error_kind = models.CharField(max_length=20, choices=ErrorKind.choices, blank=True)
    warnings = models.JSONField(default=list)
    lineage = models.JSONField(default=list, help_text=_("Source fields → target columns, with steps."))

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["pipeline"],
                condition=Q(status__in=ACTIVE),
                name="pipelines_one_active_run",
                violation_error_message=_("This pipeline already has a queued or running run."),
            )
        ]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="pipelines_run_status_hb")]

    def __str__(self) -> str:
        return f"{self.pipeline.name} #{self.pk} ({self.get_status_display()})"


class RejectedRow(models.Model):
    """A source row that failed validation: its number, raw values and a reason per field."""

    run = models.ForeignKey(PipelineRun, on_delete=models.CASCADE, related_name="rejected_rows")
    row_number = models.BigIntegerField(help_text=_("Record number in the source, from 1."))
    raw = models.JSONField(help_text=_("The source values as read."))
    errors = models.JSONField(help_text=_("Target column → reason."))

    class Meta:
        ordering = ["run", "row_number"]
        indexes = [models.Index(fields=["run", "row_number"], name="pipelines_reject_run_row")]

    def __str__(self) -> str:
        return f"run #{self.run_id} row {self.row_number}"


class LineageEdge(models.Model):
    """Source field → target column through a pipeline, as last recorded by a successful run."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="lineage_edges")
    column = models.ForeignKey("catalog.Column", on_delete=models.CASCADE, related_name="lineage_edges")
    source = models.CharField(max_length=500, help_text=_("Where the pipeline reads (file or table)."))
    source_field = models.CharField(max_length=200, blank=True)
    steps = models.TextField(blank=True, help_text=_("The transform steps, in words."))
    last_run = models.ForeignKey(PipelineRun, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["pipeline", "column"]
        constraints = [
            models.UniqueConstraint(
                fields=["pipeline", "column", "source_field"], name="pipelines_lineage_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.source_field or '(constant)'} → {self.column}"


__all__ += ["FINISHED", "ACTIVE", "ErrorKind", "ExtractMode", "LoadMode", "RunTrigger", "SourceKind"]


def _schedule_changed(sender, instance: Pipeline, **kwargs) -> None:
    """A scheduled pipeline needs the scheduler's tick job: make sure it exists once this save commits."""
    if not instance.schedule or settings.CUSTODIAN_JOBS_SYNC:
        return
    from django.db import transaction

    def ensure():
        from core.scheduler import scheduler_tick_ensure

        try:
            scheduler_tick_ensure()
        except Exception:  # Redis down: `manage.py pipelines_tick` or the next save starts it
            import logging

            logging.getLogger(__name__).warning("Could not schedule the pipelines tick job", exc_info=True)

    transaction.on_commit(ensure)


models.signals.post_save.connect(_schedule_changed, sender=Pipeline, dispatch_uid="pipelines_schedule_tick")
