"""The offline judge with the real embedding model."""

from __future__ import annotations

import pytest

from twinself.embedding.sentence_transformer import SentenceTransformerEmbedder
from twinself.evaluation.judge_answer_types import answer_spans, expected_answer_type
from twinself.evaluation.judge_facts import stated_facts
from twinself.evaluation.judge_relevancy import StatementVerdict, calibrated
from twinself.evaluation.judge_words import split_statements, stem
from twinself.evaluation.local_judge import LocalJudge

CONTEXT = [
    "Since September 2022 I have worked as a senior ML platform engineer at Solvik in "
    "Gothenburg. I am one of six engineers on Solvik's ML Platform team.",
    "I studied Engineering Physics at Chalmers from 2010 to 2015.",
]


@pytest.fixture(scope="module")
def judge(embedder: SentenceTransformerEmbedder) -> LocalJudge:
    return LocalJudge(embedder)


def test_facts_are_numbers_with_units_dates_years_and_names() -> None:
    facts = stated_facts("I joined Solvik's team of six in March 2022, in Gothenburg, 28 beds.")
    assert {(f.kind, f.key, f.unit) for f in facts} == {
        ("name", "solvik", ""),
        ("number", "6", ""),
        ("date", "2022-3", ""),
        ("name", "gothenburg", ""),
        ("number", "28", "bed"),
    }
    assert stated_facts("I think it went well.") == []
    assert [f.key for f in stated_facts("Twenty-eight, about fourteen hundred.")] == ["28", "1400"]


def test_a_paraphrase_of_the_context_is_faithful(judge: LocalJudge) -> None:
    score = judge.faithfulness("I've been at Solvik in Gothenburg since 2022.", CONTEXT)
    assert score.score == 1.0, score.reason


@pytest.mark.parametrize(
    ("changed", "fact"),
    [
        ("I've been at Solvik in Gothenburg since 2021.", "2021"),
        ("I've been at Solvik in Stockholm since 2022.", "Stockholm"),
        ("I am one of seven engineers on Solvik's ML Platform team.", "seven"),
    ],
)
def test_one_changed_fact_makes_the_claim_unfaithful(
    judge: LocalJudge, changed: str, fact: str
) -> None:
    score = judge.faithfulness(changed, CONTEXT)
    assert score.score <= 0.5
    assert fact in score.reason


def test_one_unsupported_detail_costs_less_than_three_changed_facts(judge: LocalJudge) -> None:
    one = judge.faithfulness("I've been at Solvik in Gothenburg since 2021.", CONTEXT)
    three = judge.faithfulness("I've been at Vendel in Malmo since 2021.", CONTEXT)
    assert 0 < three.score < one.score < 1


def test_details_from_the_question_and_the_speakers_name_are_given(judge: LocalJudge) -> None:
    answer = "I'm Ada, and at Vendel I built the search."
    assert judge.faithfulness(answer, ["I built the search."]).score < 0.6
    given = judge.faithfulness(answer, ["I built the search."], "What did you build at Vendel?")
    assert given.score == 1.0, given.reason


def test_a_unit_or_a_swapped_number_is_caught(judge: LocalJudge) -> None:
    context = [
        "Night patrols ran from 9 pm to 5 am, and we walked about 14 km a night.",
        "My first ward was a 28-bed ward in Kumasi.",
        "Later I worked in Accra at a 420-bed hospital.",
    ]
    assert judge.faithfulness("We walked about 14 miles a night.", context).score <= 0.5
    assert judge.faithfulness("My first ward in Kumasi had 420 beds.", context).score <= 0.5
    assert judge.faithfulness("My first ward in Kumasi had 28 beds.", context).score == 1.0


def test_a_negation_the_context_does_not_make_is_caught(judge: LocalJudge) -> None:
    context = ["I paused the project for three months. Nobody complained."]
    assert judge.faithfulness("Nobody complained about the pause.", context).score > 0.8
    assert judge.faithfulness("Many users complained about the pause.", context).score <= 0.5


def test_an_implied_count_costs_a_little(judge: LocalJudge) -> None:
    context = ["My supervisors were Helena Marques and Amilcar Lopes."]
    score = judge.faithfulness("I had two supervisors: Helena Marques and Amilcar Lopes.", context)
    assert 0.8 < score.score < 1.0


def test_honest_dont_know_is_faithful_and_relevant(judge: LocalJudge) -> None:
    answer = "Honestly, I don't know - I haven't shared that."
    assert judge.faithfulness(answer, CONTEXT).score == 1.0
    assert judge.answer_relevancy("What's your blood type?", answer).score == 1.0


def test_no_context_supports_nothing(judge: LocalJudge) -> None:
    assert judge.faithfulness("I work at Solvik.", []).score == 0.0


def test_on_topic_answer_is_more_relevant_than_an_off_topic_one(judge: LocalJudge) -> None:
    question = "Where did you go to university?"
    on = judge.answer_relevancy(question, "I studied Engineering Physics at Chalmers.")
    off = judge.answer_relevancy(question, "I host a board game night every month.")
    assert on.score > 2 * off.score, (on.score, off.score)


def test_a_title_does_not_end_a_sentence() -> None:
    assert split_statements("My supervisor was Dr. Helena Bergqvist. She was great.") == [
        "My supervisor was Dr. Helena Bergqvist.",
        "She was great.",
    ]


def test_list_markers_and_scraps_are_not_statements() -> None:
    text = "- I live in Gothenburg.\n* I work at Solvik. It is fun.\n1. Ok\n• Six of us."
    assert split_statements(text) == [
        "I live in Gothenburg.",
        "I work at Solvik.",
        "It is fun.",
        "Six of us.",
    ]


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("When did you move to Gothenburg?", "time"),
        ("Can you tell me when you moved to Gothenburg?", "time"),
        ("How long have you kept your sourdough starter?", "duration"),
        ("How often do you bake bread?", "frequency"),
        ("How many plants do you have?", "quantity"),
        ("How much funding did you raise?", "quantity"),
        ("Where do you go bouldering?", "place"),
        ("Who supervised your thesis?", "name"),
        ("Which company acquired Saltmarsh Labs?", "name"),
        ("What did you name your cat?", "name"),
        ("What's your favourite board game?", None),
        ("Why did you leave Saltmarsh Labs?", None),
    ],
)
def test_the_kind_of_fact_a_question_asks_for(question: str, kind: str | None) -> None:
    assert expected_answer_type(question) == kind


@pytest.mark.parametrize(
    ("statement", "question", "spans"),
    [
        # A year is a time, not a count; a duration is not a count unless one is asked for.
        ("I co-founded Fieldnote in 2019.", "How many people work there?", []),
        ("We are 35 people after eight years.", "How many people work there?", ["35"]),
        ("About 2,300 a day at its peak.", "How many vessels did you track?", ["2,300"]),
        # "How much" money wants a sum or a share.
        ("We now have 35 employees.", "How much funding did you raise?", []),
        ("By 38 percent.", "How much did it cut your costs?", ["percent"]),
        # A rate is not a duration; "since <time>" is.
        ("I feed it twice a day.", "How long have you kept it?", []),
        ("Since April 2016.", "How long have you kept it?", ["2016", "April"]),
        # A place or a name the question already states is no answer; a month is no place.
        ("I moved to Vienna in August 2020.", "Where did you live before Vienna?", []),
        ("In Ålidhem, in Umeå.", "Where did you grow up?", ["Ålidhem", "Umeå"]),
        ("I left Saltmarsh Labs in 2022.", "Which company acquired Saltmarsh Labs?", []),
    ],
)
def test_answer_spans_are_new_facts_of_the_asked_kind(
    statement: str, question: str, spans: list[str]
) -> None:
    found = answer_spans(statement, expected_answer_type(question), question)
    assert sorted(found) == sorted(spans)


def test_word_forms_share_a_stem() -> None:
    assert stem("moved") == stem("moving") == stem("move")
    assert stem("studies") == "study"
    assert stem("won") == stem("win")
    assert stem("4,800") == "4800"


def _first(score_verdicts: tuple[object, ...]) -> StatementVerdict:
    verdict = score_verdicts[0]
    assert isinstance(verdict, StatementVerdict)
    return verdict


def test_a_bare_answer_beats_a_same_topic_statement_without_the_asked_for_fact(
    judge: LocalJudge,
) -> None:
    question = "When did you move to Gothenburg?"
    on = judge.answer_relevancy(question, "In August 2016.")
    off = judge.answer_relevancy(question, "I live in Majorna, a district of Gothenburg.")
    assert on.score > 0.9 > 0.7 > off.score, (on.score, off.score)  # passes / fails at 0.7
    assert "gives no time" in _first(off.verdicts).note
    assert "gives no time" in off.reason


def test_a_year_does_not_answer_how_many(judge: LocalJudge) -> None:
    question = "How many engineers are on your team at Solvik?"
    on = judge.answer_relevancy(question, "Six, including me.")
    off = judge.answer_relevancy(question, "I joined the team at Solvik in 2022.")
    assert on.score > off.score
    assert "number" in _first(off.verdicts).note


@pytest.mark.parametrize(
    ("question", "relevant", "other"),
    [
        (
            "What's your fastest marathon time?",
            "My fastest marathon is 3:27, set in Berlin.",
            "My first marathon was Valencia, in 4 hours 12 minutes.",
        ),
        (
            "Which company did you work for before going freelance?",
            "I was at Cobalt & Finch in Madrid, as a brand strategist.",
            "Since going freelance, my biggest client has been Verde Loom, a textile company.",
        ),
        (
            "Which conference did you speak at in 2024?",
            "In 2024 I spoke at PyCon Italia in Florence.",
            "My first conference talk was at EuroPython in 2021.",
        ),
    ],
)
def test_a_statement_about_another_item_or_time_is_off_topic(
    judge: LocalJudge, question: str, relevant: str, other: str
) -> None:
    on = judge.answer_relevancy(question, relevant)
    off = judge.answer_relevancy(question, other)
    assert on.score > off.score, (on.reason, off.reason)
    assert "another item or time" in _first(off.verdicts).note


def test_a_bare_noun_phrase_answers_an_open_question(judge: LocalJudge) -> None:
    question = "What engine did you build your game in?"
    on = judge.answer_relevancy(question, "Godot: that's what Lanternfall is built on.")
    off = judge.answer_relevancy(question, "My game Lanternfall launched on Steam in 2022.")
    assert on.score > off.score


def test_relevancy_is_the_mean_over_statements(judge: LocalJudge) -> None:
    question = "When did you move to Gothenburg?"
    on = judge.answer_relevancy(question, "In August 2016.")
    off = judge.answer_relevancy(question, "I live in Majorna.")
    both = judge.answer_relevancy(question, "In August 2016. I live in Majorna.")
    assert len(both.verdicts) == 2
    mean = (_first(on.verdicts).relevance + _first(off.verdicts).relevance) / 2
    assert both.score == pytest.approx(calibrated(mean), abs=1e-3)
    assert "I live in Majorna." in both.reason


def test_calibration_keeps_the_order_and_maps_the_best_cut_to_the_pass_mark() -> None:
    assert calibrated(0.0) == 0.0 and calibrated(1.0) == pytest.approx(1.0)
    assert calibrated(0.3) == pytest.approx(0.7)
    raw = [i / 20 for i in range(21)]
    mapped = [calibrated(r) for r in raw]
    assert mapped == sorted(mapped) and len(set(mapped)) == len(mapped)


def test_a_generic_or_evasive_answer_does_not_pass(judge: LocalJudge) -> None:
    question = "What's your marathon PB?"
    on = judge.answer_relevancy(question, "My best is 3:58:12, at the Seoul Marathon in 2024.")
    generic = judge.answer_relevancy(question, "Marathons are mostly about pacing the first half.")
    evasive = judge.answer_relevancy(question, "Oh, marathons! There is so much I could say.")
    assert on.score >= 0.7 > max(generic.score, evasive.score), (on, generic, evasive)
    assert "general remark" in generic.reason and "much to say" in evasive.reason


def test_yes_or_no_answers_a_yes_no_question(judge: LocalJudge) -> None:
    score = judge.answer_relevancy("Do you still have your nursing registration?", "Yes.")
    assert score.score == 1.0


def test_a_statement_about_another_person_is_off_topic(judge: LocalJudge) -> None:
    question = "How long was your grandad a fisherman?"
    off = judge.answer_relevancy(question, "My mother taught geography for 35 years.")
    on = judge.answer_relevancy(question, "My grandad fished for 31 years.")
    assert on.score > 0.7 > off.score


def test_calibration_maps_a_mean_at_the_cut_to_the_pass_mark() -> None:
    assert calibrated((0.1 + 0.2 + 0.6) / 3) == 0.7  # 0.29999999999999993 in floating point
