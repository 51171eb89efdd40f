"""The lead fields a fit criterion may test, and which operators suit each kind.

This is configuration shared by the matrix (validation, forms) and the rescoring SQL; it names lead
fields but imports nothing from the leads app, so the matrix stays independent of leads.
"""

from dataclasses import dataclass

TEXT = "text"
NUMBER = "number"

EQUALS = "equals"
ONE_OF = "one_of"
CONTAINS = "contains"
AT_LEAST = "at_least"
AT_MOST = "at_most"
BETWEEN = "between"
EMPTY = "empty"

OPERATOR_CHOICES = [
    (EQUALS, "equals"),
    (ONE_OF, "is one of"),
    (CONTAINS, "contains"),
    (AT_LEAST, "is at least"),
    (AT_MOST, "is at most"),
    (BETWEEN, "is between"),
    (EMPTY, "is empty"),
]
OPERATORS_FOR_KIND = {
    TEXT: {EQUALS, ONE_OF, CONTAINS, EMPTY},
    NUMBER: {EQUALS, AT_LEAST, AT_MOST, BETWEEN, EMPTY},
}
ATTRIBUTE_PREFIX = "attributes."


@dataclass(frozen=True)
class LeadField:
    name: str
    label: str
    kind: str


PROFILE_FIELDS: dict[str, LeadField] = {
    f.name: f
    for f in [
        LeadField("title", "Job title", TEXT),
        LeadField("seniority", "Seniority", TEXT),
        LeadField("department", "Department", TEXT),
        LeadField("industry", "Industry", TEXT),
        LeadField("company", "Company", TEXT),
        LeadField("company_size", "Company size (employees)", NUMBER),
        LeadField("revenue_potential", "Revenue potential", NUMBER),
        LeadField("country", "Country", TEXT),
        LeadField("source", "Source", TEXT),
        LeadField("email", "Email", TEXT),
    ]
}


def lookup_field(name: str) -> LeadField | None:
    """Return the field a criterion names: a profile field or `attributes.<key>` (text), else None."""
    if name.startswith(ATTRIBUTE_PREFIX):
        key = name[len(ATTRIBUTE_PREFIX) :]
        if key and all(c.isalnum() or c in "_- " for c in key):
            return LeadField(name, f"Attribute “{key}”", TEXT)
        return None
    return PROFILE_FIELDS.get(name)


def field_choices() -> list[tuple[str, str]]:
    """Choices for a criterion's field select (attributes are typed in as `attributes.<key>`)."""
    return [(f.name, f.label) for f in PROFILE_FIELDS.values()]
