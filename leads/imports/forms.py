"""The upload form and the mapping form (one select per column of the file)."""

from __future__ import annotations

from pathlib import Path

from django import forms
from django.conf import settings

from leads.imports.mapping import (
    ATTRIBUTE,
    DATE_TARGETS,
    SKIP,
    keeps_attributes,
    mapping_problems,
    targets_for,
)
from leads.imports.models import ImportJob

SPREADSHEET_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".ods", ".numbers"}


class UploadForm(forms.Form):
    kind = forms.ChoiceField(
        label="What the file holds",
        choices=ImportJob.Kind.choices,
        initial=ImportJob.Kind.LEADS,
        widget=forms.RadioSelect,
    )
    file = forms.FileField(
        label="CSV file",
        help_text="Comma, semicolon or tab separated; UTF-8, UTF-16 or Latin-1; the first line names the columns.",
    )

    @staticmethod
    def too_large_message() -> str:
        return (
            f"The file is larger than {settings.LEADMATRIX['IMPORT_MAX_MB']} MB; split it into smaller files."
        )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size == 0:
            raise forms.ValidationError("The file is empty.")
        if upload.size > settings.LEADMATRIX["IMPORT_MAX_MB"] * 1024 * 1024:
            raise forms.ValidationError(self.too_large_message())
        if Path(upload.name or "").suffix.lower() in SPREADSHEET_SUFFIXES:
            raise forms.ValidationError(
                "This is a spreadsheet, not a CSV file. Save it as CSV (File → Save as → CSV) and upload that."
            )
        return upload


class MappingForm(forms.Form):
    """One choice per column: a field, keep as attribute, or skip; plus the date order when dates are read."""

    def __init__(self, *args, job: ImportJob, **kwargs):
        super().__init__(*args, **kwargs)
        self.job = job
        choices = [(t.key, t.label + (" (required)" if t.required else "")) for t in targets_for(job.kind)]
        keep = [(ATTRIBUTE, "Keep as attribute" if job.kind == ImportJob.Kind.LEADS else "Keep as property")]
        choices = choices + (keep if keeps_attributes(job.kind) else []) + [(SKIP, "Skip")]
        for index, header in enumerate(job.headers):
            self.fields[f"col_{index}"] = forms.ChoiceField(
                label=header,
                choices=choices,
                required=False,
                initial=job.mapping.get(header, SKIP),
                widget=forms.Select(attrs={"class": "form-select form-select-sm"}),
            )
        if job.kind in DATE_TARGETS or keeps_attributes(job.kind):
            self.fields["day_first"] = forms.TypedChoiceField(
                label="Dates like 04/05/2024 are",
                choices=[("1", "4 May (day first)"), ("0", "5 April (month first)")],
                coerce=lambda v: v == "1",
                initial="1" if job.options.get("day_first", True) else "0",
                widget=forms.Select(attrs={"class": "form-select"}),
            )
        self.fields["remember"] = forms.BooleanField(
            label="Remember this mapping for files with the same columns",
            required=False,
            initial=True,
            widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
        )

    def columns(self):
        """(header, bound field) per column, in file order, for the mapping table."""
        return [(header, self[f"col_{index}"]) for index, header in enumerate(self.job.headers)]

    def clean(self):
        data = super().clean()
        mapping = {header: data.get(f"col_{index}") or SKIP for index, header in enumerate(self.job.headers)}
        for problem in mapping_problems(kind=self.job.kind, mapping=mapping):
            self.add_error(None, problem)
        data["mapping"] = mapping
        data["options"] = {"day_first": data.get("day_first", True)}
        return data
