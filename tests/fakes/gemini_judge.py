"""A fake Gemini that plays the LLM judge behind DeepEval's AnswerRelevancy and Faithfulness.

DeepEval 4.3.1's `GeminiModel` sends every metric step as a `generateContent` call whose
`generationConfig.responseSchema` is the step's pydantic model, so the schema title says which
step is asked (both metrics' verdict wrappers are titled "Verdicts"; their item schema tells
them apart). Requests without a schema are routed on the prompt text instead.

Point DeepEval at it with (after `twinself.evaluation.deepeval_env.import_deepeval()`)::

    GeminiModel(model="gemini-2.0-flash", api_key=judge.api_key,
                http_options={"base_url": judge.base_url, "api_version": "v1beta"})

What errors become after `await metric.a_measure(...)` (DeepEval 4.3.1, google-genai 3.6.1;
pinned by tests/evaluation/test_deepeval_gemini_judge.py). The SDK exception comes out as is:
no DeepEval wrapper, no `tenacity.RetryError`, and `__cause__` is None.

* 429 -> `google.genai.errors.ClientError`: `.code == 429`, `.status == "RESOURCE_EXHAUSTED"`,
  `.details` = the JSON error body (its `error.details` hold the RetryInfo `retryDelay`).
* 5xx -> `google.genai.errors.ServerError`: `.code == 500` / `503`, `.status == "INTERNAL"` /
  `"UNAVAILABLE"`. Both classes subclass `google.genai.errors.APIError`.
* A wrong API key -> `ClientError` with `.code == 400`, `.status == "INVALID_ARGUMENT"` and
  reason API_KEY_INVALID in the details: the real API answers a bad key with 400, not 401.
* A verdict outside the schema's enum (e.g. the legacy "idk") -> `ValueError` ("Evaluation LLM
  outputted an invalid JSON"): the SDK's `response.parsed` is None and DeepEval gives up. The
  real Gemini cannot send that, since the enum constrains its decoding.

Nothing retries: every failure costs exactly one request. DeepEval's Google retry policy looks
for `google.genai.gerrors`, which does not exist, so it is None and tenacity never retries a
Gemini call whatever DEEPEVAL_RETRY_MAX_ATTEMPTS says; google-genai retries only when
`HttpOptions.retry_options` is set.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

import certifi

from tests.fakes.gemini_server import FakeGeminiServer, gemini_error, gemini_response
from tests.fakes.scripted_server import RecordedRequest, Reply, json_reply

VerdictSpec = str | tuple[str, str]  # "yes" / "no" / "borderline", or (verdict, reason)


class JudgeStep(StrEnum):
    STATEMENTS = "statements"
    RELEVANCY_VERDICTS = "relevancy_verdicts"
    RELEVANCY_REASON = "relevancy_reason"
    TRUTHS = "truths"
    CLAIMS = "claims"
    FAITHFULNESS_VERDICTS = "faithfulness_verdicts"
    FAITHFULNESS_REASON = "faithfulness_reason"


# Titles of the pydantic schemas in deepeval/metrics/{answer_relevancy,faithfulness}/schema.py.
_STEP_BY_TITLE = {
    "Statements": JudgeStep.STATEMENTS,
    "AnswerRelevancyVerdict": JudgeStep.RELEVANCY_VERDICTS,
    "AnswerRelevancyScoreReason": JudgeStep.RELEVANCY_REASON,
    "Truths": JudgeStep.TRUTHS,
    "Claims": JudgeStep.CLAIMS,
    "FaithfulnessVerdict": JudgeStep.FAITHFULNESS_VERDICTS,
    "FaithfulnessScoreReason": JudgeStep.FAITHFULNESS_REASON,
}

# Phrases unique to each prompt template, checked in order (the claims prompt also says
# "truths", so it comes first).
_STEP_BY_PROMPT = [
    ("Answer Relevancy Score:", JudgeStep.RELEVANCY_REASON),
    ("Faithfulness Score:", JudgeStep.FAITHFULNESS_REASON),
    ("whether each statement is relevant", JudgeStep.RELEVANCY_VERDICTS),
    ("whether EACH claim contradicts", JudgeStep.FAITHFULNESS_VERDICTS),
    ("generate a list of statements", JudgeStep.STATEMENTS),
    ("provided actual AI output", JudgeStep.CLAIMS),
    ('"truths" key', JudgeStep.TRUTHS),
]

_STANDARD_ERRORS = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    403: ("PERMISSION_DENIED", "The caller does not have permission."),
    404: ("NOT_FOUND", "models/gemini-2.0-flash is not found for API version v1beta."),
    429: (
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details.",
    ),
    500: ("INTERNAL", "An internal error has occurred. Please retry."),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "The request timed out. Please try again."),
}


def gemini_status_error(code: int, retry_delay_seconds: int = 27) -> dict[str, Any]:
    """The body the real API sends with `code`; a 429 carries its quota and RetryInfo details."""
    status, message = _STANDARD_ERRORS.get(code, ("UNKNOWN", f"HTTP {code}"))
    details: list[Any] | None = None
    if code == 429:
        details = [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": "generativelanguage.googleapis.com/"
                        "generate_content_free_tier_requests",
                        "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                        "quotaValue": "15",
                    }
                ],
            },
            {
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": f"{retry_delay_seconds}s",
            },
        ]
    return gemini_error(code, status, message, details)


def small_ca_bundle(folder: Path) -> Path:
    """A CA file holding one certificate, for SSL_CERT_FILE in tests.

    DeepEval builds a new google-genai client for every call, and each client loads the full
    certifi bundle into three SSL contexts (~0.25 s per call). The fake speaks plain HTTP, so
    trusting a single CA changes nothing but the speed, and keeps the model construction the
    same as in production.
    """
    end = "-----END CERTIFICATE-----"
    bundle = Path(certifi.where()).read_text()
    path = folder / "one-ca.pem"
    path.write_text(bundle[: bundle.index(end) + len(end)] + "\n")
    return path


class FakeGeminiJudge(FakeGeminiServer):
    """Answers each metric step with the configured lists.

    Scores follow from the verdicts: both metrics count "yes" and "borderline" as passing
    (Faithfulness counts "borderline" as failing only with `penalize_ambiguous_claims=True`),
    and no verdicts at all score 1.0.
    """

    def __init__(
        self,
        *,
        statements: Sequence[str] = ("I studied at Chalmers.", "I work at Solvik."),
        relevancy_verdicts: Sequence[VerdictSpec] | None = None,
        relevancy_reason: str = "Fake judge: the answer stays on the question.",
        truths: Sequence[str] = ("The person studied at Chalmers.",),
        claims: Sequence[str] = ("I studied at Chalmers.",),
        faithfulness_verdicts: Sequence[VerdictSpec] | None = None,
        faithfulness_reason: str = "Fake judge: every claim is backed by the context.",
        api_key: str = "fake-key",
        errors: Iterable[int] = (),
        fail_always: int | None = None,
        hang_seconds: float = 0.0,
        retry_delay_seconds: int = 27,
        prompt_tokens: int = 120,
        output_tokens: int = 30,
    ) -> None:
        """`relevancy_verdicts` / `faithfulness_verdicts` default to "yes" for every statement /
        claim. `errors` are HTTP statuses answered, in order, before anything else;
        `fail_always` answers every later request with that status. `hang_seconds` (may be
        `math.inf`) holds each normally answered request (queued errors are not held) until
        it passes, `release` is set or the server stops."""
        super().__init__(prompt_tokens=prompt_tokens, output_tokens=output_tokens, api_key=api_key)
        self.statements = list(statements)
        self.relevancy_verdicts = list(
            relevancy_verdicts if relevancy_verdicts is not None else ["yes"] * len(statements)
        )
        self.relevancy_reason = relevancy_reason
        self.truths = list(truths)
        self.claims = list(claims)
        self.faithfulness_verdicts = list(
            faithfulness_verdicts if faithfulness_verdicts is not None else ["yes"] * len(claims)
        )
        self.faithfulness_reason = faithfulness_reason
        self.fail_always = fail_always
        self.hang_seconds = hang_seconds
        self.retry_delay_seconds = retry_delay_seconds
        self.hanging = threading.Event()  # set once a request is being held
        self.release = threading.Event()  # set it to let held requests finish
        self.served: list[JudgeStep] = []  # steps answered successfully, in arrival order
        for code in errors:
            self.fail_next(code)

    # --- scripting ----------------------------------------------------------------------

    def fail_next(self, code: int, times: int = 1) -> None:
        """Queue `times` error answers with Gemini's body for `code` ahead of normal ones."""
        self.plan(code, gemini_status_error(code, self.retry_delay_seconds), times=times)

    def stop(self) -> None:
        self.release.set()  # a held request must not outlive the server
        super().stop()

    # --- inspection ---------------------------------------------------------------------

    @property
    def request_count(self) -> int:
        return len(self.model_requests())

    @staticmethod
    def step_of(request: RecordedRequest) -> JudgeStep | None:
        """Which metric step a recorded request asks for (None: not a judge request)."""
        body = request.body if isinstance(request.body, dict) else {}
        config = body.get("generationConfig") or {}
        schema = config.get("responseSchema") or config.get("responseJsonSchema")
        if isinstance(schema, dict):
            step = _STEP_BY_TITLE.get(_schema_title(schema))
            if step is not None:
                return step
        return step_for_prompt(prompt_text(request))

    # --- answering ----------------------------------------------------------------------

    def normal_reply(self, request: RecordedRequest) -> Reply:
        # The parent rejects unknown routes and wrong keys the way Gemini does; a 200 from it
        # means the call is acceptable and only its text needs replacing.
        checked = super().normal_reply(request)
        if checked.status != 200 or not request.path.endswith(":generateContent"):
            return checked
        if self.hang_seconds > 0:
            self.hanging.set()
            self.release.wait(None if math.isinf(self.hang_seconds) else self.hang_seconds)
        if self.fail_always is not None:
            code = self.fail_always
            return json_reply(gemini_status_error(code, self.retry_delay_seconds), code)
        step = self.step_of(request)
        if step is None:
            return json_reply(
                gemini_error(400, "INVALID_ARGUMENT", "FakeGeminiJudge: unknown judge step"), 400
            )
        self.served.append(step)
        return json_reply(gemini_response(json.dumps(self.answer_for(step)), self._usage()))

    def answer_for(self, step: JudgeStep) -> dict[str, Any]:
        """The JSON the judge gives for one step (also used by the OpenAI-compatible fake)."""
        match step:
            case JudgeStep.STATEMENTS:
                return {"statements": self.statements}
            case JudgeStep.RELEVANCY_VERDICTS:
                return {"verdicts": _verdicts(self.relevancy_verdicts, "statement")}
            case JudgeStep.RELEVANCY_REASON:
                return {"reason": self.relevancy_reason}
            case JudgeStep.TRUTHS:
                return {"truths": self.truths}
            case JudgeStep.CLAIMS:
                return {"claims": self.claims}
            case JudgeStep.FAITHFULNESS_VERDICTS:
                return {"verdicts": _verdicts(self.faithfulness_verdicts, "claim")}
            case JudgeStep.FAITHFULNESS_REASON:
                return {"reason": self.faithfulness_reason}


def step_for_prompt(prompt: str) -> JudgeStep | None:
    """Which metric step a DeepEval prompt asks for, from phrases in its templates."""
    return next((step for marker, step in _STEP_BY_PROMPT if marker in prompt), None)


def prompt_text(request: RecordedRequest) -> str:
    body = request.body if isinstance(request.body, dict) else {}
    return "\n".join(
        part.get("text", "")
        for content in body.get("contents") or []
        for part in content.get("parts") or []
    )


def _schema_title(schema: dict[str, Any]) -> str:
    title = str(schema.get("title", ""))
    if title != "Verdicts":
        return title
    # Both metrics name their wrapper "Verdicts"; the item schema names the metric.
    items = schema.get("properties", {}).get("verdicts", {}).get("items", {})
    ref = items.get("$ref")  # a JSON-schema request points into $defs instead of inlining
    return str(ref).rsplit("/", 1)[-1] if ref else str(items.get("title", ""))


def _verdicts(specs: Sequence[VerdictSpec], item: str) -> list[dict[str, Any]]:
    verdicts: list[dict[str, Any]] = []
    for i, spec in enumerate(specs, start=1):
        verdict, reason = spec if isinstance(spec, tuple) else (spec, None)
        # Like the prompts ask: a reason only for "no" and "borderline".
        if reason is None and verdict != "yes":
            reason = f"Fake judge: {item} {i} is {verdict}."
        verdicts.append({"verdict": verdict, "reason": reason})
    return verdicts
