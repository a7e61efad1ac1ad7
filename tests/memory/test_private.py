"""Private markup: what a build leaves out, and how validation points at broken markers."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.factories import SettingsFactory
from tests.support.private_data import (
    CODEWORD,
    PHONE,
    PUBLIC_AFTER,
    PUBLIC_PHONE_LINE,
    RECIPE,
    add_private_facts,
    leaked,
    shrink,
)
from twinself.embedding.sentence_transformer import SentenceTransformerEmbedder
from twinself.memory.builder import build_memory_builder
from twinself.memory.documents import MemoryType, collection_name
from twinself.memory.private import is_private_entry, marker_problems, public_markdown
from twinself.memory.store import QdrantVectorStore
from twinself.memory.validation import count_private_parts, validate_data_dir


def test_a_marked_block_goes_and_the_text_around_it_stays() -> None:
    text = "Before.\n<!-- private -->\nSecret line.\n<!-- /private -->\nAfter.\n"
    inline = "Call me <!--private-->on 070 123 45 67<!-- /PRIVATE --> never."

    assert public_markdown(text).text == "Before.\n\nAfter.\n"
    assert public_markdown(inline).text == "Call me  never."
    assert public_markdown(text).left_out == 1


def test_a_private_heading_drops_its_section_and_subsections_only() -> None:
    markdown = (
        "# Me\nPublic intro.\n"
        "## Health (private)\nAllergy.\n### Doctor\nDr X.\n"
        "```\n# not a heading (private)\n```\n"  # inside the private section: gone as well
        "## Hobbies\nClimbing.\n"
        "```\n## Fenced (private)\nkept: a fence is not a heading\n```\n"
    )

    public = public_markdown(markdown)

    assert "Allergy" not in public.text and "Dr X" not in public.text
    assert "Public intro." in public.text and "Climbing." in public.text
    assert "kept: a fence is not a heading" in public.text
    assert public.left_out == 1


def test_reading_fails_closed_on_an_unclosed_marker() -> None:
    public = public_markdown("Open.\n<!-- private -->\nSecret.\n## Later\nAlso hidden.\n")
    assert public.text == "Open.\n"


def test_nested_markers_keep_everything_up_to_the_outer_close_private() -> None:
    text = "A <!-- private --> b <!-- private --> c <!-- /private --> d <!-- /private --> e"
    assert public_markdown(text).text == "A  e"
    assert marker_problems(text) == []


def test_broken_markers_are_errors_that_say_where_and_how_to_fix() -> None:
    text = "ok\n<!-- /private -->\nline\n<!-- private -->\nsecret\n"

    problems = marker_problems(text)

    assert [line for line, _ in problems] == [2, 4]
    assert "closes nothing" in problems[0][1] and "<!-- private -->" in problems[0][1]
    assert "never closed" in problems[1][1] and "<!-- /private -->" in problems[1][1]


def test_only_private_false_or_no_flag_is_public() -> None:
    assert not is_private_entry({"user_query": "q"})
    assert not is_private_entry({"private": False})
    assert all(is_private_entry({"private": v}) for v in (True, "yes", "false", 0, None))


def test_validation_reports_markers_and_a_non_boolean_flag(data_dir: Path) -> None:
    facts = data_dir / "semantic_data" / "hobbies.md"
    facts.write_text(facts.read_text(encoding="utf-8") + "\n<!-- private -->\nx\n", "utf-8")
    rules = data_dir / "procedural_data" / "rules.json"
    entries = json.loads(rules.read_text(encoding="utf-8"))
    entries[0]["private"] = "yes"
    rules.write_text(json.dumps(entries, indent=2), encoding="utf-8")

    rendered = [p.render(data_dir) for p in validate_data_dir(data_dir) if p.severity == "error"]

    assert any(r.startswith("semantic_data/hobbies.md:") and "never closed" in r for r in rendered)
    assert any(
        r.startswith("procedural_data/rules.json:2:") and '"private" must be true or false' in r
        for r in rendered
    )


def test_the_sample_data_has_no_private_parts_and_the_test_data_five(data_dir: Path) -> None:
    assert count_private_parts(data_dir) == 0
    add_private_facts(data_dir)
    assert validate_data_dir(data_dir) == []
    # The inline block, the address block, the private section, the entry, the rule.
    assert count_private_parts(data_dir) == 5


def _stored_text(store: QdrantVectorStore, prefix: str) -> dict[MemoryType, str]:
    return {
        memory: "\n".join(
            json.dumps(p.payload, ensure_ascii=False)
            for p in store.points(collection_name(prefix, memory))
        )
        for memory in MemoryType
    }


def test_private_parts_never_reach_the_store_and_marking_later_removes_them(
    data_dir: Path,
    make_settings: SettingsFactory,
    store: QdrantVectorStore,
    embedder: SentenceTransformerEmbedder,
) -> None:
    shrink(data_dir)
    add_private_facts(data_dir)
    settings = make_settings()
    builder = build_memory_builder(settings)

    def rebuild() -> dict[MemoryType, str]:
        plan = builder.plan(store, embedder.model_name, embedder.dimension)
        builder.apply(plan, store, embedder)
        return _stored_text(store, settings.user_prefix)

    stored = rebuild()

    assert leaked("\n".join(stored.values())) == []
    assert PUBLIC_PHONE_LINE in stored[MemoryType.SEMANTIC]
    assert PUBLIC_AFTER in stored[MemoryType.SEMANTIC]
    assert "user_query" in stored[MemoryType.EPISODIC] and RECIPE not in stored[MemoryType.EPISODIC]
    assert "speak_as_maya" in stored[MemoryType.PROCEDURAL]
    assert CODEWORD not in stored[MemoryType.PROCEDURAL]

    # An owner who marks a stored fact private later: the next (incremental) build drops it.
    hobbies = data_dir / "semantic_data" / "hobbies.md"
    text = hobbies.read_text(encoding="utf-8")
    first = next(line for line in text.splitlines() if len(line) > 40 and line[0].isalpha())
    assert first in stored[MemoryType.SEMANTIC]
    hobbies.write_text(
        text.replace(first, f"<!-- private -->{first}<!-- /private -->"), encoding="utf-8"
    )
    stored = rebuild()
    assert first not in stored[MemoryType.SEMANTIC] and PHONE not in stored[MemoryType.SEMANTIC]
    assert PUBLIC_AFTER in stored[MemoryType.SEMANTIC]
