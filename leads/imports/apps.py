from django.apps import AppConfig


class ImportsConfig(AppConfig):
    """CSV imports of leads, activities and historical outcomes, with a mapping step."""

    name = "leads.imports"
    label = "imports"
    verbose_name = "CSV imports"
