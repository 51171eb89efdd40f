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
