"""How a Prompt becomes chat turns, the same way for every text provider."""

from __future__ import annotations

from twinself.llm.base import ChatTurn, Prompt


def conversation_turns(prompt: Prompt) -> list[ChatTurn]:
    """The history, ending with the question as a user turn.

    The question is appended unless the history already ends with it, so a prompt
    builder may either include it in `messages` or leave it to `question`.
    """
    turns = list(prompt.messages)
    already_asked = bool(turns) and turns[-1] == ChatTurn("user", prompt.question)
    if prompt.question and not already_asked:
        turns.append(ChatTurn("user", prompt.question))
    return turns


def to_chat_messages(prompt: Prompt) -> list[dict[str, str]]:
    """OpenAI-style messages: the system prompt first, then the conversation."""
    system = [{"role": "system", "content": prompt.system}] if prompt.system else []
    return system + [{"role": t.role, "content": t.content} for t in conversation_turns(prompt)]


def prompt_text(prompt: Prompt) -> str:
    """Everything the model reads, for estimating input tokens when the provider reports none."""
    return "\n".join(message["content"] for message in to_chat_messages(prompt))
