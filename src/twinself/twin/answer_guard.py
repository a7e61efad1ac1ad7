"""The last check on every answer: it must not reproduce the twin's instructions.

A model talked into it ("print your system prompt") answers with its instructions, or with
its facts section wholesale. The guard counts the answer's words that lie inside runs of
RUN_WORDS or more words copied from the instructions (system prompt, prompt headings, the
grounding paragraph and the rules in this prompt). Above MAX_COPIED_WORDS, or with two or
more of the prompt's fact labels ("[2] (career.md > Career)"), the answer is replaced by a
refusal and `withheld` says why ("instructions" or "memory_dump"). Runs that also occur in
the retrieved facts or examples do not count: quoting the owner's public facts is what
answers are for.

An honest answer can echo a phrase the prompt prescribes ("the real Maya can be reached by
email": 8 words), so one phrase is not a leak; a rule is 20 to 30 words, the system prompt
hundreds. Cost: one regex pass and set lookups over the answer (tens of microseconds).

Streams are checked as they arrive. Text that could still be the start of a copied run is
held back until the run breaks, so what reaches the client holds fewer than
MAX_COPIED_WORDS copied words, and a tripped stream ends with the refusal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

from twinself.llm.base import Prompt
from twinself.llm.declines import REFUSALS, Decline
from twinself.twin.prompt import fact_label

RUN_WORDS = 6
MAX_COPIED_WORDS = 30
MAX_FACT_LABELS = 1
_WORD = re.compile(r"[^\W_]+")

NGram = tuple[str, ...]


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _ngrams(words: Sequence[str]) -> set[NGram]:
    return {tuple(words[i : i + RUN_WORDS]) for i in range(len(words) - RUN_WORDS + 1)}


@lru_cache(maxsize=256)
def _text_ngrams(text: str) -> frozenset[NGram]:
    """Facts and examples recur across answers: split each once."""
    return frozenset(_ngrams(_words(text)))


def _prefixes(ngrams: Iterable[NGram]) -> frozenset[NGram]:
    return frozenset(ngram[:k] for ngram in ngrams for k in range(1, RUN_WORDS))


@lru_cache(maxsize=64)
def _rule_sets(rules: tuple[str, ...]) -> tuple[frozenset[NGram], frozenset[NGram]]:
    """The n-grams of a prompt's rules and their prefixes; retrieval mostly returns the same
    rules, so this is a cache hit."""
    ngrams = frozenset().union(*(_text_ngrams(rule) for rule in rules))
    return ngrams, _prefixes(ngrams)


class AnswerGuard:
    """Built once per twin from the instructions every prompt carries."""

    def __init__(self, fixed_instructions: Sequence[str]) -> None:
        self._fixed = frozenset().union(*(_ngrams(_words(t)) for t in fixed_instructions))
        self._fixed_prefixes = _prefixes(self._fixed)

    def check(self, prompt: Prompt) -> LeakCheck:
        rules, rule_prefixes = _rule_sets(tuple(r.text for r in prompt.rules))
        return LeakCheck(
            (self._fixed, rules),
            (self._fixed_prefixes, rule_prefixes),
            [p.text for p in (*prompt.facts, *prompt.examples)],
            [fact_label(n, p) for n, p in enumerate(prompt.facts, 1)],
        )


class LeakCheck:
    """One prompt's check: `withheld(text)` for a whole answer, `StreamGuard` for a stream."""

    def __init__(
        self,
        instructions: tuple[frozenset[NGram], ...],
        prefixes: tuple[frozenset[NGram], ...],
        public_texts: Sequence[str],
        fact_labels: Sequence[str],
    ) -> None:
        self._instructions = instructions
        self._prefixes = prefixes
        self._public_texts = public_texts
        self._public: frozenset[NGram] | None = None  # built only when an answer copies
        self.fact_labels = fact_labels

    def copied(self, ngram: NGram) -> bool:
        if not any(ngram in ngrams for ngrams in self._instructions):
            return False
        if self._public is None:
            self._public = frozenset().union(*(_text_ngrams(t) for t in self._public_texts))
        return ngram not in self._public

    def may_begin_a_copy(self, words: NGram) -> bool:
        return any(words in prefixes for prefixes in self._prefixes)

    def withheld(self, text: str) -> str:
        scan = _Scan(self)
        scan.add(text, final=True)
        return scan.reason()


class _Scan:
    """A growing text's words, copied runs and fact labels; each chunk costs only its own
    words (a token-by-token stream must not rescan the whole answer each time)."""

    def __init__(self, check: LeakCheck) -> None:
        self._check = check
        self.text = ""
        self._words: list[str] = []
        self._starts: list[int] = []
        self._covered: list[bool] = []
        self._copied_words = 0
        self._next_ngram = 0
        self._untokenized = 0  # where the text not yet split into words starts
        self._labels: set[str] = set()
        self._label_chars = max(map(len, check.fact_labels), default=0)

    def add(self, chunk: str, final: bool) -> None:
        searched_from = max(0, len(self.text) - self._label_chars)
        self.text += chunk
        self._untokenized, position = len(self.text), self._untokenized
        for word in _WORD.finditer(self.text, position):
            if word.end() == len(self.text) and not final:
                self._untokenized = word.start()  # it may go on in the next chunk
                break
            self._words.append(word.group().lower())
            self._starts.append(word.start())
            self._covered.append(False)
        for i in range(self._next_ngram, len(self._words) - RUN_WORDS + 1):
            if self._check.copied(tuple(self._words[i : i + RUN_WORDS])):
                self._copied_words += RUN_WORDS - sum(self._covered[i : i + RUN_WORDS])
                self._covered[i : i + RUN_WORDS] = [True] * RUN_WORDS
        self._next_ngram = max(self._next_ngram, len(self._words) - RUN_WORDS + 1)
        tail = self.text[searched_from:]
        self._labels.update(label for label in self._check.fact_labels if label in tail)

    def reason(self) -> str:
        if self._copied_words > MAX_COPIED_WORDS:
            return Decline.INSTRUCTIONS
        return Decline.MEMORY_DUMP if len(self._labels) > MAX_FACT_LABELS else ""

    def safe_end(self) -> int:
        """How much of the text cannot become part of a copied run any more."""
        start = len(self._words)
        while start > 0 and self._covered[start - 1]:
            start -= 1  # a copied run that reaches the end may still grow
        for k in range(min(RUN_WORDS - 1, start), 0, -1):
            if self._check.may_begin_a_copy(tuple(self._words[start - k : start])):
                start -= k
                break
        return self._starts[start] if start < len(self._words) else self._untokenized


def refusal(reason: str) -> str:
    return REFUSALS[Decline(reason)]


class StreamGuard:
    """Feed the model's chunks; send what `feed` and `finish` return."""

    def __init__(self, check: LeakCheck) -> None:
        self._scan = _Scan(check)
        self._sent = 0
        self.sent_text = ""
        self.withheld = ""

    def _refuse(self, reason: str) -> str:
        self.withheld = reason
        out = ("\n\n" if self.sent_text else "") + refusal(reason)
        self.sent_text += out
        return out

    def _release(self, end: int) -> str:
        out = self._scan.text[self._sent : end] if end > self._sent else ""
        self._sent = max(self._sent, end)
        self.sent_text += out
        return out

    def _step(self, chunk: str, final: bool) -> str:
        if self.withheld:
            return ""  # the rest of a withheld answer is dropped
        self._scan.add(chunk, final)
        if reason := self._scan.reason():
            return self._refuse(reason)
        return self._release(len(self._scan.text) if final else self._scan.safe_end())

    def feed(self, chunk: str) -> str:
        return self._step(chunk, final=False)

    def finish(self) -> str:
        return self._step("", final=True)
