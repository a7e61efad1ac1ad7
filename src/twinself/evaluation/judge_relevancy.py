"""Answer relevancy, offline: how well each statement of an answer addresses the question.

A statement is relevant when it addresses the question's focus AND gives the kind of fact the
question asks for. Embedding closeness alone cannot do it: "My first marathon was Valencia" is
as close to "What's your fastest marathon time?" as "My fastest marathon is 3:27", and "In
August 2012." is far from "When did you move to Canada?". Each statement is scored from four
signals:
- answer type: the kind of fact the question asks for, a time, a place, a name ...
  (`judge_answer_types`);
- focus: the question's content words, lightly stemmed (stop words, the wh-phrase, auxiliaries
  and light verbs such as "get" or "keep" dropped; selectors such as "fastest", "first" or
  "favourite" count double, words of its setting, "at the hackathon", "before going
  freelance", half). Their weighted share in the statement (an opening "it", "that", "she"
  stands for the question's first one) is averaged with the statement's embedding cosine to
  the question (ramped from 0.1 -> 0 to 0.9 -> 1);
- directness: a statement that gives the asked-for kind of fact and little else answers the
  question without repeating its words ("That happened in January 2018."): 1 / (1 + its
  words that are neither focus words, nor the answer, nor times and amounts, nor, for a place,
  its description "on the north bank of the river"). For an open question only a bare noun
  phrase up front ("Wingspan, partly because ...") counts as the answer;
- contrast: a statement about another item of the same kind ("my first marathon" for "your
  fastest marathon"), another year than the question's, or the other side of its time frame
  ("since going freelance" for "before going freelance") is about something else.
Relevance = 1 - (1 - focus) * (1 - directness), either is evidence; times 0.25 if the
statement lacks the asked-for kind of fact or is a contrast. An honest "I don't know" counts as
relevant, as in DeepEval. The answer's score is the mean over its statements, calibrated.
The method was designed on the first 19 cases of benchmarks/judge_cases.json; see
benchmarks/judge_agreement.py for how the other cases were used and its figures per part.
Limits: it has no grammar and no world knowledge, so an open question ("What does Surdeg
do?", "Why ...?") answered in other words than the question's can lose to a statement that
repeats the question's words about something else.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from twinself.evaluation.judge_answer_types import (
    WH_PHRASE,
    YEAR,
    answer_spans,
    expected_answer_type,
    fact_words,
    question_sentence,
)
from twinself.evaluation.judge_facts import stated_facts
from twinself.evaluation.judge_words import (
    LIGHT,
    STOP,
    TOKEN,
    UNCERTAIN,
    Word,
    content_words,
    matches,
    normalise,
    plain,
    same_word,
    selector,
    split_statements,
    stem,
)

# The statement-question cosine that counts as no / as full semantic closeness.
_SIMILARITY_LOW, _SIMILARITY_HIGH = 0.1, 0.9
_SEMANTIC_WEIGHT = 0.5  # the cosine's share against focus-word coverage
# What is left of a statement that lacks the asked-for kind of fact or is about another item.
_OFF_TARGET = 0.25
_PASS_POINT = 0.30  # the raw relevancy mapped to the pass mark (see `calibrated`)
_PASS_MARK = 0.7  # the default EVAL_RELEVANCY_THRESHOLD

# A question's setting: words after these ("at the hackathon", "in your band", "before going
# freelance") count half; an off-topic answer in the same voice often shares its setting.
_ADJUNCT_START = frozenset(
    """in at on to for with from during across along about of into onto over under through
    after before since until without within near by around between among toward towards via
    behind beside next""".split()
)
_ANAPHOR = re.compile(r"^\s*(?:it|its|that|this|she|he|they|her|his|their)\b", re.I)
_LOCATIVE = frozenset(
    """in at on near next by around outside inside behind beside between along across over
    under opposite""".split()
)
_DETERMINERS = frozenset("a an the my your our his her their its this that these those".split())
_FRAME = re.compile(r"\b(before|after|since|until)\s+((?:[\w'-]+\s*){1,4})", re.I)
_OTHER_SIDE = {
    "before": ("after", "since"),
    "until": ("after", "since"),
    "after": ("before",),
    "since": ("before",),
}
_OPENING = re.compile(r"^\s*([^,:;()\u2013\u2014]+?)\s*(?:[,:;(\u2013\u2014]|[.!?]?\s*$)")
_PHRASE_GLUE = frozenset("a an the and of &".split())


def _opening_phrase(statement: str) -> list[str]:
    """The statement's opening, if it is a bare noun phrase of one to four words ("Bass
    guitar: that's my role", "Godot."): an elliptical answer. Empty otherwise."""
    match = _OPENING.match(plain(statement))
    if not match:
        return []
    tokens = [normalise(t) for t in TOKEN.findall(match.group(1))]
    if not 1 <= len(tokens) <= 4 or tokens[0] in _PHRASE_GLUE - {"a", "an", "the"}:
        return []
    if any((t in STOP and t not in _PHRASE_GLUE) or t in LIGHT for t in tokens):
        return []
    return [match.group(1)]


_FIRST_CLAUSE = re.compile(r"^[^,;:.!?()\u2013\u2014]+")
_LEAD_WORDS = frozenset(
    "about roughly around nearly almost over under just only in on at since".split()
)


def _leads_with(statement: str, spans: Sequence[str]) -> bool:
    """Is the statement's first clause the asked-for fact and hardly anything else?"""
    match = _FIRST_CLAUSE.match(plain(statement).strip())
    if not match:
        return False
    clause = match.group(0)
    rest = clause
    for span in spans:
        rest = rest.replace(span, " ")
    left = [normalise(t) for t in TOKEN.findall(rest)]
    return len(left) < len(TOKEN.findall(clause)) and all(w in _LEAD_WORDS for w in left)


@dataclass(frozen=True)
class Focus:
    kind: str | None
    terms: dict[str, float]  # stem (or selector group) -> weight
    selected: tuple[tuple[str, str], ...]  # (selector group, stem of the noun it picks)
    frame: tuple[str, tuple[str, ...]] | None  # ("before", stems of "going freelance")
    years: frozenset[str]  # "Which conference did you speak at in 2024?"
    subject: str | None  # the first content word outside the setting: "book" in "When was
    # your book published?", what "it" in an answer refers to


def question_focus(question: str) -> Focus:
    kind = expected_answer_type(question)
    asked = WH_PHRASE.sub(" ", question_sentence(question))
    words = content_words(asked)
    setting = _setting_positions(asked)
    terms: dict[str, float] = {}
    for word in words:
        weight = 2.0 if selector(word.text) else 1.0
        if word.position in setting:
            weight /= 2
        terms[word.stem] = max(terms.get(word.stem, 0.0), weight)
    selected = tuple(
        (word.stem, noun.stem)
        for index, word in enumerate(words)
        if selector(word.text)
        for noun in _following(words, index)
    )
    frame = None
    if match := _FRAME.search(plain(question)):
        frame = (match.group(1).lower(), tuple(w.stem for w in content_words(match.group(2))))
    years = frozenset(re.findall(YEAR, question))
    subject = next(
        (w.stem for w in words if w.position not in setting and not selector(w.text)), None
    )
    return Focus(kind, terms, selected, frame, years, subject)


def _setting_positions(text: str, starts: frozenset[str] = _ADJUNCT_START) -> set[int]:
    """Token positions of the content words in prepositional phrases and time clauses:
    "hackathon" in "What did you win at the hackathon?". With `starts=_LOCATIVE`, only the
    phrases that say where: "on the north bank of the river", not "to work"."""
    text = re.sub(r"n't\b", " not", plain(text))
    positions, inside, previous = set(), False, ""
    for position, token in enumerate(TOKEN.findall(text)):
        word = normalise(token)
        if word in starts:
            inside = True
        elif word in STOP and not (
            word in _DETERMINERS or word == "of" or (word == "to" and previous == "next")
        ):
            inside = False
        elif inside and word not in STOP:
            positions.add(position)
        previous = word
    return positions


def _following(words: Sequence[Word], index: int) -> list[Word]:
    """The next two content words, if they are close: the noun a selector picks out."""
    start = words[index].position
    return [w for w in words[index + 1 : index + 3] if w.position - start <= 3]


def _contrast(focus: Focus, question: str, statement: str, words: Sequence[Word]) -> bool:
    """Is the statement about another item ("my first marathon" for "your fastest marathon")
    or the other side of the question's time frame ("since" for "before going freelance")?"""
    groups = {group for group, _ in focus.selected}
    kin = _OPENS_WITH_KIN.match(plain(statement))
    if kin and kin.group(1).lower() in _KIN:  # "My sister ..." when asked about you or a parent
        asked = {_KIN[w] for w in re.findall(r"[a-z]+", plain(question).lower()) if w in _KIN}
        if _KIN[kin.group(1).lower()] not in asked:
            return True
    if focus.selected and not any(w.stem in groups for w in words):
        for index, word in enumerate(words):
            if selector(word.text) and any(
                same_word(noun, following.stem)
                for following in _following(words, index)
                for _, noun in focus.selected
            ):
                return True
        # "my first ward" asked, "the hospital I went to next" answered
        if any(w.stem in _ORDER for w in words) and groups <= _ORDER:
            return True
    if focus.years:
        years = set(re.findall(YEAR, statement))
        if years and not years & focus.years:  # "my first talk was in 2021"
            return True
    if focus.frame and focus.frame[1]:
        marker, clause = focus.frame
        for match in _FRAME.finditer(statement):
            if match.group(1).lower() in _OTHER_SIDE.get(marker, ()):
                said = content_words(match.group(2))
                if any(same_word(term, w.stem) for term in clause for w in said):
                    return True
    return False


def _ramp(value: float, low: float, high: float) -> float:
    return min(1.0, max(0.0, (value - low) / (high - low)))


@dataclass(frozen=True)
class StatementVerdict:
    statement: str
    relevance: float
    note: str


_KIND_NAMES = {"quantity": "number"}  # what a "quantity" is called in a note


def calibrated(raw: float) -> float:
    """Stretch the raw relevancy so its best cut lands on the pass mark; order is unchanged.

    Raw scores run low: on the 86 labelled cases (benchmarks/judge_cases.json) only 38 relevant
    answers reached 0.7. The cut that best separates relevant from off-topic answers is 0.30
    (balanced accuracy 0.73: 77/86 relevant pass, 37/86 off-topic pass), so 0.30 -> 0.7,
    piecewise linear, keeping 0 and 1 in place. A raw score is rounded to 9 places first, so a
    mean that floating point puts a hair below the cut (0.29999999999999993) still passes, and
    the cut itself maps to exactly 0.7.
    """
    raw = round(raw, 9)
    if raw < _PASS_POINT:
        return _PASS_MARK * raw / _PASS_POINT
    return _PASS_MARK + (1.0 - _PASS_MARK) * (raw - _PASS_POINT) / (1.0 - _PASS_POINT)


# Who a statement is about: "My sister ..." does not answer a question about you or a parent.
_KIN = {
    **dict.fromkeys("mother mum mom father dad parent parents".split(), "parent"),
    **dict.fromkeys(
        "grandfather grandad granddad grandpa grandmother grandma granny grandparent "
        "grandparents".split(),
        "grandparent",
    ),
    **dict.fromkeys("sister brother sibling siblings".split(), "sibling"),
    **dict.fromkeys("wife husband partner boyfriend girlfriend spouse".split(), "partner"),
    **dict.fromkeys("son daughter child children kids".split(), "child"),
    **{w: w for w in "aunt uncle cousin niece nephew boss manager colleague friend".split()},
}
_KIN |= {stem(word): group for word, group in list(_KIN.items())}
_OPENS_WITH_KIN = re.compile(r"^\s*(?:[\w'-]+,\s*)?my\s+(\w+)\b", re.I)
_ORDER = frozenset(("first", "last", "second", "third", "next", "previous"))
_YES_NO_QUESTION = re.compile(
    r"^(?:do|did|does|have|has|had|are|is|was|were|can|could|would|will|should)\s+(?:you|your)\b"
)
_YES_NO = re.compile(
    r"^\s*(?:yes|yeah|yep|no|nope|not really|partly|sort of|of course|sure)\b", re.I
)
# Saying there is much to say, instead of saying it: "I could go on about it forever!"
_EVASIVE = re.compile(
    r"\b(?:(?:so much|a lot|lots) (?:I|to) (?:could )?(?:say|tell)|(?:could|can) (?:say|talk|tell "
    r"you|go on)\b|go on (?:about|for)|long story|(?:lovely|great|good|interesting|big) "
    r"(?:question|topic|story|project)|where (?:should|do|would) I (?:even )?(?:begin|start)|"
    r"quite something|so many (?:stories|memories|things)|whole chapter|who knows|"
    r"least interesting|it depends\b)",
    re.I,
)
_FIRST_PERSON = re.compile(r"\b(?:I|I'm|I've|I'd|I'll|my|me|we|our|us)\b")
UNSPECIFIC_SHARE = 0.4  # what is left of an answer that says nothing in particular


def says_nothing_specific(question: str, answer: str) -> str:
    """Why the answer is generic or evasive, or "" if it is not. Generic: a remark about the
    world with no fact of its own ("Marathons are mostly about pacing"); evasive: says there is
    much to say. Either gives no number, date or name the question does not already hold."""
    if _YES_NO_QUESTION.match(question_sentence(question)) and _YES_NO.match(plain(answer)):
        return ""  # "Yes." says all a yes/no question asks
    asked = {fact.key for fact in stated_facts(question)}
    if any(f.key not in asked for s in split_statements(answer) for f in stated_facts(s)):
        return ""
    if _EVASIVE.search(plain(answer)):
        return "says there is much to say instead of saying it"
    if not _FIRST_PERSON.search(plain(answer)):
        return "is a general remark, not about the asker's question"
    return ""


def relevancy_reason(verdicts: Sequence[StatementVerdict], raw: float) -> str:
    weakest = min(verdicts, key=lambda v: v.relevance)
    return (
        f"{len(verdicts)} statement(s), mean statement relevance {raw:.2f}; "
        f"least relevant: {weakest.statement[:120]!r}"
        + (f" ({weakest.note})" if weakest.note else "")
    )


def statement_verdict(
    focus: Focus, question: str, statement: str, similarity: float
) -> StatementVerdict:
    """How relevant one statement of the answer is; `similarity` is its embedding's cosine to
    the question's."""
    # An honest "I don't know" answers the question (DeepEval counts it as relevant).
    if UNCERTAIN.search(statement):
        return StatementVerdict(statement, 1.0, "says it does not know")
    if _YES_NO_QUESTION.match(question_sentence(question)) and _YES_NO.match(plain(statement)):
        return StatementVerdict(statement, 1.0, "answers yes or no")
    words = content_words(statement)
    total = sum(focus.terms.values())
    covered = {t for t in focus.terms if any(matches(t, w) for w in words)}
    said_kin = {_KIN[w.text] for w in words if w.text in _KIN}
    covered |= {t for t in focus.terms if _KIN.get(t) in said_kin}  # "mother" for "parents"
    if focus.subject and _ANAPHOR.match(statement):  # "It came out ..." names the subject
        covered.add(focus.subject)
    coverage = sum(focus.terms[t] for t in covered) / total if total else 0.0
    blend = (
        _SEMANTIC_WEIGHT * _ramp(similarity, _SIMILARITY_LOW, _SIMILARITY_HIGH)
        + (1 - _SEMANTIC_WEIGHT) * coverage
    )
    spans = answer_spans(statement, focus.kind, question)
    # For an open question, only a bare noun phrase up front ("Wingspan, partly because
    # ...") marks an answer to it.
    direct = spans if focus.kind is not None else _opening_phrase(statement)
    directness = 0.0
    if direct:
        answer_words = fact_words(statement) | {
            normalise(t) for span in direct for t in TOKEN.findall(span)
        }
        # A place is described with prepositions: "on the north bank of the river".
        described = _setting_positions(statement, _LOCATIVE) if focus.kind == "place" else set()
        other = [
            w
            for w in words
            if w.text not in answer_words
            and w.position not in described
            and w.text not in _LOCATIVE
            and not any(matches(t, w) for t in focus.terms)
        ]
        directness = 1 / (1 + len(other))
        if focus.kind is not None and _leads_with(statement, direct):
            directness = 1.0  # "About 300, and contrast is checked ...": the answer comes first
    relevance = 1 - (1 - blend) * (1 - directness)
    note = ""
    if focus.kind is not None and not spans:
        relevance *= _OFF_TARGET
        note = f"gives no {_KIND_NAMES.get(focus.kind, focus.kind)}, which the question asks for"
    elif _contrast(focus, question, statement, words):
        relevance *= _OFF_TARGET
        note = "about another item or time than the one asked about"
    return StatementVerdict(statement, round(relevance, 4), note)
