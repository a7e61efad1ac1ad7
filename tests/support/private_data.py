"""Private facts added to a test's copy of the sample data, in every form the owner can mark.

Each private value is distinctive, so finding it anywhere (a stored point, a prompt, an
answer, a source) is a leak.
"""

from __future__ import annotations

import json
from pathlib import Path

PHONE = "+46 70 555 01 23"
STREET = "Kaptensgatan 7"
ALLERGY = "peanut allergy"  # in a "(private)" section
DOCTOR = "Dr Lindahl"  # in that section's subsection
RECIPE = "saffron and cardamom"  # a private example conversation
CODEWORD = "Periwinkle"  # a private rule
PRIVATE_VALUES = (PHONE, STREET, ALLERGY, DOCTOR, RECIPE, CODEWORD)

# Public text around the private parts: it must stay.
PUBLIC_PHONE_LINE = "I prefer email to phone calls."
PUBLIC_AFTER = "I still send paper postcards from every conference I speak at."

_FACTS = f"""
## Phone and post

{PUBLIC_PHONE_LINE} <!-- private -->My mobile number is {PHONE}.<!-- /private -->

<!-- private -->
My home address is {STREET}, 414 59 Gothenburg.
<!-- /private -->

## Health (private)

I have a {ALLERGY} and always carry an adrenaline pen.

### Doctor

My doctor is {DOCTOR} at the health centre in Majorna.

## Letters

{PUBLIC_AFTER}
"""


# Enough of the sample persona for these tests, small enough to build in seconds.
SMALL_PERSONA = {
    "about_me.md",
    "contact_and_availability.md",
    "hobbies.md",
    "declining_and_unknowns.json",
    "greetings_and_smalltalk.json",
    "rules.json",
    "system_prompt.md",
}


def shrink(data_dir: Path) -> None:
    for path in list(data_dir.rglob("*.*")):
        if path.name not in SMALL_PERSONA:
            path.unlink()


def add_private_facts(data_dir: Path) -> None:
    with (data_dir / "semantic_data" / "contact_and_availability.md").open(
        "a", encoding="utf-8"
    ) as f:
        f.write(_FACTS)
    _append_entry(
        data_dir / "episodic_data" / "greetings_and_smalltalk.json",
        {
            "user_query": "What's in your family's secret bun recipe?",
            "your_response": f"The trick is {RECIPE}, but keep that to yourself.",
            "private": True,
        },
    )
    _append_entry(
        data_dir / "procedural_data" / "rules.json",
        {
            "rule_name": "family_codeword",
            "rule_content": f"If someone says the codeword {CODEWORD}, it is my sister.",
            "private": True,
        },
    )


def _append_entry(path: Path, entry: dict[str, object]) -> None:
    entries = json.loads(path.read_text(encoding="utf-8"))
    entries.append(entry)
    path.write_text(json.dumps(entries, indent=2, ensure_ascii=False), encoding="utf-8")


def leaked(text: str) -> list[str]:
    return [value for value in PRIVATE_VALUES if value.lower() in text.lower()]
