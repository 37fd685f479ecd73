"""The two steps of an upload: the integration and the file, then the columns (headers read from the file)."""

from django import forms

from integrations.models import Integration
from payouts import parsing
from payouts.models import DATE_FORMATS, Delimiter

# A first upload's guesses, by header words (the remembered mapping wins from the second on).
GUESSES = {"reference_column": ("order reference", "order id", "order number", "reference", "order"),
           "amount_column": ("amount", "gross", "total", "sale"),
           "fee_column": ("fee", "commission", "charge"),
           "date_column": ("date", "posted", "settled"),
           "currency_column": ("currency",),
           "payout_column": ("payout", "settlement", "disbursement")}
OPTIONAL = ("currency_column", "payout_column")


class UploadForm(forms.Form):
    integration = forms.ModelChoiceField(queryset=Integration.objects.none())
    file = forms.FileField(help_text=f"CSV, UTF-8, at most {parsing.MAX_BYTES // 1024 // 1024} MB and "
                                     f"{parsing.MAX_ROWS} lines.")

    def __init__(self, *args, integrations, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["integration"].queryset = integrations

    def clean_file(self):
        uploaded = self.cleaned_data["file"]
        data = uploaded.read(parsing.MAX_BYTES + 1)
        try:
            self.cleaned_data["text"] = parsing.read_text(data, name=f"“{uploaded.name}”")
        except parsing.FileRefused as exc:
            raise forms.ValidationError(str(exc)) from None
        return uploaded


class MappingForm(forms.Form):
    delimiter = forms.ChoiceField(choices=Delimiter.choices)
    reference_column = forms.ChoiceField(label="Order reference")
    amount_column = forms.ChoiceField(label="Amount")
    fee_column = forms.ChoiceField(label="Fee")
    date_column = forms.ChoiceField(label="Date")
    currency_column = forms.ChoiceField(label="Currency", required=False,
                                        help_text="None: each line takes its order's currency.")
    payout_column = forms.ChoiceField(label="Payout id", required=False)
    date_format = forms.ChoiceField(choices=DATE_FORMATS)
    decimal_comma = forms.BooleanField(required=False, label="Decimal comma (1.234,56)")

    def __init__(self, *args, headers, **kwargs):
        super().__init__(*args, **kwargs)
        for name in GUESSES:
            blank = [("", "— none —")] if name in OPTIONAL else [("", "— choose —")]
            self.fields[name].choices = blank + [(header, header) for header in headers if header]

    def clean(self):
        cleaned = super().clean()
        chosen = [cleaned.get(name) for name in GUESSES if cleaned.get(name)]
        if len(chosen) != len(set(chosen)):
            raise forms.ValidationError("A column is chosen twice: each column holds one thing.")
        return cleaned


def initial_mapping(headers, remembered, delimiter):
    """The remembered mapping where the file has its columns, else a guess from the header words."""
    initial = {"delimiter": delimiter, "date_format": "%Y-%m-%d", "decimal_comma": False}
    if remembered:
        initial.update({k: v for k, v in remembered.items() if k in ("date_format", "decimal_comma")})
    lowered = {header.lower(): header for header in headers if header}
    taken = set()
    for name, words in GUESSES.items():
        column = (remembered or {}).get(name) or ""
        if column in headers:
            initial[name] = column
            taken.add(column)
            continue
        for word in words:
            found = next((h for low, h in lowered.items() if word in low and h not in taken), None)
            if found:
                initial[name] = found
                taken.add(found)
                break
    return initial
