"""Which column feeds which field: the fields of each kind of import, the automatic match, row conversion."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone

from feedback.history import OutcomeIn
from leads.imports.models import ImportJob, SavedMapping
from leads.imports.reading import (
    Row,
    guess_day_first,
    parse_datetime,
    parse_number,
    parse_whole_number,
)
from leads.ingest import ActivityIn, LeadIn
from leads.models import Lead

SKIP = ""
ATTRIBUTE = "+attribute"
CSV_SOURCE = "csv-import"
EARLIEST = datetime(1970, 1, 1).date()


@dataclass(frozen=True)
class Target:
    """A field a column can feed."""

    key: str
    label: str
    required: bool = False
    aliases: frozenset[str] = field(default_factory=frozenset)


def _target(key: str, label: str, *aliases: str, required: bool = False) -> Target:
    return Target(key, label, required, frozenset({_norm(key), _norm(label), *map(_norm, aliases)}))


def _norm(name: str) -> str:
    return re.sub(r"[\W_]+", "", name.lower())


EMAIL = _target("email", "Email", "email address", "e-mail", "mail", "work email", "business email", "lead email", required=True)  # fmt: skip
TARGETS: dict[str, list[Target]] = {
    ImportJob.Kind.LEADS: [
        EMAIL,
        _target("first_name", "First name", "first", "given name", "forename", "fname", "vorname"),
        _target("last_name", "Last name", "surname", "family name", "last", "lname", "nachname"),
        _target(
            "company", "Company", "company name", "organisation", "organization", "account", "account name"
        ),
        _target("title", "Job title", "title", "position", "role", "job"),
        _target("seniority", "Seniority", "level", "job level", "management level"),
        _target("department", "Department", "dept", "function", "job function"),
        _target("industry", "Industry", "sector", "vertical"),
        _target(
            "company_size",
            "Company size",
            "employees",
            "number of employees",
            "no of employees",
            "employee count",
            "headcount",
            "size",
        ),
        _target("revenue_potential", "Revenue potential", "potential", "annual revenue", "revenue"),
        _target("country", "Country", "country code", "nation"),
        _target("source", "Source", "lead source", "origin", "channel"),
    ],
    ImportJob.Kind.ACTIVITIES: [
        EMAIL,
        _target(
            "activity_type",
            "Activity type",
            "type",
            "activity",
            "event",
            "event type",
            "action",
            required=True,
        ),
        _target(
            "occurred_at",
            "When",
            "occurred at",
            "date",
            "time",
            "timestamp",
            "datetime",
            "activity date",
            "event date",
            required=True,
        ),
        _target("source", "Source", "system", "channel", "origin"),
        _target("event_id", "Event id", "source event id", "activity id", "id"),
    ],
    ImportJob.Kind.OUTCOMES: [
        EMAIL,
        _target(
            "outcome",
            "Outcome",
            "result",
            "status",
            "stage",
            "converted",
            "won",
            "disposition",
            required=True,
        ),
        _target(
            "at",
            "Date",
            "close date",
            "closed at",
            "closed",
            "recorded at",
            "outcome date",
            "when",
            required=True,
        ),
        _target("reason", "Reason", "loss reason", "lost reason", "disqualification reason", "dq reason"),
        _target("amount", "Amount", "value", "deal value", "deal size"),
        _target("note", "Note", "notes", "comment", "comments"),
    ],
}
# Column names that hold a lead's outcome (a converted flag, a won/lost status).
OUTCOME_COLUMN_NAMES = {"converted", "won", "outcome", "disposition", "isconverted", "convertedflag"}
DATE_TARGETS = {ImportJob.Kind.ACTIVITIES: "occurred_at", ImportJob.Kind.OUTCOMES: "at"}

SENIORITY = {
    Lead.Seniority.EXECUTIVE: {
        "executive",
        "exec",
        "clevel",
        "csuite",
        "vp",
        "vicepresident",
        "ceo",
        "cto",
        "cfo",
        "cio",
        "owner",
        "founder",
        "president",
        "partner",
    },
    Lead.Seniority.HEAD: {
        "head",
        "headofdepartment",
        "director",
        "seniordirector",
        "headofdepartmentdirector",
    },
    Lead.Seniority.MANAGER: {"manager", "seniormanager", "teamlead", "lead"},
    Lead.Seniority.STAFF: {
        "staff",
        "employee",
        "individualcontributor",
        "ic",
        "specialist",
        "associate",
        "analyst",
        "engineer",
    },
    Lead.Seniority.STUDENT: {"student", "intern", "trainee"},
}
SENIORITY_WORDS = {word: key for key, words in SENIORITY.items() for word in words} | {
    _norm(label): key for key, label in Lead.Seniority.choices
}
OUTCOME_WORDS = {
    "won": {"won", "win", "closedwon", "closedwin", "converted", "customer", "yes", "y", "true", "1"},
    "lost": {"lost", "loss", "closedlost", "notconverted", "no", "n", "false", "0"},
    "disqualified": {"disqualified", "dq", "unqualified", "notqualified", "rejected"},
}
OUTCOME_BY_WORD = {word: outcome for outcome, words in OUTCOME_WORDS.items() for word in words}


class RowError(ValueError):
    """A row that cannot be imported; the message names the column and the problem."""


def targets_for(kind: str) -> list[Target]:
    """The fields an import of this kind can fill."""
    return TARGETS[kind]


def keeps_attributes(kind: str) -> bool:
    """Whether unmatched columns can be kept (as lead attributes or activity properties)."""
    return kind in {ImportJob.Kind.LEADS, ImportJob.Kind.ACTIVITIES}


# The columns the rejected-rows download adds; skipped when that file, fixed, is imported again.
REJECTION_COLUMNS = ("rejected row", "rejection reason")


def header_signature(headers: list[str]) -> str:
    """One fingerprint for a set of column names, whatever their order, case or spacing."""
    own = [h for h in headers if h not in REJECTION_COLUMNS]
    return hashlib.sha256("\n".join(sorted(_norm(h) for h in own)).encode()).hexdigest()


def suggest_mapping(*, kind: str, headers: list[str]) -> tuple[dict[str, str], SavedMapping | None]:
    """The mapping saved for these headers if there is one, else columns matched to fields by name.

    A column whose name fits no field is kept as an attribute (leads, activities) or skipped.
    """
    own = [h for h in headers if h not in REJECTION_COLUMNS]
    added = {h: SKIP for h in headers if h in REJECTION_COLUMNS}
    saved = SavedMapping.objects.filter(kind=kind, signature=header_signature(own)).first()
    if saved and set(saved.mapping) - set(REJECTION_COLUMNS) == set(own):
        return {h: saved.mapping[h] for h in own} | added, saved
    by_alias = {alias: t.key for t in targets_for(kind) for alias in t.aliases}
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for header in own:
        key = by_alias.get(_norm(header))
        if key and key not in taken:
            mapping[header] = key
            taken.add(key)
        elif kind == ImportJob.Kind.LEADS and _norm(header) in OUTCOME_COLUMN_NAMES:
            # A lead's outcome kept as an attribute would let calibration learn the answer from itself;
            # outcomes come in as outcomes (a second import of the same file).
            mapping[header] = SKIP
        else:
            mapping[header] = ATTRIBUTE if keeps_attributes(kind) else SKIP
    return mapping | added, None


def mapping_problems(*, kind: str, mapping: dict[str, str]) -> list[str]:
    """What is wrong with a mapping: a required field left out, a field fed by two columns."""
    problems = []
    used = [key for key in mapping.values() if key not in {SKIP, ATTRIBUTE}]
    for target in targets_for(kind):
        if target.required and target.key not in used:
            problems.append(f"Choose the column that holds the {target.label.lower()}.")
        if used.count(target.key) > 1:
            problems.append(f"Only one column can be the {target.label.lower()}.")
    return problems


def remember_mapping(*, kind: str, headers: list[str], mapping: dict, options: dict, by) -> SavedMapping:
    """Keep this mapping for the next file with the same columns."""
    saved, _ = SavedMapping.objects.update_or_create(
        kind=kind,
        signature=header_signature(headers),
        defaults={"headers": headers, "mapping": mapping, "options": options, "saved_by": by},
    )
    return saved


def guess_options(*, kind: str, mapping: dict[str, str], samples: list[Row]) -> dict:
    """Options read off the first rows: whether dates put the day first (the date column's, else any)."""
    column = next((h for h, key in mapping.items() if key == DATE_TARGETS.get(kind)), None)
    columns = [column] if column else list(mapping)
    values = [row.values[c] for row in samples for c in columns if row.values.get(c)]
    guessed = guess_day_first(values)
    return {"day_first": True if guessed is None else guessed}


def attribute_key(header: str) -> str:
    """The attribute a column is kept as: `Time on site (min)` -> `time_on_site_min`."""
    return re.sub(r"[\W_]+", "_", header.lower()).strip("_") or "column"


@dataclass
class Lookups:
    """What converting rows needs from the database, read once per import."""

    activity_types: dict[str, str] = field(default_factory=dict)  # key or name, normalised -> key
    reasons: dict[str, int] = field(default_factory=dict)  # code or label, normalised -> id

    @classmethod
    def load(cls, kind: str) -> Lookups:
        from feedback.models import Reason
        from scoring.models import ActivityType

        lookups = cls()
        if kind == ImportJob.Kind.ACTIVITIES:
            for key, name in ActivityType.objects.values_list("key", "name"):
                lookups.activity_types[_norm(name)] = key
                lookups.activity_types[_norm(key)] = key
        if kind == ImportJob.Kind.OUTCOMES:
            for pk, code, label in Reason.objects.values_list("pk", "code", "label"):
                lookups.reasons[_norm(label)] = pk
                lookups.reasons[_norm(code)] = pk
        return lookups


def convert_row(*, kind: str, row: Row, mapping: dict, options: dict, lookups: Lookups, now: datetime):
    """A file row as the item its import service takes (`LeadIn`, `ActivityIn`, `OutcomeIn`), or RowError."""
    if row.problem:
        raise RowError(row.problem)
    fields: dict[str, str] = {}
    extras: dict[str, str] = {}
    day_first = bool(options.get("day_first", True))
    for header, key in mapping.items():
        value = row.values.get(header)
        if value is None or key == SKIP:
            continue
        if key == ATTRIBUTE:
            extras[attribute_key(header)] = _attribute_value(value, day_first=day_first)
        else:
            fields[key] = value
    email = _email(fields.get("email"))
    if kind == ImportJob.Kind.LEADS:
        return LeadIn(email=email, profile=_profile(fields), attributes=extras)
    if kind == ImportJob.Kind.ACTIVITIES:
        return _activity(email, fields, extras, day_first=day_first, lookups=lookups, now=now)
    return _outcome(email, fields, day_first=day_first, lookups=lookups, now=now)


def _email(value: str | None) -> str:
    if not value:
        raise RowError("email: missing")
    email = value.strip().strip("<>").removeprefix("mailto:").lower()
    try:
        validate_email(email)
    except ValidationError:
        raise RowError(f"email: “{value}” is not an email address") from None
    if len(email) > Lead._meta.get_field("email").max_length:
        raise RowError("email: too long")
    return email


def _profile(fields: dict[str, str]) -> dict:
    profile: dict[str, object] = {}
    for key, value in fields.items():
        if key == "email":
            continue
        model_field = Lead._meta.get_field(key)
        if key in {"company_size", "revenue_potential"}:
            try:
                number = parse_whole_number(value)
            except ValueError as exc:
                raise RowError(f"{key.replace('_', ' ')}: {exc}") from None
            if number < 0 or number > (2**31 - 1 if key == "company_size" else 2**63 - 1):
                raise RowError(f"{key.replace('_', ' ')}: {value} is out of range")
            profile[key] = number
        elif key == "seniority":
            seniority = SENIORITY_WORDS.get(_norm(value))
            if seniority is None:
                known = ", ".join(label for _, label in Lead.Seniority.choices)
                raise RowError(f"seniority: “{value}” is none of {known}")
            profile[key] = str(seniority)
        else:
            if len(value) > model_field.max_length:
                raise RowError(f"{model_field.verbose_name}: longer than {model_field.max_length} characters")
            profile[key] = value
    return profile


def _attribute_value(value: str, *, day_first: bool) -> str:
    """Attributes are text, written so the matrix can compare them: plain numbers, ISO dates.

    `1,234` and `3,5` become `1234` and `3.5`; `05/03/2024` and `5 Mar 2024 14:30` become
    `2024-03-05` and `2024-03-05T14:30:00+00:00`. Anything else is kept as it was typed.
    """
    if re.fullmatch(r"[+-]?\d{1,3}([.,' ]\d{3})+([.,]\d+)?|[+-]?\d+,\d+", value):
        try:
            return str(parse_number(value))
        except ValueError:
            pass
    if re.search(r"\d[./-]\d|[^\W\d_]{3}", value) and re.search(r"\d{4}|\d[./-]\d{1,2}[./-]\d", value):
        try:
            moment = parse_datetime(value, day_first=day_first)
        except ValueError:
            return value
        local = timezone.localtime(moment)
        return local.date().isoformat() if local.time() == time() else moment.isoformat()
    return value


def _when(value: str | None, label: str, *, day_first: bool, now: datetime) -> datetime:
    if not value:
        raise RowError(f"{label}: missing")
    try:
        moment = parse_datetime(value, day_first=day_first)
    except ValueError as exc:
        raise RowError(f"{label}: {exc}") from None
    if moment > now + timedelta(days=1):
        raise RowError(f"{label}: {value} is in the future")
    if moment.date() < EARLIEST:
        raise RowError(f"{label}: {value} is too long ago")
    return moment


def _activity(email, fields, extras, *, day_first, lookups, now) -> ActivityIn:
    type_name = fields.get("activity_type")
    if not type_name:
        raise RowError("activity type: missing")
    type_key = lookups.activity_types.get(_norm(type_name))
    if type_key is None:
        raise RowError(f"activity type: “{type_name}” is not a known activity type")
    occurred_at = _when(fields.get("occurred_at"), "when", day_first=day_first, now=now)
    source = (fields.get("source") or CSV_SOURCE)[:60]
    event_id = fields.get("event_id")
    if event_id is None:
        # No id from the sender: the row's content is its identity, so importing it again is a duplicate.
        content = json.dumps([email, type_key, occurred_at.timestamp(), sorted(extras.items())])
        event_id = "row-" + hashlib.sha256(content.encode()).hexdigest()[:40]
    elif len(event_id) > 120:
        raise RowError("event id: longer than 120 characters")
    return ActivityIn(email, type_key, occurred_at, source, event_id, extras)


def _outcome(email, fields, *, day_first, lookups, now) -> OutcomeIn:
    raw = fields.get("outcome")
    if not raw:
        raise RowError("outcome: missing")
    outcome = OUTCOME_BY_WORD.get(_norm(raw))
    if outcome is None:
        raise RowError(f"outcome: “{raw}” is not won, lost or disqualified")
    at = _when(fields.get("at"), "date", day_first=day_first, now=now)
    reason_id = None
    if reason := fields.get("reason"):
        reason_id = lookups.reasons.get(_norm(reason))
        if reason_id is None:
            raise RowError(f"reason: “{reason}” is not one of the reasons sales uses")
    if outcome == "disqualified" and reason_id is None:
        raise RowError("reason: a disqualified lead needs a reason")
    amount = None
    if fields.get("amount"):
        try:
            amount = parse_number(fields["amount"]).quantize(Decimal("0.01"))
        except ValueError as exc:
            raise RowError(f"amount: {exc}") from None
        if amount < 0 or amount >= 10**12:
            raise RowError(f"amount: {fields['amount']} is out of range")
    return OutcomeIn(
        email, outcome, at, reason_id if outcome == "disqualified" else None, amount, fields.get("note", "")
    )
