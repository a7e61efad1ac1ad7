"""Run the twin over a question set and judge every answer: the way to compare data versions.

The file is a JSON list of `{"question": str, "expected_facts": [str, ...]}` (facts optional).
Fact recall is the share of expected facts found, case-insensitively, in the answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean
from typing import Any

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from twinself.errors import TwinselfError
from twinself.evaluation.judges import Judge
from twinself.evaluation.results import EvaluationResult
from twinself.twin.twin import Twin


class InvalidQuestionSet(TwinselfError):
    """The question set file cannot be used."""


class SetQuestion(BaseModel):
    question: str = Field(min_length=1)
    expected_facts: list[str] = Field(default_factory=list)


def load_question_set(path: Path) -> list[SetQuestion]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidQuestionSet(f"No question set at {path}.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidQuestionSet(f"{path} is not valid UTF-8 JSON: {exc}") from None
    try:
        questions = TypeAdapter(list[SetQuestion]).validate_python(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"item {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise InvalidQuestionSet(
            f'{path} must be a JSON list of {{"question": str, "expected_facts": [str]}}: '
            f"{problems}"
        ) from None
    if not questions:
        raise InvalidQuestionSet(f"{path} has no questions.")
    return questions


def fact_recall(answer: str, facts: Sequence[str]) -> float | None:
    if not facts:
        return None
    lowered = answer.casefold()
    return sum(fact.casefold() in lowered for fact in facts) / len(facts)


@dataclass(frozen=True)
class AnsweredQuestion:
    question: str
    answer: str
    evaluation: EvaluationResult
    fact_recall: float | None


@dataclass
class QuestionSetReport:
    judge: str
    data_version: str
    provider: str
    model: str
    answers: list[AnsweredQuestion] = field(default_factory=list)

    def aggregates(self) -> dict[str, float]:
        relevancy = [a.evaluation.answer_relevancy for a in self.answers]
        faithfulness = [a.evaluation.faithfulness for a in self.answers]
        values = {
            "questions": float(len(self.answers)),
            "answer_relevancy_mean": fmean(m.score for m in relevancy),
            "answer_relevancy_pass_rate": fmean(m.passed for m in relevancy),
            "faithfulness_mean": fmean(m.score for m in faithfulness),
            "faithfulness_pass_rate": fmean(m.passed for m in faithfulness),
        }
        recalls = [a.fact_recall for a in self.answers if a.fact_recall is not None]
        if recalls:
            values["fact_recall"] = fmean(recalls)
        return values

    def to_json(self) -> dict[str, Any]:
        return {
            "judge": self.judge,
            "data_version": self.data_version,
            "provider": self.provider,
            "model": self.model,
            "aggregates": self.aggregates(),
            "answers": [
                {
                    "question": a.question,
                    "answer": a.answer,
                    "fact_recall": a.fact_recall,
                    **a.evaluation.to_json(),
                }
                for a in self.answers
            ],
        }


async def run_question_set(
    twin: Twin,
    judge: Judge,
    questions: Sequence[SetQuestion],
    data_version: str,
    on_answer: Callable[[AnsweredQuestion], None] = lambda _: None,
) -> QuestionSetReport:
    report = QuestionSetReport(judge.name, data_version, twin.llm.name, twin.llm.model)
    for item in questions:
        answer = twin.answer(item.question)
        evaluation = await judge.evaluate(
            item.question, answer.response, [p.text for p in answer.sources]
        )
        answered = AnsweredQuestion(
            item.question,
            answer.response,
            evaluation,
            fact_recall(answer.response, item.expected_facts),
        )
        report.answers.append(answered)
        on_answer(answered)
    return report
