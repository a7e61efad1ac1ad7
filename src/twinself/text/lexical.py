"""Which words of a question a text shares: the lexical signal beside embedding similarity.

A sentence embedding says what a text is about, and two chunks about the same subject score
alike; the words a question names ("supervisor", "hospital", "standard") tell them apart.
Okapi BM25 over a handful of candidates (the retrieved chunks, or the sentences of the facts)
weighs each shared word by how few candidates hold it. Written here rather than taken from
`rank-bm25`: that package is untyped, unreleased since 2022, and its Okapi IDF goes negative
for a word most of a small candidate set holds (it patches that with an epsilon), while this
needs ~20 lines with the Lucene IDF, which never does.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

_WORD = re.compile(r"[^\W_]+")
# Words that say nothing about a question's topic.
NOT_TOPIC = frozenset(
    """a an the and or but if of to in on at by for with from about as into like through over
    after before what whats which who whom whose when where why how is are was were be been
    being do does did doing done have has had having you your yours yourself i me my mine we
    our us they them their it its this that these those there here can could would should will
    shall may might must any some much many more most other such no not only own same so than
    too very just ever also get got go going tell ask favourite favorite kind sort type thing
    things something anything really actually currently usually mostly way think s ur u""".split()
)
K1, B = 1.2, 0.75  # the usual Okapi constants


def stem(word: str) -> str:
    """Crude, but "studied"/"studies", "engineer"/"engineering", "supervisor"/"supervised"
    meet; a word's first five letters."""
    return word[:5]


def topic_stems(text: str) -> list[str]:
    """The stems of `text`'s words that can carry a topic, in order, repeats kept."""
    return [stem(w) for w in _WORD.findall(text.lower()) if w not in NOT_TOPIC and len(w) > 1]


def bm25_scores(query: str, documents: Sequence[str]) -> list[float]:
    """Okapi BM25 of each document for `query`, IDF taken over `documents` themselves, each
    divided by the sum of the query words' IDF (each present once in a document of average
    length scores 1)."""
    terms = set(topic_stems(query))
    bags = [Counter(topic_stems(d)) for d in documents]
    if not terms or not bags:
        return [0.0] * len(documents)
    average = sum(sum(b.values()) for b in bags) / len(bags) or 1.0
    n = len(bags)
    held = {t: sum(t in b for b in bags) for t in terms}
    idf = {t: math.log(1 + (n - df + 0.5) / (df + 0.5)) for t, df in held.items()}
    ceiling = sum(idf.values()) or 1.0
    scores = []
    for bag in bags:
        norm = K1 * (1 - B + B * sum(bag.values()) / average)
        scores.append(
            sum(idf[t] * bag[t] * (K1 + 1) / (bag[t] + norm) for t in terms if t in bag) / ceiling
        )
    return scores
