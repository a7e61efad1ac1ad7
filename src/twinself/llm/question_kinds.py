"""What kind of fact a question asks for, so the offline answerer can tell when the retrieved
sentences are on the topic but do not hold the answer.

Embedding similarity says what a sentence is about, not whether it answers: "How much does
your employer pay you?" is close to "My employer has about 260 employees", "What will your
next project be?" to every sentence about the last one. A question that asks for an amount
of money, a colour, someone's or something's name, a person ("Who ...?"), a relative, a plan
or a favourite is only answered by a sentence that holds one.

Rules about English, not about any persona: question words, currency, colour words, words for
relatives, capitalised names, words of plans, of preference and of time. Counts are only
preferred: "How many days a week are you in the office?" is answered by "on Tuesdays and
Thursdays", so a "How many ...?" question lifts a sentence with a number but no number is no
reason to say "I don't know".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_MONEY = re.compile(
    r"[$£€¥₩]|\b(?:\d[\d,.]*\s*(?:k|m|bn)?\s*)?(?:NOK|SEK|DKK|EUR|USD|GBP|CHF|JPY|KRW|CAD|AUD"
    r"|dollars?|euros?|pounds?|kron[ae]r?|krone|won|yen|francs?|rupees?|cedis?|reais|real)\b"
    r"|\b(?:salary|per cent|percent)\b|\d\s*%|\bfree\b|\bunpaid\b|\bvolunteer",
    re.IGNORECASE,
)
_COLOURS = re.compile(
    r"\b(?:red|orange|yellow|green|blue|purple|violet|pink|brown|black|white|grey|gray|silver"
    r"|gold|golden|beige|cream|navy|turquoise|teal|maroon|crimson|scarlet|olive|tan|ivory"
    r"|unpainted|varnished)\b",
    re.IGNORECASE,
)
_PLANS = re.compile(
    r"\b(?:will|won't|shall|going to|gonna|plan|plans|planning|planned|hope|hoping|want to"
    r"|wants to|would like|intend|intends|next|future|someday|one day|soon|upcoming|aim to"
    r"|thinking of|considering|dream|eventually|later this|this (?:year|spring|summer|autumn"
    r"|winter)|would|goal|goals|ambition|looking to|wish|expect|expects|hopes|one of these days"
    r"|not yet)\b|'ll\b|'d\b",
    re.IGNORECASE,
)
_PREFERENCE = re.compile(
    r"\b(?:favou?rite|love|loves|loved|like|likes|liked|prefer|prefers|enjoy|enjoys|best"
    r"|most(?! of\b)|go-to|recommend|recommends|fond|fan of|can't resist|always|adore|adores|top"
    r"|rather|choose|pick|keep coming back|can't live without|cannot live without)\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty"
    r"|thirty|forty|fifty|hundred|hundreds|thousand|thousands|million|dozen|dozens|couple"
    r"|once|twice|single|both|half|a few)\b",
    re.IGNORECASE,
)
_MONTH_OR_DAY = (
    r"jan(?:uary)?|feb(?:ruary)?|march|april|may|june|july|aug(?:ust)?|sep(?:tember)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|mondays?|tuesdays?|wednesdays?|thursdays?"
    r"|fridays?|saturdays?|sundays?"
)
_TIME = re.compile(
    rf"\b(?:1[5-9]\d\d|20\d\d|\d\ds|{_MONTH_OR_DAY}|spring|summer|autumn|fall|winter"
    r"|christmas|easter|weekends?|mornings?|evenings?|nights?|noon|midnight|daily|weekly"
    r"|monthly|yearly|annually|ago|since|until|yesterday|today|tomorrow|recently"
    r"|childhood|teens|twenties|thirties|forties|fifties|age|aged|years? old|when i was"
    r"|as a (?:child|kid|teenager|student)|o'clock|\d{1,2}(?::\d\d)?\s*(?:am|pm|h))\b",
    re.IGNORECASE,
)
_MONTHS_AND_DAYS = frozenset(
    """january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday""".split()
)
_WORD = re.compile(r"[^\W_]+")
# Words that open a sentence without naming anything ("In Toronto ...", "My PhD ...").
_FUNCTION_WORDS = frozenset(
    """a an the my our your his her their its this that these those in at on to of for from
    with by as after before since during when while if and but so we he she they it every
    each there here then""".split()
)


def _names(sentence: str, question: str, first: bool = False) -> list[int]:
    """Word positions of capitalised words that name something: not the sentence's first
    word (unless `first`), not "I", not a month or a day, not a word the question holds."""
    asked = {w.lower() for w in _WORD.findall(question)}
    positions = []
    words = _WORD.findall(sentence)
    for index, word in enumerate(words):
        if index == 0 and (not first or word.lower() in _FUNCTION_WORDS):
            continue
        if not word[0].isupper() or word == "I":
            continue
        if word.lower().removesuffix("s") in _MONTHS_AND_DAYS or word.lower() in asked:
            continue
        positions.append(index)
    for index in range(1, len(words)):  # "a cat called Bori", "a package named foo"
        if words[index - 1].lower() in {"called", "named"} and index not in positions:
            positions.append(index)
    if '"' in sentence or "\u201c" in sentence:  # a quoted title names something too
        positions.append(-1)
    return positions


# Relatives, each with the words a sentence may use for them.
_KIN = {
    "mother": "mother|mum|mom|mama|parents",
    "father": "father|dad|papa|parents",
    "parent": "parents?|mother|father|mum|dad|mom",
    "brother": "brothers?|siblings?",
    "sister": "sisters?|siblings?",
    "sibling": "siblings?|brothers?|sisters?",
    "grandmother": "grandmother|grandma|granny|grandparents",
    "grandfather": "grandfather|grandpa|grandad|granddad|grandparents",
    "grandparent": "grandparents?|grandmother|grandfather|grandma|grandpa",
    "wife": "wife|spouse|partner|married",
    "husband": "husband|spouse|partner|married",
    "partner": "partner|wife|husband|spouse|girlfriend|boyfriend|married",
    "child": "child|children|kids?|sons?|daughters?",
    "son": "sons?|children|kids",
    "daughter": "daughters?|children|kids",
    "uncle": "uncles?",
    "aunt": "aunts?|auntie",
    "cousin": "cousins?",
}
_KIN_ALIASES = {"mum": "mother", "mom": "mother", "dad": "father", "kid": "child"}
_KIN_ASKED = re.compile(r"\b(" + "|".join([*_KIN, *_KIN_ALIASES]) + r")(?:s|ren)?\b", re.IGNORECASE)


def _mentions_kin(kin: str) -> Callable[[str], bool]:
    said = re.compile(rf"\b(?:{_KIN[kin]})\b", re.IGNORECASE)
    return lambda sentence: said.search(sentence) is not None


_TITLE = re.compile(r"\b(?:Dr|Prof|Mr|Mrs|Ms|Sr|Sra|Sister|Brother)\.?\s+[A-Z]")


def _full_name(sentence: str, question: str) -> bool:
    """A name of a person or an organisation: a title and a name ("Dr. Lund"), or two
    capitalised words in a row ("Maria Lund", "Acme Labs") that the question does not hold
    and that do not follow "in" (a place: "in New York")."""
    if _TITLE.search(sentence):
        return True
    words = _WORD.findall(sentence)
    names = set(_names(sentence, question, first=True))
    if any(n > 0 and words[n - 1].lower() in {"called", "named"} for n in names):
        return True
    return any(n + 1 in names and (n == 0 or words[n - 1].lower() != "in") for n in names)


_NAME_OF = re.compile(
    r"\b(\w+)'s name\b"
    r"|\bname of (?:your|the|my|his|her|their|that)?\s*((?:\w+\s*){1,3}?)"
    r"(?=\s*(?:$|[?,.]|\b(?:in|at|on|from|that|which|who|you|and|when|where)\b))"
    r"|\bwhat(?:'s| is| was| were)\s+(?:your|the|my|his|her|their|that)?\s*((?:\w+\s*){1,3}?)"
    r"\s*called\b",
    re.IGNORECASE,
)
NAME_WITHIN = 0.25
NAME_WINDOW = 5  # words between the thing asked about and its name ("my mother, Fernanda")


def _names_thing(thing: str, question: str) -> Callable[[str], bool]:
    """`thing` is the head word of what is named ("school" in "your high school"): the
    sentence must mention it (a relative by any of its words) with a name near it."""
    kin = _KIN_ALIASES.get(thing, thing)
    same = re.compile(rf"(?:{_KIN[kin]})$" if kin in _KIN else re.escape(thing[:5]))

    def held(sentence: str) -> bool:
        words = [w.lower() for w in _WORD.findall(sentence)]
        spots = [i for i, w in enumerate(words) if same.match(w)]
        if not spots:
            return False
        names = _names(sentence, question)
        return any(n == -1 or abs(n - s) <= NAME_WINDOW for n in names for s in spots)

    return held


@dataclass(frozen=True)
class WantedFact:
    """A kind of fact the question asks for; `held_by(sentence)` says whether it is there."""

    kind: str
    held_by: Callable[[str], bool]
    # How far below the question's closest sentence one holding it may score: a name next to
    # the very thing asked about is strong evidence even in a sentence about more.
    within: float = 0.15
    # False: a sentence holding it is preferred, but none is no reason to say "I don't know"
    # ("How many languages do you speak?" is answered by "Portuguese, English and Norwegian").
    required: bool = True


def wanted_facts(question: str) -> list[WantedFact]:
    """The kinds of fact `question` asks for (often none: "Tell me about your work")."""
    text = " ".join(question.replace("\u2019", "'").split())
    wanted: list[WantedFact] = []
    lower = text.lower()
    if (
        re.search(r"\bhow much\b", lower)
        and re.search(
            r"\b(?:pay|paid|pays|salary|earn|earns|cost|costs|price|charge|money|worth|fee|fees"
            r"|rent|spend|spent|make)\b",
            lower,
        )
    ) or re.search(r"\b(?:salary|salaries|income|wages?|earnings|what do you earn)\b", lower):
        wanted.append(WantedFact("money", lambda s: _MONEY.search(s) is not None))
    if re.search(
        r"^when\b|\b(?:and|so|but) when\b|\bwhen (?:did|do|does|was|were|is|are|will|have|had)"
        r" (?:you|your|it|they|he|she|the)\b|\b(?:what|which|in what|in which) year\b"
        r"|\bwhat date\b|\bhow long ago\b|\bsince when\b",
        lower,
    ):
        wanted.append(WantedFact("time", lambda s: _TIME.search(s) is not None))
    if re.search(r"\bhow many\b", lower):
        wanted.append(WantedFact("count", lambda s: _NUMBER.search(s) is not None, required=False))
    if re.search(r"\bwhat colou?rs?\b|\bwhich colou?rs?\b", lower):
        wanted.append(WantedFact("colour", lambda s: _COLOURS.search(s) is not None))
    if re.search(
        r"\bwill (?:you|your|it|they|he|she)\b|\bgoing to\b|\bplan(?:ning|s)?\b|\bnext year\b"
        r"|\bone day\b|\bin the future\b|\bsomeday\b|\bin (?:the )?next\b",
        lower,
    ):
        wanted.append(WantedFact("plan", lambda s: _PLANS.search(s) is not None))
    if re.search(r"\bfavou?rite\b|\bprefer\b|\blike (?:the )?(?:best|most)\b", lower):
        wanted.append(WantedFact("preference", lambda s: _PREFERENCE.search(s) is not None))
    for asked in _KIN_ASKED.findall(lower):
        kin = _KIN_ALIASES.get(asked, asked)
        wanted.append(WantedFact("relative", _mentions_kin(kin)))
    if re.match(r"who(?:'s| is| was| are| were)?\b", lower):
        wanted.append(WantedFact("person", lambda s: _full_name(s, text)))
    if named := _NAME_OF.search(text):
        asked_about = next((g for g in named.groups() if g), "")
        thing = [w.lower() for w in _WORD.findall(asked_about)]
        if thing:
            wanted.append(WantedFact("name", _names_thing(thing[-1], text), within=NAME_WITHIN))
    return wanted
