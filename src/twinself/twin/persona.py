"""Who the twin is: its name and system prompt, from `system_prompts/`."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from twinself.memory.documents import read_text, system_prompt_path

_FIRST_HEADING = re.compile(r"^\s*#\s+(.+?)\s*#*\s*$", re.MULTILINE)
DEFAULT_NAME = "Twin"


@dataclass(frozen=True)
class Persona:
    name: str
    system_prompt: str
    prompt_file: str

    @property
    def prompt_version(self) -> str:
        """A short hash of the system prompt: which prompt answers, without its text."""
        return hashlib.sha256(self.system_prompt.encode()).hexdigest()[:12]


def load_persona(data_dir: Path, prompt_file: str = "", bot_name: str = "") -> Persona:
    path = system_prompt_path(data_dir, prompt_file)
    text = read_text(path).strip()
    if not bot_name:
        heading = _FIRST_HEADING.search(text)
        bot_name = heading.group(1) if heading else DEFAULT_NAME
    return Persona(name=bot_name, system_prompt=text, prompt_file=path.name)
