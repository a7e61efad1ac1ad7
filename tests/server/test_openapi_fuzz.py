"""Schemathesis against the app's own OpenAPI schema: schema-valid and invalid requests to
every operation, sent in-process to the real app (offline provider, real embedding model,
embedded Qdrant). No request gets a 500, every response is one the schema documents (status
code, content type, body; each event of a stream), and every chat request ends tracked."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi.testclient import TestClient
from pydantic import SecretStr
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.factories import ClientFactory
from twinself.server.routes.chat import TRACKED_ENDPOINTS

API_KEY = "fuzz-key-0123456789"


def fuzz_config(max_examples: int) -> SchemathesisConfig:
    """Bounded and reproducible: the same cases on every run (the schema's examples, boundary
    values of every field, then `max_examples` generated valid or invalid requests for each
    operation)."""
    generation = {"mode": "all", "max-examples": max_examples, "deterministic": True}
    return SchemathesisConfig.from_dict(
        {"seed": 12, "generation": {**generation, "database": "none"}}
    )


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
Setup = tuple[dict[str, Any], int]  # the app's settings, generated requests per operation
# Rate limits off where the fuzzer should reach the handlers: one client sending hundreds of
# requests would otherwise mostly see 429s. The other two meet the refusals (no key sent;
# over the limit) and need fewer examples: most of their answers are the same 401 or 429.
SETUPS: dict[str, Setup] = {
    "open": ({"rate_limit": ""}, 40),
    "with_api_keys": ({"rate_limit": "", "api_keys": SecretStr(API_KEY)}, 10),
    "rate_limited": ({"rate_limit": "5/minute"}, 10),
}


@pytest.fixture(params=list(SETUPS))
def fuzz_setup(request: pytest.FixtureRequest) -> Setup:
    return SETUPS[request.param]


@pytest.fixture
def fuzzed_client(fuzz_setup: Setup, make_client: ClientFactory) -> TestClient:
    return make_client(**fuzz_setup[0])


@pytest.fixture
def api_schema(fuzz_setup: Setup, fuzzed_client: TestClient) -> schemathesis.BaseSchema:
    """The schema the app under test serves, so settings that change it are fuzzed as set."""
    served = fuzzed_client.get("/openapi.json").json()
    return schemathesis.openapi.from_dict(served, config=fuzz_config(max_examples=fuzz_setup[1]))


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    """schemathesis 4.32's lazy schemas read and write `_nodeid`, which pytest 9.2 no longer
    has; this gives it one (only the subtests' report names use it)."""
    request.node._nodeid = request.node.nodeid


def send(client: TestClient, case: Case) -> httpx.Response:
    """The case as schemathesis would send it with `requests`, through the app's own client."""
    kwargs = case.as_transport_kwargs()
    assert not kwargs.pop("cookies"), "the API reads no cookies; the schema declares none"
    if isinstance(kwargs.get("data"), bytes | str):
        kwargs["content"] = kwargs.pop("data")
    return client.request(**kwargs)


def request_id_of(response: httpx.Response) -> str:
    """Every chat response names its request: in its JSON body, or in a stream's metadata
    (or error) event."""
    if not response.headers["content-type"].startswith("text/event-stream"):
        return str(response.json()["request_id"])
    named = [
        event
        for event in response.text.split("\n\n")
        if event.startswith(("event: metadata\n", "event: error\n"))
    ]
    assert len(named) == 1, response.text
    return str(json.loads(named[0].split("\ndata: ", 1)[1])["request_id"])


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_every_response_is_documented_and_none_is_a_server_error(
    case: Case, fuzzed_client: TestClient
) -> None:
    response = send(fuzzed_client, case)
    case.validate_response(response, checks=CHECKS)
    if case.path in TRACKED_ENDPOINTS:
        run = fuzzed_client.get(f"/runs/{request_id_of(response)}", headers={"X-API-Key": API_KEY})
        assert run.status_code == 200, f"{case.path} answered {response.status_code} untracked"


def test_every_documented_response_says_what_its_body_is(client: TestClient) -> None:
    """A status listed without a body schema (`responses={400: {}}`) passes any body: the
    fuzzer could not hold it to anything, and clients would not know what they get."""
    paths = client.get("/openapi.json").json()["paths"]
    undescribed = [
        f"{method.upper()} {path} {status}"
        for path, operations in paths.items()
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
        if not any("schema" in media for media in response.get("content", {}).values())
    ]
    assert undescribed == []
