"""Words as the offline judge reads them: statements, tokens, a light stemmer, word lists.

Shared by faithfulness, answer-type detection and relevancy. Matching is on stems (`stem`),
so "moved", "moving" and "move" meet; `same_word` also lets "canada" meet "canadian" and
"bridge" meet "footbridge". Selectors ("fastest", "first", "favourite") are kept apart: they
pick one item out of several, so "fastest" must not match "fast".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from twinself.text.numbers import NUMBER
from twinself.text.sentences import split_sentences

# Capitalised only because they open a sentence or are the pronoun "I".
NOT_NAMES = frozenset(
    """i i'm i've i'd i'll my me we our you your it its this that these those the a an in
    on at to of for from by with and but or so yes no sure honestly after before since when
    then also there here what which who where why how if as all most some many much more
    once now today yesterday lately recently currently outside besides""".split()
)
UNCERTAIN = re.compile(
    r"\b(don't|do not|can't|cannot) (know|say|share|remember)\b|\bnot sure\b|\bno idea\b|"
    r"\bhaven't (shared|written)\b|\brather not\b",
    re.IGNORECASE,
)


def plain(text: str) -> str:
    return text.replace("\u2019", "'")  # typographic apostrophes, as editors type them


def split_statements(text: str) -> list[str]:
    """The sentences of an answer or a passage, list markers off, scraps such as "1." dropped."""
    return [
        sentence
        for line in plain(text).splitlines()
        for sentence in split_sentences(line.strip(" -*•\t"))
        if len(sentence) > 2
    ]


TOKEN = re.compile(r"[^\W_]+(?:[.,:'][^\W_]+)*")  # words, "4,800", "3:27", "master's"
# Words that carry no topic: function words, wh-words, auxiliaries, pronouns, vague adverbs.
STOP = frozenset(
    """a an the and or but nor so yet if then than as of to in on at by for with from about
    into onto over under after before since until till during through between among against
    without within per via up down out off again also too very just only even still already
    ever never not no yes i me my mine myself we us our ours you your yours yourself he him
    his she her hers it its they them their theirs this that these those there here who whom
    whose what which when where why how am is are was were be been being do does did doing
    done have has had having can could will would shall should may might must wo ca some any
    all each every both either neither much many more most few less lot lots other another
    such same own really quite rather pretty around roughly approximately nearly almost
    s t d ll m re ve thing things something anything everything nothing way like well now
    currently usually mostly back far happen happened happens tell say please along across
    behind beside near toward towards upon throughout beyond dr mr mrs ms prof right""".split()
)
# Verbs that say little on their own ("get your certification", "keep it going").
LIGHT = frozenset(
    """get gets got getting gotten make makes made making take takes took taken taking use
    uses used using go goes going went gone keep keeps kept keeping give gives gave given put
    puts let lets come comes came coming""".split()
)
_IRREGULAR = {
    **dict.fromkeys(("won", "wins", "winning"), "win"),
    **dict.fromkeys(("spoke", "spoken"), "speak"),
    **dict.fromkeys(("wrote", "written"), "write"),
    **dict.fromkeys(("grew", "grown"), "grow"),
    **dict.fromkeys(("knew", "known"), "know"),
    **dict.fromkeys(("chose", "chosen"), "choose"),
    **dict.fromkeys(("rode", "ridden"), "ride"),
    **dict.fromkeys(("drove", "driven"), "drive"),
    **dict.fromkeys(("flew", "flown"), "fly"),
    **dict.fromkeys(("ate", "eaten"), "eat"),
    **dict.fromkeys(("began", "begun"), "begin"),
    **dict.fromkeys(("sang", "sung"), "sing"),
    **dict.fromkeys(("fell", "fallen"), "fall"),
    "ran": "run", "taught": "teach", "built": "build", "bought": "buy", "left": "leave",
    "met": "meet", "sold": "sell", "told": "tell", "learnt": "learn", "spent": "spend",
    "swam": "swim", "found": "find", "held": "hold", "led": "lead", "lost": "lose",
    "paid": "pay", "saw": "see", "seen": "see", "sent": "send", "shot": "shoot",
    "stood": "stand", "thought": "think", "felt": "feel", "brought": "bring",
    "caught": "catch", "heard": "hear", "became": "become", "born": "birth",
    "children": "child", "people": "person", "men": "man", "women": "woman", "feet": "foot",
}  # fmt: skip
# Words that pick one item out of several: "your *fastest* marathon", "the *first* version".
# Words in one group pick the same item; "best" is "favourite", not a superlative of its own.
_SELECTOR_GROUPS = {
    **dict.fromkeys(("first", "earliest", "debut"), "first"),
    **dict.fromkeys(("last", "latest", "newest", "current"), "last"),
    **dict.fromkeys(("main", "favourite", "favorite", "best", "primary", "top"), "main"),
    **{w: w for w in "second third fourth fifth previous next worst".split()},
}
_NOT_SUPERLATIVES = frozenset(
    """interest honest forest request contest protest harvest suggest modest invest arrest
    manifest conquest digest tempest earnest""".split()
)


def normalise(token: str) -> str:
    word = plain(token).lower().removesuffix("'s")
    return word.split("'")[0] if "'" in word else word  # "what's" -> "what", "I've" -> "i"


def selector(word: str) -> str | None:
    if word in _SELECTOR_GROUPS:
        return _SELECTOR_GROUPS[word]
    is_superlative = (
        len(word) >= 6 and word.endswith("est") and not word.endswith("west")
    ) and word not in _NOT_SUPERLATIVES
    return word if is_superlative else None


def stem(word: str) -> str:
    """A light stemmer: plural, -ing, -ed and a final -e off; enough to match word forms."""
    w = normalise(word)
    if w in _IRREGULAR:
        return _IRREGULAR[w]
    if NUMBER.fullmatch(w):
        return w.replace(",", "")
    if len(w) > 4 and w.endswith(("ies", "ied")):
        w = w[:-3] + "y"
    elif len(w) > 4 and w.endswith("sses"):
        w = w[:-2]
    elif len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    for suffix in ("ingly", "ing", "edly", "ed"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)]
            if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "lsz":  # "running" -> "run"
                w = w[:-1]
            break
    if len(w) > 3 and w.endswith("e"):
        w = w[:-1]
    return w


def same_word(a: str, b: str) -> bool:
    """Stems of one word: equal, sharing most of a long prefix, or a compound's tail."""
    if a == b:
        return True
    short, long = sorted((a, b), key=len)
    if len(short) < 4 or short[0].isdigit() or long[0].isdigit():
        return False
    if long.startswith(short[: max(4, -(-3 * len(short) // 4))]):  # "canada" ~ "canadian"
        return True
    return len(short) >= 5 and long.endswith(short)  # "bridge" ~ "footbridge"


@dataclass(frozen=True)
class Word:
    text: str  # as written, lower-cased
    stem: str  # or the selector group, for selectors
    position: int


def content_words(text: str) -> list[Word]:
    """Content words: everything but stop words and light verbs."""
    text = re.sub(r"n't\b", " not", plain(text))
    found = []
    for position, token in enumerate(TOKEN.findall(text)):
        word = normalise(token)
        if word and word not in STOP and word not in LIGHT:
            found.append(Word(word, selector(word) or stem(word), position))
    return found


def matches(term: str, word: Word) -> bool:
    if term in _SELECTOR_GROUPS.values() or selector(term) == term:
        return word.stem == term  # "fastest" is not "fast", "first" not "fastest"
    return same_word(term, word.stem)
