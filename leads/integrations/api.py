"""The ingest API at /api/v1/ (django-ninja): thin handlers over `leads.ingest` and the lead selectors.

django-ninja gives request validation with pydantic, bearer-token auth classes, throttles and an
OpenAPI document with a docs page served from its own vendored files (no CDN, so the page works
under our Content Security Policy). The POST bodies are parsed here rather than by ninja, because
a batch must validate item by item: valid items are stored even when others are rejected.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
import time

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Query
from ninja.errors import AuthenticationError, AuthorizationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import HttpBearer
from ninja.throttling import BaseThrottle
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from leads import ingest
from leads.integrations import schemas
from leads.integrations.models import ApiToken, IdempotencyRecord
from leads.integrations.tokens import token_for
from leads.models import Lead
from leads.selectors import _cursor, _parse_cursor
from scoring.rescore import explain

Scope = ApiToken.Scope


class TokenAuth(HttpBearer):
    """`Authorization: Bearer lm_…`: an unknown or revoked token is 401, a token of another scope 403."""

    def __init__(self, scope: str) -> None:
        self.scope = scope
        super().__init__()

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        api_token = token_for(token)
        if api_token is not None and api_token.scope != self.scope:
            raise AuthorizationError(
                message=f"This token's scope is {api_token.scope!r}; this needs {self.scope!r}."
            )
        return api_token


class TokenRateThrottle(BaseThrottle):
    """Each token's `rate_per_minute`, counted in fixed one-minute windows in Django's cache.

    One counter per token and minute, raised with the cache's atomic `incr`: two cache operations a
    request whatever the rate (a sliding log would keep every timestamp). A burst of twice the rate
    across a window edge is possible; for keeping a runaway sender off the database that is enough.
    With the default local-memory cache each process counts for itself; configure a shared cache
    (e.g. Redis) to count across processes and hosts.
    """

    window = 60

    def __init__(self) -> None:
        self._local = threading.local()

    def allow_request(self, request: HttpRequest) -> bool:
        from django.core.cache import cache

        token: ApiToken = request.auth
        now = time.time()
        window = int(now // self.window)
        key = f"api-rate:{token.pk}:{window}"
        cache.add(key, 0, self.window + 5)
        try:
            count = cache.incr(key)
        except ValueError:  # evicted between add and incr
            cache.set(key, 1, self.window + 5)
            count = 1
        self._local.wait = (window + 1) * self.window - now
        return count <= token.rate_per_minute

    def wait(self) -> float | None:
        return getattr(self._local, "wait", self.window)


api = NinjaAPI(
    title="Leadmatrix ingest API",
    version="1",
    urls_namespace="api-v1",
    description=(
        "Post activities and leads, read scores and pull the sales queue. "
        "Authenticate with `Authorization: Bearer <token>`; tokens are issued in the admin, "
        "each with one scope. See docs/api.md for examples."
    ),
    throttle=[TokenRateThrottle()],
)

WRITE_ACTIVITIES = TokenAuth(Scope.WRITE_ACTIVITIES)
WRITE_LEADS = TokenAuth(Scope.WRITE_LEADS)
READ = TokenAuth(Scope.READ)
ERRORS = {
    400: schemas.ErrorOut,
    401: schemas.ErrorOut,
    403: schemas.ErrorOut,
    413: schemas.ErrorOut,
    415: schemas.ErrorOut,
    422: schemas.ErrorOut,
    429: schemas.ErrorOut,
}


# --- answers and errors --------------------------------------------------------------------------


class ApiError(Exception):
    """An answer with a status and the fields at fault; nothing has been written."""

    def __init__(self, status: int, detail: str, errors: list[dict] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.errors = status, detail, errors or []


def answer(status: int, data: dict) -> HttpResponse:
    return HttpResponse(
        json.dumps(data, cls=DjangoJSONEncoder), status=status, content_type="application/json"
    )


def _error(status: int, detail: str, errors: list[dict] | None = None) -> HttpResponse:
    return answer(status, {"detail": detail, "errors": errors or []})


@api.exception_handler(ApiError)
def _api_error(request, exc: ApiError):
    return _error(exc.status, exc.detail, exc.errors)


@api.exception_handler(NinjaValidationError)
def _validation_error(request, exc: NinjaValidationError):
    errors = [{"field": _field(e["loc"][1:] or e["loc"]), "message": e["msg"]} for e in exc.errors]
    return _error(422, "The request is not valid.", errors)


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    response = _error(exc.status_code, str(exc), _AUTH_FIELD.get(exc.status_code, []))
    if isinstance(exc, AuthenticationError):
        response["WWW-Authenticate"] = 'Bearer realm="leadmatrix"'
    return response


_AUTH_FIELD = {
    401: [{"field": "Authorization", "message": "a valid API token is required: 'Bearer lm_…'"}],
    403: [{"field": "Authorization", "message": "the token's scope does not allow this"}],
}


@api.exception_handler(Http404)
def _not_found(request, exc):
    return _error(404, "Not found.")


@api.exception_handler(RequestDataTooBig)
def _too_big(request, exc):
    return _body_too_big()


def _body_too_big() -> HttpResponse:
    limit = settings.LEADMATRIX["API_MAX_BODY_BYTES"]
    return _error(413, "The body is too large.", [{"field": "body", "message": f"at most {limit:,} bytes"}])


def _field(loc) -> str:
    return ".".join(str(part) for part in loc if part != "body") or "body"


def _errors_of(error: PydanticValidationError) -> list[dict]:
    return [
        {"field": _field(e["loc"]), "message": e["msg"].removeprefix("Value error, ")} for e in error.errors()
    ]


def _body(request: HttpRequest):
    """The parsed JSON body, or an `ApiError` that says what is wrong with it."""
    limit = settings.LEADMATRIX["API_MAX_BODY_BYTES"]
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit or len(request.body) > limit:
        raise ApiError(
            413, "The body is too large.", [{"field": "body", "message": f"at most {limit:,} bytes"}]
        )
    if request.content_type != "application/json":
        raise ApiError(415, "Send JSON.", [{"field": "Content-Type", "message": "must be application/json"}])
    try:
        data = json.loads(request.body, parse_constant=_no_constant)
    except (ValueError, RecursionError) as error:
        raise ApiError(
            400, "The body is not valid JSON.", [{"field": "body", "message": str(error)[:200]}]
        ) from None
    if schemas.too_deep(data):
        raise ApiError(
            400,
            "The body is nested too deeply.",
            [{"field": "body", "message": f"at most {schemas.MAX_DEPTH} levels of lists and objects"}],
        )
    found = schemas.bad_values(data)
    if found:
        raise ApiError(422, "The request is not valid.", [{"field": found[0] or "body", "message": found[1]}])
    return data


def _no_constant(name: str):
    raise ValueError(f"{name} is not allowed")


def _items(data, *, name: str) -> tuple[list, bool]:
    """One object or a list of up to MAX_BATCH objects; returns the items and whether it was a batch."""
    if isinstance(data, dict):
        return [data], False
    if isinstance(data, list):
        if not data:
            raise ApiError(
                422, "The request is not valid.", [{"field": "body", "message": f"send at least one {name}"}]
            )
        if len(data) > schemas.MAX_BATCH:
            raise ApiError(
                422,
                "The request is not valid.",
                [
                    {
                        "field": "body",
                        "message": f"at most {schemas.MAX_BATCH:,} {name}s per request, got {len(data):,}",
                    }
                ],
            )
        return data, True
    raise ApiError(
        422,
        "The request is not valid.",
        [{"field": "body", "message": f"send a {name} object or a list of them"}],
    )


def _validate(model: type[BaseModel], raw) -> tuple[BaseModel | None, list[dict]]:
    if not isinstance(raw, dict):
        return None, [{"field": "body", "message": "must be an object"}]
    try:
        return model.model_validate(raw), []
    except PydanticValidationError as error:
        return None, _errors_of(error)


def idempotent(handler):
    """Answer a POST with an `Idempotency-Key` once: the same key and body replay the stored answer.

    The answer is stored in the transaction that did the work, so a stored answer always matches
    what was written. Two requests racing with one key: the second waits on the key's unique index,
    rolls its own work back and replays the first one's answer.
    """

    @functools.wraps(handler)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return handler(request, *args, **kwargs)
        if not (0 < len(key) <= 255 and key.isascii() and key.isprintable()):
            raise ApiError(
                422,
                "The request is not valid.",
                [{"field": "Idempotency-Key", "message": "1 to 255 printable ASCII characters"}],
            )
        digest = hashlib.sha256(
            request.method.encode() + request.path.encode() + b"\n" + request.body
        ).hexdigest()
        stored = _stored_answer(request, key, digest)
        if stored:
            return stored
        try:
            with transaction.atomic():
                response = handler(request, *args, **kwargs)
                IdempotencyRecord.objects.create(
                    token=request.auth,
                    key=key,
                    method=request.method,
                    path=request.path,
                    body_digest=digest,
                    status=response.status_code,
                    response=response.content.decode(),
                )
        except IntegrityError:
            stored = _stored_answer(request, key, digest)
            if stored is None:
                raise
            return stored
        return response

    return wrapper


def _stored_answer(request: HttpRequest, key: str, digest: str) -> HttpResponse | None:
    record = IdempotencyRecord.objects.filter(token=request.auth, key=key).first()
    if record is None:
        return None
    if record.body_digest != digest:
        raise ApiError(
            422,
            "This Idempotency-Key was used for another request.",
            [{"field": "Idempotency-Key", "message": "already used with a different body or path"}],
        )
    response = HttpResponse(record.response, status=record.status, content_type="application/json")
    response["Idempotent-Replayed"] = "true"
    return response


# --- activities ----------------------------------------------------------------------------------


def _one_or_batch(model) -> dict:
    """The OpenAPI request body of an endpoint that takes one object or a list of up to MAX_BATCH."""
    one = model.model_json_schema()
    many = {"type": "array", "maxItems": schemas.MAX_BATCH, "items": model.model_json_schema()}
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"oneOf": [one, many]}}},
        }
    }


ACTIVITY_BODY = _one_or_batch(schemas.ActivityIn)


@api.post(
    "/activities",
    auth=WRITE_ACTIVITIES,
    tags=["activities"],
    response={200: schemas.ActivityOut | schemas.BatchOut, 201: schemas.ActivityOut, **ERRORS},
    openapi_extra=ACTIVITY_BODY,
    summary="Record one activity or a batch of up to 1,000",
)
@idempotent
def post_activities(request: HttpRequest):
    """One object: 201 created (200 when it was a duplicate) with the lead's new score. A list: 200
    with a result per item (created, duplicate or rejected with the fields at fault); the valid
    items are stored even when others are rejected. Scores are updated before the answer is sent."""
    items, batch = _items(_body(request), name="activity")
    types, refreshed = ingest.activity_type_ids(), False
    valid: list[tuple[int, ingest.ActivityIn]] = []
    results: list[dict] = [{}] * len(items)
    for n, raw in enumerate(items):
        item, errors = _validate(schemas.ActivityIn, raw)
        if item is not None and item.type not in types and not refreshed:
            types, refreshed = ingest.activity_type_ids(fresh=True), True  # a type added a moment ago
        if item is not None and item.type not in types:
            errors = [{"field": "type", "message": f"unknown activity type {item.type!r}"}]
        if errors:
            if not batch:
                raise ApiError(422, "The request is not valid.", errors)
            results[n] = {"index": n, "status": "rejected", "errors": errors}
            continue
        valid.append(
            (
                n,
                ingest.ActivityIn(
                    item.email,
                    item.type,
                    item.occurred_at,
                    item.source,
                    item.event_id or None,
                    item.properties,
                ),
            )
        )
    recorded = ingest.record_activities([item for _, item in valid]) if valid else []
    for (n, _), done in zip(valid, recorded, strict=True):
        status = "created" if done.created else "duplicate"
        results[n] = {"index": n, "status": status, "id": done.activity_id, "lead_id": done.lead_id}
    if batch:
        counts = {"created": 0, "duplicate": 0, "rejected": 0}
        for result in results:
            counts[result["status"]] += 1
        return answer(200, {"counts": counts, "results": results})
    done = recorded[0]
    scored = done.lead or Lead.objects.get(pk=done.lead_id)  # a duplicate did not rescore its lead
    lead = {name: getattr(scored, name) for name in ("id", "email", "grade", "score", "bucket", "label")}
    status = "created" if done.created else "duplicate"
    return answer(
        201 if done.created else 200, {"status": status, "activity_id": done.activity_id, "lead": lead}
    )


# --- leads ---------------------------------------------------------------------------------------

LEAD_BODY = _one_or_batch(schemas.LeadIn)


@api.post(
    "/leads",
    auth=WRITE_LEADS,
    tags=["leads"],
    response={200: schemas.UpsertOut | schemas.BatchOut, 201: schemas.UpsertOut, **ERRORS},
    openapi_extra=LEAD_BODY,
    summary="Create or update leads by email",
)
@idempotent
def post_leads(request: HttpRequest):
    """One object: 201 when the lead is new, else 200 (updated or unchanged). A list: 200 with a
    result per item; rejected items name the fields at fault and the others are stored."""
    items, batch = _items(_body(request), name="lead")
    valid: list[tuple[int, ingest.LeadIn]] = []
    results: list[dict] = [{}] * len(items)
    for n, raw in enumerate(items):
        item, errors = _validate(schemas.LeadIn, raw)
        if errors:
            if not batch:
                raise ApiError(422, "The request is not valid.", errors)
            results[n] = {"index": n, "status": "rejected", "errors": errors}
            continue
        profile = item.model_dump(exclude_unset=True, exclude={"email", "attributes"})
        valid.append((n, ingest.LeadIn(item.email, profile, item.attributes)))
    try:
        done = ingest.upsert_leads([item for _, item in valid]) if valid else []
    except ingest.IngestError as error:
        field, _, message = str(error).partition(": ")
        raise ApiError(422, "The request is not valid.", [{"field": field, "message": message}]) from None
    for (n, _), upserted in zip(valid, done, strict=True):
        results[n] = {
            "index": n,
            "status": upserted.status,
            "id": upserted.lead_id,
            "lead_id": upserted.lead_id,
        }
    if batch:
        counts = {"created": 0, "updated": 0, "unchanged": 0, "rejected": 0}
        for result in results:
            counts[result["status"]] += 1
        return answer(200, {"counts": counts, "results": results})
    (upserted,) = done
    return answer(
        201 if upserted.status == "created" else 200, {"status": upserted.status, "lead_id": upserted.lead_id}
    )


@api.get(
    "/leads/{ref}",
    tags=["leads"],
    auth=READ,
    response={200: schemas.LeadOut, 404: schemas.ErrorOut, **ERRORS},
    summary="A lead's score",
)
def get_lead(request: HttpRequest, ref: str):
    """Grade, score, label, bucket and the explanation, by id or email."""
    if "\x00" in ref or len(ref) > 254:
        raise Http404  # no lead has such an email (and PostgreSQL refuses NUL in a query)
    by_id = ref.isascii() and ref.isdigit()
    leads = Lead.objects.filter(pk=int(ref)) if by_id else Lead.objects.filter(email=ref.strip().lower())
    lead = leads.first()
    if lead is None:
        raise Http404
    result = explain(lead)
    return {
        **{name: getattr(lead, name) for name in schemas.LeadOut.model_fields if hasattr(lead, name)},
        "explanation": {
            "criteria": [{"label": c.label, "field": c.field, "points": c.points} for c in result.criteria],
            "activity_types": [
                {"type": t.activity_type, "count": t.count, "points": round(t.points, 2), "capped": t.capped}
                for t in result.types
            ],
            "breadth_points": round(result.breadth_points, 2),
            "override": result.override,
            "next_step": vars(result.next_step) if result.next_step else None,
        },
    }


class QueueParams(schemas.Schema):
    after: str = schemas.Field("", max_length=80, description="The `next` of the previous page.")
    limit: int = schemas.Field(100, ge=1, le=500)


@api.get(
    "/queue",
    auth=READ,
    tags=["queue"],
    response={200: schemas.QueueOut, **ERRORS},
    summary="Sales-ready leads to pull",
)
def get_queue(request: HttpRequest, params: Query[QueueParams]):
    """Leads in the sales queue in work order, one keyset page at a time."""
    leads = Lead.objects.in_queue().queue_order().select_related("owner")
    if params.after:
        position = _parse_cursor(params.after)
        if position is None:
            raise ApiError(
                422, "The request is not valid.", [{"field": "after", "message": "not a cursor from `next`"}]
            )
        priority, due, score, pk = position
        leads = leads.after_in_queue_order(priority=priority, due_at=due, score=score, pk=pk)
    rows = list(leads[: params.limit + 1])
    page = rows[: params.limit]
    items = [
        {
            "id": lead.pk,
            "email": lead.email,
            "grade": lead.grade,
            "score": lead.score,
            "label": lead.label,
            "bucket": lead.bucket,
            "name": lead.name,
            "company": lead.company,
            "bucket_priority": lead.bucket_priority,
            "due_at": lead.due_at if lead.sla_running else None,
            "owner": lead.owner.get_username() if lead.owner else None,
        }
        for lead in page
    ]
    return {"items": items, "next": _cursor(page[-1]) if len(rows) > params.limit else None}
