"""The offline answerer: no model download, no network, nothing invented.

It answers with the persona's own sentences: an example answer when the question closely
matches one of the persona's example conversations, otherwise the retrieved fact sentences
most similar to the question. Because every sentence it returns is copied from retrieved
memory, it cannot invent facts.

It declines requests for its instructions, its memory wholesale, another persona, or a home
address or phone number (llm/declines.py). It says it doesn't know when the best sentence is
not similar enough, or when it is only moderately similar and none of the question's topic
words occur in the retrieved facts ("What's your favourite Pokémon?" is close to "My
favourite board game is ..." in embedding space, but nothing retrieved mentions Pokémon),
or when the question asks for a kind of fact (an amount of money, a colour, a name, a
person, a relative, a plan, a favourite) that no sentence close to the question holds
(llm/question_kinds.py); when one holds it, it joins the closest sentences. An example
answers only when it holds that kind too. Sentences are ranked by embedding similarity plus a
small share of BM25 (text/lexical.py): the words the question names pick the sentence among
several about the same subject.
Thresholds were set on the sample persona's benchmark questions
(benchmarks/retrieval_accuracy.py) and the unseen personas' dev split
(benchmarks/offline_answers.py --dev).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from twinself.embedding.embedder import CachedEmbedder, Embedder, similarity
from twinself.llm.base import Generation, GenerationStream, Passage, Prompt, TokenUsage
from twinself.llm.base import estimate_tokens as estimate
from twinself.llm.declines import REFUSALS, decline_kind
from twinself.llm.messages import prompt_text
from twinself.llm.question_kinds import wanted_facts
from twinself.text.lexical import NOT_TOPIC, bm25_scores, stem
from twinself.text.sentences import split_sentences

_BULLET = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+")
_MIN_SENTENCE_CHARS = 12
_WORD = re.compile(r"[^\W_]+")
EXAMPLE_PREFIX, ANSWER_PREFIX = "Q: ", "\nA: "
# Set on the sample persona's benchmark questions.
MIN_FACT_SIMILARITY = 0.3  # below this, nothing retrieved is about the question
MIN_OFF_TOPIC_SIMILARITY = 0.45  # below this, a topic word of the question must occur
MIN_EXAMPLE_SIMILARITY = 0.8  # an example conversation answers only a near-same question
MAX_SENTENCES = 3
KEEP_WITHIN = 0.1  # sentences this close to the best one join the answer
# Of a sentence's BM25 among the facts' sentences (text/lexical.py), beside its cosine
# similarity; set on the unseen personas' dev split (0.1 and more lost as many as they won).
LEXICAL_WEIGHT = 0.05

DONT_KNOW = (
    "Honestly, I don't know - that isn't something I've written down anywhere, "
    "so I'd rather not guess."
)


@dataclass(frozen=True)
class _Candidate:
    text: str
    passage_rank: int
    position: int
    section: tuple[str, str]  # (file, heading): an answer keeps to one


def fact_sentences(facts: Sequence[Passage]) -> list[_Candidate]:
    """Self-contained sentences of the retrieved facts, bullets unwrapped."""
    candidates: list[_Candidate] = []
    seen: set[str] = set()
    for rank, passage in enumerate(facts):
        position = 0
        for line in passage.text.splitlines():
            line = _BULLET.sub("", line).strip()
            if not line or line.startswith(("#", "|", "```")):
                continue
            for sentence in split_sentences(line):
                key = sentence.lower()
                if len(sentence) >= _MIN_SENTENCE_CHARS and key not in seen:
                    seen.add(key)
                    section = (passage.source, passage.heading)
                    candidates.append(_Candidate(sentence, rank, position, section))
                    position += 1
    return candidates


def split_example(text: str) -> tuple[str, str]:
    """An episodic passage is stored as 'Q: question\\nA: answer'."""
    question, _, answer = text.partition(ANSWER_PREFIX)
    return question.removeprefix(EXAMPLE_PREFIX).strip(), answer.strip()


def topic_words_found(question: str, facts: Sequence[Passage]) -> bool:
    """Does any topic word of the question occur in the retrieved facts?"""
    topic = {stem(w) for w in _WORD.findall(question.lower()) if w not in NOT_TOPIC and len(w) > 2}
    if not topic:
        return True  # nothing to check ("How are you?")
    vocabulary = {stem(w) for p in facts for w in _WORD.findall(f"{p.heading} {p.text}".lower())}
    return bool(topic & vocabulary)


def _complete(text: str) -> str:
    return text if text.endswith((".", "!", "?", ":", ")")) else f"{text}."


class ExtractiveAnswerer:
    """Implements LLMProvider. Token counts are estimates: there is no tokenizer here."""

    name = "offline"
    model = "extractive-v1"

    def __init__(self, embedder: Embedder, *, cache_size: int = 8192) -> None:
        self._embedder = embedder
        # Fact sentences and example questions recur in every answer: embed each once.
        self._cached = CachedEmbedder(embedder, cache_size)

    def _embed(self, texts: Sequence[str]) -> list[list[float]]:
        return self._cached.embed_documents(texts)

    def answer_text(self, prompt: Prompt) -> str:
        # Before the examples too: a refusal must not depend on how close an example comes.
        declined = decline_kind(prompt.question, prompt.facts)
        if declined is not None:
            return REFUSALS[declined]
        question = self._embedder.embed_query(prompt.question)
        wanted = wanted_facts(prompt.question)
        example = self._matching_example(question, prompt.examples)
        # An example answers only with what is asked for: "How much do they pay you?" is not
        # answered by an example that turns the question down.
        if example is not None and all(w.held_by(example) for w in wanted):
            return example
        candidates = fact_sentences(prompt.facts)
        if not candidates:
            return DONT_KNOW
        vectors = self._embed([c.text for c in candidates])
        lexical = bm25_scores(prompt.question, [c.text for c in candidates])
        scored = sorted(
            (
                (similarity(question, v) + LEXICAL_WEIGHT * w, c)
                for v, w, c in zip(vectors, lexical, candidates, strict=True)
            ),
            key=lambda item: item[0],
            reverse=True,
        )
        best = scored[0][0]
        if best < MIN_FACT_SIMILARITY or (
            best < MIN_OFF_TOPIC_SIMILARITY and not topic_words_found(prompt.question, prompt.facts)
        ):
            return DONT_KNOW
        holding: list[_Candidate] = []
        if wanted:
            # Only a sentence holding what is asked for can answer; one well below the best
            # match is about something else. It joins the closest sentences rather than
            # replacing them: the rules see words, not meaning, and may pick the wrong one.
            required = [w for w in wanted if w.required]
            near = best - max(w.within for w in wanted)
            holding = [
                c
                for score, c in scored
                if score >= max(MIN_FACT_SIMILARITY, near)
                and all(w.held_by(c.text) for w in required)
            ]
            if required and not holding:
                return DONT_KNOW
            # Of those, one holding the kinds merely preferred too ("How many ...?": a number).
            holding.sort(key=lambda c: not all(w.held_by(c.text) for w in wanted))
        floor = max(MIN_FACT_SIMILARITY, best - KEEP_WITHIN)
        chosen = [c for score, c in scored[:MAX_SENTENCES] if score >= floor]
        if holding and holding[0] not in chosen:
            chosen.append(holding[0])
        # The section of the sentence that answers comes first ("Where do you work?" opens
        # with the current job, not the first one), each section in the order it was written.
        # Keeping to that one section alone lost facts spread over two on the dev split.
        section = (holding or [scored[0][1]])[0].section
        chosen.sort(key=lambda c: (c.section != section, c.passage_rank, c.position))
        return " ".join(_complete(c.text) for c in chosen)

    def _matching_example(
        self, question: Sequence[float], examples: Sequence[Passage]
    ) -> str | None:
        pairs = [split_example(e.text) for e in examples]
        pairs = [(q, a) for q, a in pairs if q and a]
        if not pairs:
            return None
        vectors = self._embed([q for q, _ in pairs])
        score, answer = max(
            ((similarity(question, v), a) for v, (_, a) in zip(vectors, pairs, strict=True)),
            key=lambda item: item[0],
        )
        return answer if score >= MIN_EXAMPLE_SIMILARITY else None

    def _generation(self, prompt: Prompt, text: str) -> Generation:
        usage = TokenUsage(estimate(prompt_text(prompt)), estimate(text), estimated=True)
        return Generation(text, usage, self.model, self.name, finish_reason="STOP")

    def generate(self, prompt: Prompt) -> Generation:
        return self._generation(prompt, self.answer_text(prompt))

    def stream(self, prompt: Prompt) -> GenerationStream:
        stream = GenerationStream(iter(()), self.name, self.model)

        def chunks() -> Iterator[str]:
            text = self.answer_text(prompt)
            # Word by word, so a terminal or a page shows it arriving like a model's reply.
            yield from re.findall(r"\S+\s*", text)
            stream.result = self._generation(prompt, text)

        stream.chunks = chunks()
        return stream

    def close(self) -> None:
        pass
