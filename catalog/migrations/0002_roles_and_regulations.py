"""Roles with their catalog permissions, and the regulations compliance rules refer to."""

from django.db import migrations

from catalog.roles import role_grant

CATALOG_MODELS = ["datastore", "domain", "entity", "column", "index", "indexcolumn", "regulation",
                  "retentionpolicy"]
STEWARD_EDITS = ["domain", "entity", "column", "index", "indexcolumn"]


def view(models):
    return [f"catalog.view_{m}" for m in models]


def manage(models):
    return [f"catalog.{action}_{m}" for m in models for action in ("add", "change", "delete", "view")]


GRANTS = {
    "Data steward": view(CATALOG_MODELS) + manage(STEWARD_EDITS) + ["catalog.write_sql_condition"],
    "Compliance officer": view(CATALOG_MODELS)
    + manage(["retentionpolicy", "regulation"])
    + [
        "catalog.change_column_pii",
        "catalog.change_entity_compliance",
        "catalog.view_audit_trail",
        "catalog.export_audit_trail",
    ],
    "Platform admin": view(CATALOG_MODELS) + manage(["datastore"]),
}

REGULATIONS = [
    ("GDPR", "General Data Protection Regulation (EU) 2016/679",
     "Personal data of people in the EU: lawful basis, storage limitation, access and erasure rights."),
    ("HIPAA", "Health Insurance Portability and Accountability Act (US)",
     "Protected health information held by covered entities and their business associates."),
    ("PCI DSS", "Payment Card Industry Data Security Standard",
     "Cardholder data: storage minimisation, masking of primary account numbers."),
    ("SOX", "Sarbanes-Oxley Act (US)", "Financial records and audit trails of public companies."),
    ("CCPA", "California Consumer Privacy Act",
     "Personal information of California residents: access, deletion and opt-out rights."),
]


def create_roles(apps, schema_editor):
    role_grant(apps, schema_editor, GRANTS)


def create_regulations(apps, schema_editor):
    Regulation = apps.get_model("catalog", "Regulation")
    for code, name, description in REGULATIONS:
        Regulation.objects.using(schema_editor.connection.alias).get_or_create(
            code=code, defaults={"name": name, "description": description}
        )


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(create_roles, migrations.RunPython.noop),
        migrations.RunPython(create_regulations, migrations.RunPython.noop),
    ]
