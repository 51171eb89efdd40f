"""On PostgreSQL, the audit tables refuse UPDATE and DELETE: a trigger raises before any row changes.

The audit tables are the hash chain (`audit_auditentry`) and django-simple-history's tables of the
matrix and proposal models. SQLite has no such guard; the hash chain still shows tampering there.
"""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION leadmatrix_refuse_audit_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
"""


def audit_tables(apps) -> list[str]:
    tables = [apps.get_model("audit", "AuditEntry")._meta.db_table]
    for model in apps.get_app_config("scoring").get_models():
        if model.__name__.startswith("Historical"):
            tables.append(model._meta.db_table)
    return sorted(tables)


def add_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION, params=None)  # no parameters: the % in RAISE stays as it is
    for table in audit_tables(apps):
        name = schema_editor.quote_name(table)
        schema_editor.execute(f"DROP TRIGGER IF EXISTS append_only ON {name}")
        schema_editor.execute(
            f"CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON {name} "
            "FOR EACH ROW EXECUTE FUNCTION leadmatrix_refuse_audit_change()"
        )


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in audit_tables(apps):
        schema_editor.execute(f"DROP TRIGGER IF EXISTS append_only ON {schema_editor.quote_name(table)}")
    schema_editor.execute("DROP FUNCTION IF EXISTS leadmatrix_refuse_audit_change()")


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_chain"),
        ("scoring", "0004_governance"),
    ]

    operations = [migrations.RunPython(add_triggers, drop_triggers, elidable=False)]
