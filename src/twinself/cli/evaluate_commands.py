"""`twinself evaluate`, `twinself evaluate-set` and `twinself evaluations status|retry`."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.progress import Progress
from rich.table import Table

from twinself.cli.common import (
    console,
    err_console,
    handle_errors,
    load_settings,
    loading_embedder,
)
from twinself.config.settings import Settings
from twinself.errors import InvalidQuestion
from twinself.evaluation.results import EvaluationResult, split_context
from twinself.pipeline.evaluation_queue import EvaluationQueue
from twinself.pipeline.outbox import build_outbox

# The judges (DeepEval, httpx) and the MLflow sink load inside the commands that use them,
# so that `--help` and `evaluations status|retry` start fast.
if TYPE_CHECKING:
    from twinself.evaluation.judges import Judge

evaluations_app = typer.Typer(
    help="The background evaluation queue: what waits, what failed, retry dead letters.\n\n"
    "Example:\n\n    twinself evaluations status\n\n    twinself evaluations retry --all",
    no_args_is_help=True,
)


def _judge(settings: Settings) -> Judge:
    from twinself.evaluation.judges import build_judge

    return build_judge(settings, lambda: loading_embedder(settings))


def _result_table(result: EvaluationResult) -> Table:
    table = Table(title=f"Judge: {result.judge}", title_justify="left")
    for column in ("metric", "score", "threshold", "passed", "reason"):
        table.add_column(column, overflow="fold")
    for name, metric in result.metrics().items():
        passed = "[green]yes[/]" if metric.passed else "[red]no[/]"
        table.add_row(name, f"{metric.score:.3f}", f"{metric.threshold:.2f}", passed, metric.reason)
    return table


def _evaluate_lines(judge: Judge) -> None:
    """JSON Lines in ({"question", "answer", "context": [...]}), one result per line out."""
    from twinself.evaluation.judges import JudgeFailed, evaluate_now

    for number, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            context = item.get("context", [])
            if isinstance(context, str):
                context = split_context(context)
            if not (
                isinstance(item.get("question"), str)
                and isinstance(item.get("answer"), str)
                and isinstance(context, list)
                and all(isinstance(c, str) for c in context)
            ):
                raise ValueError('expected {"question": str, "answer": str, "context": [str]}')
            payload = evaluate_now(judge, item["question"], item["answer"], context).to_json()
        except (ValueError, AttributeError, JudgeFailed) as exc:
            payload = {"line": number, "error": str(exc)}
        sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
        sys.stdout.flush()


def evaluate(
    question: str = typer.Argument(..., help="The question, or - (with --json) for JSON Lines."),
    answer: str | None = typer.Argument(None, help="The answer to judge."),
    context: str | None = typer.Argument(
        None, help="The retrieved context; passages separated by blank lines."
    ),
    run_id: str | None = typer.Argument(None, help="Log the scores to this MLflow run."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Judge one answer's relevancy and faithfulness now, and optionally log it to a run.

    The judge is EVAL_JUDGE's (offline `local-embedding` without keys). Scores are 0-1;
    each passes at its threshold (EVAL_RELEVANCY_THRESHOLD, EVAL_FAITHFULNESS_THRESHOLD).

    Example:
        twinself evaluate "What are your skills?" "I write Python." "I know Python and SQL."
        twinself evaluate --json "Q" "A" "Passage one.\\n\\nPassage two." RUN_ID
        echo '{"question": "Q", "answer": "A", "context": ["C"]}' | twinself evaluate --json -
    """
    settings = load_settings()
    if question == "-":
        if not as_json or answer is not None:
            raise InvalidQuestion("Reading from stdin is `twinself evaluate --json -` alone.")
        _evaluate_lines(_judge(settings))
        return
    if answer is None or context is None:
        raise InvalidQuestion(
            "twinself evaluate needs QUESTION ANSWER CONTEXT [RUN_ID], e.g. "
            '`twinself evaluate "Where do you live?" "In Gothenburg." "I live in Gothenburg."`'
        )
    from twinself.evaluation.judges import evaluate_now

    judge = _judge(settings)
    result = evaluate_now(judge, question, answer, split_context(context))
    if as_json:
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False))
    else:
        console.print(_result_table(result))
    if run_id is None:
        return
    from twinself.pipeline.mlflow_sink import build_run_sink

    sink = build_run_sink(settings)
    if sink.log_evaluation(run_id, None, result):
        err_console.print(f"Logged to MLflow run {run_id} ({sink.tracking_uri}).")
    else:
        err_console.print(
            f"Run {run_id} already has an evaluation (tag deepeval_judge); not logged twice."
        )


def evaluate_set(
    file: Path = typer.Argument(..., help='JSON list of {"question", "expected_facts": [...]}'),
    data_version: str | None = typer.Option(
        None,
        "--data-version",
        help="The memory version to answer from, active or not (default: the active one).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the whole report as JSON."),
    log: bool = typer.Option(True, "--log/--no-log", help="Log one MLflow run with the results."),
) -> None:
    """Answer every question in a set, judge each answer, and log the aggregate to MLflow.

    Aggregates: mean score and pass rate per metric, and fact recall (share of expected_facts
    found in the answers). The run goes to the experiment MLFLOW_EXPERIMENT_NAME-evaluation-sets.

    Example:
        twinself evaluate-set questions.json
        twinself evaluate-set questions.json --data-version v2_20261127_130000
    """
    from twinself.evaluation.judges import build_judge
    from twinself.evaluation.question_set import load_question_set, run_question_set
    from twinself.twin.factory import TwinRuntime

    settings = load_settings()
    questions = load_question_set(file)
    embedder = loading_embedder(settings)
    runtime = TwinRuntime.open(settings, embedder, data_version)
    try:
        active = runtime.data_version()
        twin = runtime.twin()
        twin.retriever.check_ready()
        judge = build_judge(settings, lambda: embedder)
        with Progress(console=err_console, transient=True) as progress:
            task = progress.add_task("Answering and judging", total=len(questions))
            report = asyncio.run(
                run_question_set(twin, judge, questions, active, lambda _: progress.advance(task))
            )
    finally:
        runtime.close()
    aggregates = report.aggregates()
    run_id = None
    if log:
        from twinself.pipeline.mlflow_sink import EVALUATION_SETS, build_run_sink

        run_id = build_run_sink(settings, EVALUATION_SETS).log_summary_run(
            f"evaluate-set {file.name} {active}",
            {
                "question_set": file.name,
                "data_version": active,
                "judge": report.judge,
                "provider": report.provider,
                "model": report.model,
            },
            aggregates,
            {"evaluation_set_results.json": json.dumps(report.to_json(), indent=2)},
        )
    if as_json:
        typer.echo(json.dumps({**report.to_json(), "run_id": run_id}, ensure_ascii=False))
        return
    table = Table(title=f"{file.name} on data version {active}, judge {report.judge}")
    table.add_column("aggregate")
    table.add_column("value", justify="right")
    for name, value in aggregates.items():
        table.add_row(name, f"{value:.3f}" if name != "questions" else str(int(value)))
    console.print(table)
    if run_id:
        console.print(f"Logged as MLflow run {run_id}.")


def status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """How many evaluations wait, are done, or are dead letters (with their errors).

    Example:
        twinself evaluations status
    """
    settings = load_settings()
    queue = EvaluationQueue(build_outbox(settings.home))
    backlog = queue.backlog()
    dead = queue.jobs("dead")
    if as_json:
        payload = {
            "judge": settings.resolved_judge,
            "counts": backlog.counts,
            "oldest_waiting_age_seconds": backlog.oldest_waiting_age_seconds,
            "dead": [
                {"request_id": j.job.request_id, "attempts": j.attempts, "error": j.last_error}
                for j in dead
            ],
        }
        typer.echo(json.dumps(payload))
        return
    counts = ", ".join(f"{n} {status}" for status, n in backlog.counts.items())
    console.print(f"Judge: {settings.resolved_judge}. Evaluations: {counts}.")
    if backlog.oldest_waiting_age_seconds is not None:
        console.print(f"Oldest waiting: {backlog.oldest_waiting_age_seconds:.0f}s.")
    if dead:
        table = Table(title="Dead letters (`twinself evaluations retry --all`)")
        for column in ("request_id", "attempts", "error"):
            table.add_column(column, overflow="fold")
        for job in dead:
            table.add_row(job.job.request_id, str(job.attempts), job.last_error or "")
        console.print(table)


def retry(
    request_id: str | None = typer.Argument(None, help="The dead job's request id."),
    retry_all: bool = typer.Option(False, "--all", help="Retry every dead letter."),
) -> None:
    """Queue dead-letter evaluations again, with fresh attempts.

    Example:
        twinself evaluations retry --all
        twinself evaluations retry 3f2a...
    """
    if (request_id is None) == (not retry_all):
        raise InvalidQuestion("Give one REQUEST_ID or --all (not both).")
    settings = load_settings()
    queue = EvaluationQueue(build_outbox(settings.home))
    count = queue.retry_dead(request_id)
    if request_id is not None and count == 0:
        job = queue.get(request_id)
        state = "was not evaluated" if job is None else f"has an evaluation that is {job.status}"
        raise InvalidQuestion(f"Request {request_id} {state}, not dead: nothing to retry.")
    console.print(f"Queued {count} evaluation(s) again; the evaluation worker picks them up.")


def register(app: typer.Typer) -> None:
    app.command()(handle_errors(evaluate))
    app.command("evaluate-set")(handle_errors(evaluate_set))
    evaluations_app.command("status")(handle_errors(status))
    evaluations_app.command("retry")(handle_errors(retry))
    app.add_typer(evaluations_app, name="evaluations")
