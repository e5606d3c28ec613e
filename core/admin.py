"""What the admin pages of every kind of run share: read-only records with a coloured status, a `#id`
label, their duration and, on each run's page, its state changes (templates/admin/core/run_events.html)."""

from django.contrib import admin
from django.utils.html import format_html

__all__ = ["ReadOnlyAdmin", "RunRecordAdmin", "run_label", "duration_text"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Pages of records nobody adds, changes or deletes from the admin (runs, applies, incidents, the audit
    trail, reports); who may view them is each admin's own business."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def duration_text(seconds: float | None) -> str:
    """A run's duration for people: '4.2 s', '3 min 05 s', '2 h 07 min'; '—' when unknown."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def run_label(word: str):
    """The list column that links a run by its number, headed with the kind's word ("run", "check" ...)."""

    @admin.display(description=word, ordering="pk")
    def label(self, obj):
        return f"#{obj.pk}"

    return label


class RunRecordAdmin(ReadOnlyAdmin):
    """Records of work that ran (applies, pipeline runs, check runs, retention executions, subject
    requests), read-only, newest first, paged without counting the whole table."""

    actions = None
    date_hierarchy = "created_at"
    list_per_page = 50
    show_full_result_count = False

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return format_html('<span class="run-badge run-{}">{}</span>', obj.status, obj.get_status_display())

    @admin.display(description="duration")
    def duration_display(self, obj):
        return duration_text(obj.duration)
