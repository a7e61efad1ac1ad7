from __future__ import annotations

from dataclasses import replace

from twinself.llm.base import ChatTurn, Prompt
from twinself.llm.messages import conversation_turns, prompt_text, to_chat_messages


def test_system_first_then_history_then_question(prompt: Prompt) -> None:
    assert to_chat_messages(prompt) == [
        {"role": "system", "content": prompt.system},
        {"role": "user", "content": "Hi, who are you?"},
        {"role": "assistant", "content": "I'm Ada, I build APIs."},
        {"role": "user", "content": "What do you do on weekends?"},
    ]


def test_question_already_in_history_is_not_repeated(prompt: Prompt) -> None:
    asked = replace(prompt, messages=(*prompt.messages, ChatTurn("user", prompt.question)))
    assert conversation_turns(asked) == list(asked.messages)


def test_empty_system_prompt_is_left_out(prompt: Prompt) -> None:
    messages = to_chat_messages(replace(prompt, system=""))
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]


def test_prompt_text_holds_everything_the_model_reads(prompt: Prompt) -> None:
    text = prompt_text(prompt)
    assert prompt.system in text
    assert prompt.question in text
    assert "I build APIs" in text
