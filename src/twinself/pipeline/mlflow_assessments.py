"""What people and judges say about a request's trace, as MLflow assessments: a person's
suggested response and thumbs up or down (HUMAN) and the judge's scores (LLM_JUDGE)."""

from __future__ import annotations

from mlflow.entities import AssessmentSource, AssessmentSourceType
from mlflow.entities import Feedback as FeedbackAssessment

from twinself.evaluation.results import EvaluationResult
from twinself.pipeline.feedback_queue import Feedback
from twinself.pipeline.rating_queue import Rating

FEEDBACK_ASSESSMENT_NAME = "suggested_response"
RATING_ASSESSMENT_NAME = "user_rating"


def suggestion_marker(feedback: Feedback) -> dict[str, str]:
    """The metadata that tells this suggestion's assessment apart from any other's."""
    return {"feedback_id": str(feedback.feedback_id), "created_at": str(feedback.created_at)}


def suggestion_assessment(feedback: Feedback) -> FeedbackAssessment:
    return FeedbackAssessment(
        name=FEEDBACK_ASSESSMENT_NAME,
        value=feedback.suggested_response,
        source=AssessmentSource(source_type=AssessmentSourceType.HUMAN, source_id="twinself-user"),
        rationale="A user suggested this response instead of the twin's answer.",
        metadata={
            **suggestion_marker(feedback),
            "request_id": feedback.request_id or "",
            "original_question": feedback.original_question,
            "original_response": feedback.original_response,
        },
    )


def rating_marker(rating: Rating) -> dict[str, str]:
    return {"rating_id": str(rating.rating_id), "created_at": str(rating.created_at)}


def rating_assessment(rating: Rating) -> FeedbackAssessment:
    """A thumbs up is True, a thumbs down False: how MLflow's UI shows a person's verdict."""
    return FeedbackAssessment(
        name=RATING_ASSESSMENT_NAME,
        value=rating.rating == "up",
        source=AssessmentSource(
            source_type=AssessmentSourceType.HUMAN, source_id="twinself-visitor"
        ),
        rationale=f"A visitor gave the answer a thumbs {rating.rating}.",
        metadata={**rating_marker(rating), "request_id": rating.request_id},
    )


def judge_assessments(result: EvaluationResult) -> dict[str, FeedbackAssessment]:
    """One assessment per metric, by name."""
    return {
        name: FeedbackAssessment(
            name=name,
            value=metric.score,
            source=AssessmentSource(
                source_type=AssessmentSourceType.LLM_JUDGE, source_id=result.judge
            ),
            rationale=metric.reason,
            metadata={"threshold": str(metric.threshold), "passed": str(metric.passed)},
        )
        for name, metric in result.metrics().items()
    }
