"""The persona's prompt version: a stable short hash of the system prompt it speaks with."""

from __future__ import annotations

from pathlib import Path

from twinself.twin.persona import load_persona


def test_the_prompt_version_follows_the_system_prompt_text_only(data_dir: Path) -> None:
    prompt = data_dir / "system_prompts" / "system_prompt.md"
    before = load_persona(data_dir)
    renamed = load_persona(data_dir, bot_name="Someone else")
    prompt.write_text(prompt.read_text() + "\nAlways answer in one sentence.\n")
    edited = load_persona(data_dir)

    assert len(before.prompt_version) == 12 and int(before.prompt_version, 16) >= 0
    assert renamed.prompt_version == before.prompt_version  # the name is not the prompt
    assert edited.prompt_version != before.prompt_version
    assert load_persona(data_dir).prompt_version == edited.prompt_version  # stable
