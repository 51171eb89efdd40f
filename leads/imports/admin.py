"""Imports in the admin: read-only, as a record of who brought which file in and how it went."""

from django.contrib import admin

from leads.imports.models import ImportJob, SavedMapping


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ["original_name", "kind", "status", "total", "created", "updated", "duplicate", "rejected", "created_by", "created_at"]  # fmt: skip
    list_filter = ["kind", "status"]
    search_fields = ["original_name", "sha256"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SavedMapping)
class SavedMappingAdmin(admin.ModelAdmin):
    """Remembered mappings; deleting one makes the next file with those columns start from the automatic match."""

    list_display = ["kind", "headers", "saved_by", "saved_at"]
    list_filter = ["kind"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
