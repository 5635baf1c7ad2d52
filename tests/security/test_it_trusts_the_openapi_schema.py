"""Attack (issue 14.11): a client generated from /api/schema/ trusts it. The schema listed only success codes,
called the paginated sessions list an array, and said `status`/`created_by` must be non-empty while the API took
`?status=` as "no filter". Now every operation lists its error responses in the contract's error shape, lists
show their cursor envelope, and the filters mean what the schema says."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db

ERROR_REF = "#/components/schemas/ErrorOutput"
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def schema(client) -> dict:  # noqa: ANN001
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def _operations(schema: dict):  # noqa: ANN202
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def _error_ref(response: dict) -> str | None:
    return response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")


def test_it_documents_the_error_responses_of_every_operation(schema) -> None:  # noqa: ANN001
    missing = []
    operations = list(_operations(schema))
    assert len(operations) >= 30
    for path, method, operation in operations:
        codes = operation["responses"]
        public = path.endswith("/auth/token/")
        expected = {"400", "429"} if public else {"401"}
        if "{" in path:
            expected |= {"404"}
        if "requestBody" in operation or any(p["in"] == "query" for p in operation.get("parameters", [])):
            expected |= {"400"}
        if method in {"post", "put", "patch", "delete"} and not public:
            expected |= {"403"}
        for code in sorted(expected):
            if code not in codes:
                missing.append(f"{method.upper()} {path}: no {code}")
            elif _error_ref(codes[code]) != ERROR_REF:
                missing.append(f"{method.upper()} {path}: {code} is not in the error shape")
    assert not missing, "\n".join(missing)


def test_it_describes_the_error_shape(schema) -> None:  # noqa: ANN001
    error = schema["components"]["schemas"]["ErrorOutput"]
    assert set(error["required"]) == {"detail", "errors"}
    assert error["properties"]["detail"]["type"] == "string"
    errors = error["properties"]["errors"]
    assert errors["type"] == "object"
    assert errors["additionalProperties"] == {"type": "array", "items": {"type": "string"}}


def test_it_documents_uploads_conflicts_and_throttling(schema) -> None:  # noqa: ANN001
    paths = schema["paths"]
    assert {"413", "415"} <= set(paths["/api/v1/sessions/"]["post"]["responses"])
    assert {"413", "415"} <= set(paths["/api/v1/knowledge/"]["post"]["responses"])
    assert "409" in paths["/api/v1/sessions/{session_id}/pause/"]["post"]["responses"]
    assert "429" in paths["/api/v1/auth/token/"]["post"]["responses"]


def test_it_documents_the_sessions_list_in_its_pagination_envelope(schema, cast, api) -> None:  # noqa: ANN001
    operation = schema["paths"]["/api/v1/sessions/"]["get"]
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    page = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert page["type"] == "object"
    assert {"next", "previous", "results"} <= set(page["properties"])
    assert page["properties"]["results"]["type"] == "array"
    assert {p["name"] for p in operation["parameters"]} >= {"cursor", "page_size", "status", "created_by"}
    body = api(cast["member"]).get("/api/v1/sessions/").json()
    assert set(body) == {"next", "previous", "results"}, "the API and the schema agree"


@pytest.mark.parametrize("query", ["status=", "created_by=", "organization=", "status=running,", "page_size=abc"])
def test_it_refuses_a_filter_the_schema_calls_invalid(cast, api, query) -> None:  # noqa: ANN001
    response = api(cast["member"]).get(f"/api/v1/sessions/?{query}")
    assert response.status_code == 400, response.content
    assert response.json()["errors"], response.json()


def test_it_still_filters_by_several_statuses(cast, api, acme) -> None:  # noqa: ANN001
    from sessions_app.models import DevelopmentSession

    for status in ("running", "paused", "completed"):
        DevelopmentSession.objects.create(organization=acme, created_by=cast["member"], intent=status, status=status)
    response = api(cast["member"]).get("/api/v1/sessions/?status=running,paused&created_by=member&page_size=1")
    assert response.status_code == 200
    assert len(response.json()["results"]) == 1 and response.json()["next"]


def test_it_says_which_fields_may_be_null(schema) -> None:  # noqa: ANN001
    components = schema["components"]["schemas"]
    assert components["RunOutput"]["properties"]["finished_at"].get("nullable") is True
    assert components["SessionListOutput"]["properties"]["parent"].get("nullable") is True
    assert components["ApprovalOutput"]["properties"]["decided_by"].get("nullable") is True


@pytest.mark.parametrize(
    "body", [{"organization": "acme", "intent": 12345}, {"organization": "acme", "intent": "x", "requirements": [7]}]
)
def test_it_refuses_a_number_where_the_schema_says_string(cast, api, body) -> None:  # noqa: ANN001
    response = api(cast["member"]).post("/api/v1/sessions/", body, format="json")
    assert response.status_code == 400, response.content
    assert set(response.json()["errors"]) & {"intent", "requirements"}


def test_it_says_text_may_not_hold_nul_characters(schema) -> None:  # noqa: ANN001
    body = schema["components"]["schemas"]["FeedbackInputRequest"]["properties"]["text"]
    assert body["pattern"].startswith("^[^\\x00]"), "DRF refuses NUL in text: the schema says so"
    assert not re.match(body["pattern"], " \t "), "text that is only whitespace is blank once trimmed"
    media = schema["paths"]["/api/v1/sessions/{session_id}/feedback/"]["post"]["requestBody"]["content"]
    assert list(media) == ["application/json"], "form encodings cannot say null: not offered without a file"


def test_it_refuses_an_empty_number_in_the_query(cast, api) -> None:  # noqa: ANN001
    """`?limit=` is not an integer: a 400, where DRF alone would quietly use the default."""
    response = api(cast["member"]).get("/api/v1/knowledge/?organization=acme&limit=")
    assert response.status_code == 400, response.content
    assert set(response.json()["errors"]) == {"limit"}
