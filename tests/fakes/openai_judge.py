"""A fake OpenAI-compatible endpoint (Ollama, vLLM, ...) playing the LLM judge for DeepEval's
LocalModel: it sends each metric step as a plain chat completion, so the step is recognised
from the prompt, and answered with the JSON a FakeGeminiJudge with the same settings gives."""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.gemini_judge import FakeGeminiJudge, JudgeStep, step_for_prompt
from tests.fakes.openai_server import CHAT_PATH, FakeOpenAIServer
from tests.fakes.scripted_server import RecordedRequest, Reply, json_reply


class FakeOpenAIJudge(FakeOpenAIServer):
    def __init__(self, **script: Any) -> None:
        """`script`: FakeGeminiJudge's content arguments (statements, verdicts, reasons...)."""
        super().__init__()
        self.script = FakeGeminiJudge(**script)  # never started: only its answers are used
        self.served: list[JudgeStep] = []

    def normal_reply(self, request: RecordedRequest) -> Reply:
        if request.path == CHAT_PATH and isinstance(request.body, dict):
            messages = request.body.get("messages") or [{}]
            step = step_for_prompt(str(messages[-1].get("content", "")))
            if step is None:
                return json_reply({"error": {"message": "FakeOpenAIJudge: unknown step"}}, 400)
            self.served.append(step)
            self.reply_text = json.dumps(self.script.answer_for(step))
        return super().normal_reply(request)
