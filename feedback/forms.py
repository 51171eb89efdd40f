"""Forms that clean what sales enters; the rules live in feedback/dispositions.py."""

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Div, Field, Layout
from django import forms

from feedback.models import Disposition, QueueSettings, Reason


class DispositionForm(forms.Form):
    outcome = forms.ChoiceField(choices=Disposition.Outcome.choices, widget=forms.RadioSelect)
    reason = forms.ModelChoiceField(
        queryset=Reason.objects.filter(active=True),
        required=False,
        empty_label="Choose a reason",
        help_text="Required when you disqualify a lead or send it back to nurture.",
    )
    amount = forms.DecimalField(
        required=False, min_value=0, max_digits=14, decimal_places=2, help_text="For an opportunity or a win."
    )
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), max_length=4000)
    next_follow_up = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    expected_owner = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            Field("outcome"),
            Div(Div("reason", css_class="col-md-6"), Div("amount", css_class="col-md-6"), css_class="row"),
            "note",
            Div(Div("next_follow_up", css_class="col-md-6"), css_class="row"),
            "expected_owner",
        )


class ReasonForm(forms.ModelForm):
    class Meta:
        model = Reason
        fields = ["label", "code"]
        help_texts = {"code": "Short and stable, e.g. no-budget; reports and imports use it."}


class QueueSettingsForm(forms.ModelForm):
    class Meta:
        model = QueueSettings
        fields = ["cool_off_days", "warn_hours"]
        labels = {"cool_off_days": "Cool-off (days)", "warn_hours": "Warning before the SLA runs out (hours)"}


class ReportFilterForm(forms.Form):
    """The filters every report shares; a range that ends before it starts is refused, not swapped."""

    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="From")
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="To")
    source = forms.CharField(required=False, max_length=60)
    industry = forms.CharField(required=False, max_length=60)
    grade = forms.ChoiceField(required=False, choices=[("", "Any grade")] + [(g, g) for g in "ABCD"])
    version = forms.IntegerField(required=False, min_value=1, label="Matrix version")
    period = forms.ChoiceField(required=False, choices=[("week", "Per week"), ("month", "Per month")])

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and end < start:
            raise forms.ValidationError(
                f"The range ends ({end:%d %b %Y}) before it starts ({start:%d %b %Y}); pick an end on or after the start."
            )
        return data

    def filters(self):
        """The cleaned filters, with defaults for what was left empty (the last 90 days)."""
        from dataclasses import replace

        from feedback.reports import ReportFilters, default_filters

        base = default_filters()
        data = self.cleaned_data
        start = data.get("start") or (
            base.start if not data.get("end") else data["end"] - (base.end - base.start)
        )
        return replace(
            ReportFilters(start=start, end=data.get("end") or max(base.end, start)),
            source=data.get("source", "").strip(),
            industry=data.get("industry", "").strip(),
            grade=data.get("grade", ""),
            version=data.get("version"),
            period=data.get("period") or "week",
        )
