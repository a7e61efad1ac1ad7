from __future__ import annotations

from twinself.redaction import redact


def test_credentials_in_any_url_are_hidden_the_same_way() -> None:
    assert redact("http://bob:s3cret@mlflow:5000/api failed") == "http://***@mlflow:5000/api failed"
    assert redact("postgresql://u:p@db/mlflow") == "postgresql://***@db/mlflow"
    assert redact("https://token@host/x") == "https://***@host/x"
    assert redact("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert redact("mail me at bob@example.com") == "mail me at bob@example.com"


def test_given_secrets_are_replaced_and_missing_ones_ignored() -> None:
    assert redact("key=AIzaKEY rejected", ["AIzaKEY", None, ""]) == "key=*** rejected"


def test_long_text_is_cut_after_redaction() -> None:
    text = "http://u:p@h/" + "x" * 50
    assert redact(text, limit=20) == ("http://***@h/" + "x" * 50)[:20] + "..."
