"""Forms for editing a draft and deciding on proposals; the rules stay in models and services."""

from __future__ import annotations

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Field, Layout, Row
from django import forms

from scoring.fields import field_choices
from scoring.models import (
    ActivityWeight,
    Bucket,
    FitCriterion,
    PersonaWeight,
    RoutingCell,
    ScoreBand,
    ScoringMatrix,
)


class ItemForm(forms.ModelForm):
    """An edit of one row: the row's fields, the revision it was loaded at, and an optional reason."""

    revision = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    reason = forms.CharField(
        required=False,
        max_length=100,
        label="Reason",
        widget=forms.TextInput(attrs={"placeholder": "Why (optional, kept in the history)"}),
    )
    columns: list[list[str]] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound and self.instance.pk:
            self.initial.setdefault("revision", self.instance.revision)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True
        self.helper.layout = Layout(
            Row(*[Column(*[Field(name) for name in group], css_class="col-sm") for group in self.columns]),
            Row(Column(Field("reason"), css_class="col-12")),
            Field("revision"),
        )

    def values(self) -> dict:
        """The edited model fields, for the service to apply on the row as it is in the database."""
        return {name: self.cleaned_data[name] for name in self._meta.fields}


class WeightForm(ItemForm):
    columns = [
        ["points"],
        ["half_life_days"],
        ["cap"],
        ["floor_bucket"],
        ["ceiling_bucket"],
        ["override_days"],
    ]

    class Meta:
        model = ActivityWeight
        fields = ["points", "half_life_days", "cap", "floor_bucket", "ceiling_bucket", "override_days"]
        labels = {"half_life_days": "Half-life (days)", "override_days": "Override days"}
        help_texts = {name: "" for name in fields}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        buckets = Bucket.objects.filter(matrix_id=self.instance.matrix_id)
        for name in ("floor_bucket", "ceiling_bucket"):
            self.fields[name].queryset = buckets
            self.fields[name].empty_label = "none"


class MultiplierForm(ItemForm):
    columns = [["multiplier"]]

    class Meta:
        model = PersonaWeight
        fields = ["multiplier"]


class CriterionForm(ItemForm):
    columns = [["label"], ["field"], ["operator"], ["value"], ["value_to"], ["points"]]

    class Meta:
        model = FitCriterion
        fields = ["label", "field", "operator", "value", "value_to", "points"]
        help_texts = {"field": "", "value": "", "value_to": "", "points": ""}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["field"].widget = forms.TextInput(attrs={"list": "lead-fields"})
        self.fields["field"].help_text = "Or attributes.&lt;column&gt;"


class NewCriterionForm(CriterionForm):
    """A criterion to add: no revision yet."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        del self.fields["revision"]
        self.helper.layout.fields.pop()  # the revision field


class BucketForm(ItemForm):
    columns = [["name"], ["action"], ["sla_hours"], ["priority"], ["in_queue"]]

    class Meta:
        model = Bucket
        fields = ["name", "action", "sla_hours", "priority", "in_queue"]
        labels = {"sla_hours": "SLA (hours)", "priority": "Priority", "in_queue": "Sales queue"}
        help_texts = {"priority": "", "sla_hours": ""}


class BandForm(ItemForm):
    columns = [["low"], ["high"]]

    class Meta:
        model = ScoreBand
        fields = ["low", "high"]
        labels = {"low": "From", "high": "To"}
        help_texts = {"high": "Empty: open-ended"}


class CellForm(ItemForm):
    columns = [["bucket"]]

    class Meta:
        model = RoutingCell
        fields = ["bucket"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["bucket"].queryset = Bucket.objects.filter(matrix_id=self.instance.matrix_id)
        self.fields["bucket"].empty_label = None
        self.fields["reason"].widget.attrs["placeholder"] = "Why (optional)"


class SettingsForm(ItemForm):
    columns = [
        ["grade_a_min"],
        ["grade_b_min"],
        ["grade_c_min"],
        ["breadth_measure"],
        ["breadth_points"],
        ["breadth_window_days"],
        ["breadth_cap"],
    ]

    class Meta:
        model = ScoringMatrix
        fields = [
            "grade_a_min",
            "grade_b_min",
            "grade_c_min",
            "breadth_measure",
            "breadth_points",
            "breadth_window_days",
            "breadth_cap",
        ]
        labels = {
            "breadth_measure": "Breadth",
            "breadth_points": "Breadth points",
            "breadth_window_days": "Window (days)",
            "breadth_cap": "Breadth cap",
        }


class ProposeForm(forms.Form):
    summary = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        help_text="What changes and why, in a sentence or two. Both approvers read it first.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False


class RejectForm(forms.Form):
    comment = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), max_length=2000, label="Why send it back?"
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False


class CommentForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000, label="Comment")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False


def lead_field_choices() -> list[tuple[str, str]]:
    """The profile fields a criterion may test, for the field input's suggestions."""
    return field_choices()
