from django.apps import AppConfig


class LeadmatrixConfig(AppConfig):
    """Project-wide pieces: roles, the home page, error pages."""

    name = "config"
    label = "leadmatrix"
    verbose_name = "Leadmatrix"
