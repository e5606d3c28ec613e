"""Admin for data quality: rules (written by stewards and implied by the catalog), Run checks now, check runs
with every result, an entity's quality page with its score trend, a data store's overview, schedules,
alerting and incidents.

The pages are thin: they call `quality.services` and `quality.rules`, and read with small queries, each list
page costing a constant number of queries. Samples on results were masked when they were taken.
"""

from quality.admin.common import entities_with_quality, rules_with_latest_result
from quality.admin.forms import ColumnNamesField, RuleForm, RuleParamsField, params_help, params_yaml
from quality.admin.rules import RuleAdmin
from quality.admin.runs import CheckRunAdmin
from quality.admin.schedules import IncidentAdmin, QualityAlertingAdmin, QualityScheduleAdmin
from quality.admin.trend import TrendChart, trend_chart

__all__ = [
    "RuleParamsField",
    "ColumnNamesField",
    "RuleForm",
    "RuleAdmin",
    "CheckRunAdmin",
    "QualityScheduleAdmin",
    "QualityAlertingAdmin",
    "IncidentAdmin",
    "TrendChart",
    "trend_chart",
    "params_yaml",
    "params_help",
    "rules_with_latest_result",
    "entities_with_quality",
]
