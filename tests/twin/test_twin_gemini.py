"""The twin wired from settings with Gemini: the real google-genai client against a fake server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from tests.fakes.gemini_server import FakeGeminiServer
from twinself.twin.factory import TwinRuntime, build_twin

KEY = "AIza-test-key-that-must-stay-secret"


@pytest.fixture
def gemini() -> Iterator[FakeGeminiServer]:
    with FakeGeminiServer(
        "I studied Engineering Physics at Chalmers.",
        prompt_tokens=900,
        output_tokens=11,
        api_key=KEY,
    ) as server:
        yield server


def test_gemini_answer_is_grounded_in_the_retrieved_memory(
    built_runtime: TwinRuntime, gemini: FakeGeminiServer
) -> None:
    settings = built_runtime.settings.model_copy(
        update={
            "llm_provider": "auto",
            "google_api_key": SecretStr(KEY),
            "gemini_base_url": gemini.base_url,
        }
    )
    twin = build_twin(settings, built_runtime.store, built_runtime.embedder)
    try:
        answer = twin.answer("Where did you go to university?")
        streamed = twin.stream("Where did you go to university?")
        chunks = list(streamed)
    finally:
        twin.close()

    assert answer.response == "I studied Engineering Physics at Chalmers."
    assert answer.generation.provider == "gemini"
    assert answer.generation.model == settings.chat_llm_model
    usage = answer.generation.usage
    assert (usage.input_tokens, usage.output_tokens, usage.estimated) == (900, 11, False)
    assert len(chunks) > 1 and "".join(chunks) == answer.response
    assert streamed.answer is not None and streamed.answer.generation.usage == usage

    request = gemini.model_requests()[0]
    assert request.path == f"/v1beta/models/{settings.chat_llm_model}:generateContent"
    system = request.body["systemInstruction"]["parts"][0]["text"]
    # The prompt carries the persona, the rules, and the retrieved facts with their sources.
    assert system.startswith("# Maya Lindqvist")
    assert "Rules I follow" in system
    assert answer.sources[0].text in system and "education.md" in system
    assert request.body["contents"][-1] == {
        "role": "user",
        "parts": [{"text": "Where did you go to university?"}],
    }
    assert KEY not in repr(answer.to_dict())
