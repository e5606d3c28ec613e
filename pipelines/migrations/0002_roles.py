"""Platform admins manage and run pipelines; stewards and compliance officers read them and their runs."""

from django.db import migrations

from catalog.roles import role_grant

READ = [
    "pipelines.view_pipeline",
    "pipelines.view_fieldmapping",
    "pipelines.view_pipelinerun",
    "pipelines.view_rejectedrow",
    "pipelines.view_lineageedge",
]
GRANTS = {
    "Data steward": READ,
    "Compliance officer": READ,
    "Platform admin": READ
    + [
        "pipelines.add_pipeline",
        "pipelines.change_pipeline",
        "pipelines.delete_pipeline",
        "pipelines.add_fieldmapping",
        "pipelines.change_fieldmapping",
        "pipelines.delete_fieldmapping",
        "pipelines.run_pipeline",
    ],
}


def grant(apps, schema_editor):
    role_grant(apps, schema_editor, GRANTS)


class Migration(migrations.Migration):
    dependencies = [("pipelines", "0001_initial"), ("catalog", "0007_column_view_pii")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
