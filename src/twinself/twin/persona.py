"""Who the twin is: its name and system prompt, from `system_prompts/`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from twinself.errors import ConfigurationError
from twinself.memory.documents import SYSTEM_PROMPTS_FOLDER, read_text

_FIRST_HEADING = re.compile(r"^\s*#\s+(.+?)\s*#*\s*$", re.MULTILINE)
DEFAULT_NAME = "Twin"


@dataclass(frozen=True)
class Persona:
    name: str
    system_prompt: str
    prompt_file: str


def load_persona(data_dir: Path, prompt_file: str = "", bot_name: str = "") -> Persona:
    folder = data_dir / SYSTEM_PROMPTS_FOLDER
    if prompt_file:
        path = folder / prompt_file
        if not path.is_file():
            raise ConfigurationError(
                f"TWINSELF_SYSTEM_PROMPT={prompt_file!r} not found in {folder}; "
                "name a .md file there or unset it."
            )
    else:
        candidates = sorted(folder.glob("*.md")) if folder.is_dir() else []
        if not candidates:
            raise ConfigurationError(
                f"No system prompt in {folder}; add one (e.g. system_prompt.md) - "
                "`twinself validate` checks the whole folder."
            )
        path = candidates[0]
    text = read_text(path).strip()
    if not bot_name:
        heading = _FIRST_HEADING.search(text)
        bot_name = heading.group(1) if heading else DEFAULT_NAME
    return Persona(name=bot_name, system_prompt=text, prompt_file=path.name)
