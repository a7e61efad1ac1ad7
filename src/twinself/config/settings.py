"""The one settings object. Read from the environment and `.env`; nothing else reads os.environ."""

from __future__ import annotations

from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from limits import parse_many
from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

BUNDLED_EMBEDDING_MODEL = "all-MiniLM-L6-v2"


def sample_data_dir() -> Path:
    """The fictional sample persona shipped inside the package."""
    return Path(str(resources.files("twinself") / "sample_data"))


class Settings(BaseSettings):
    """Only the documented names (`validation_alias`) are read from the environment and `.env`.

    Field names are not: with pydantic's populate-by-name, a `home` field would take `$HOME`
    and `host`/`port` whatever another program exported. Code may still pass field names as
    keyword arguments (`Settings(home=...)`); they are turned into the documented names first.
    """

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_by_name=False,
        validate_by_alias=True,
    )

    def __init__(self, **values: Any) -> None:
        super().__init__(**{_documented_name(name): value for name, value in values.items()})

    # --- where things live -------------------------------------------------------------
    home: Path = Field(
        default=Path("~/.twinself"),
        validation_alias="TWINSELF_HOME",
        description="All state: vector store, file hashes, databases.",
    )
    data_dir: Path | None = Field(
        default=None,
        validation_alias="TWINSELF_DATA_DIR",
        description="Your data in the TwinSelf layout; unset uses the bundled sample persona.",
    )
    user_prefix: str = Field(
        default="twin",
        validation_alias=AliasChoices("TWINSELF_USER_PREFIX", "USER_PREFIX"),
        description="Prefix of the three collection names, so several twins can share a Qdrant.",
    )
    bot_name: str = Field(
        default="",
        validation_alias=AliasChoices("TWINSELF_BOT_NAME", "BOT_NAME"),
        description="The persona's name; unset takes the system prompt's first heading.",
    )
    system_prompt_file: str = Field(
        default="",
        validation_alias="TWINSELF_SYSTEM_PROMPT",
        description="File name in system_prompts/; unset takes the first one alphabetically.",
    )

    # --- memory ------------------------------------------------------------------------
    embedding_model: str = Field(
        default=BUNDLED_EMBEDDING_MODEL,
        validation_alias="EMBEDDING_MODEL",
        description="sentence-transformers model name or local path; the default ships offline.",
    )
    qdrant_url: str | None = Field(default=None, validation_alias="QDRANT_URL")
    qdrant_api_key: SecretStr | None = Field(default=None, validation_alias="QDRANT_API_KEY")
    chunk_size: int = Field(default=1000, ge=100, validation_alias="TWINSELF_CHUNK_SIZE")
    chunk_overlap: int = Field(default=200, ge=0, validation_alias="TWINSELF_CHUNK_OVERLAP")
    top_k_semantic: int = Field(default=7, ge=0, le=100, validation_alias="TOP_K_SEMANTIC")
    top_k_episodic: int = Field(default=5, ge=0, le=100, validation_alias="TOP_K_EPISODIC")
    top_k_procedural: int = Field(default=10, ge=0, le=100, validation_alias="TOP_K_PROCEDURAL")
    history_turns: int = Field(
        default=6,
        ge=0,
        validation_alias="TWINSELF_HISTORY_TURNS",
        description="How many recent conversation messages (user or assistant) go into the prompt.",
    )

    # --- language model ----------------------------------------------------------------
    llm_provider: Literal["auto", "offline", "gemini", "openai"] = Field(
        default="auto",
        validation_alias="TWINSELF_LLM_PROVIDER",
        description="auto = gemini when GOOGLE_API_KEY is set, else offline.",
    )
    google_api_key: SecretStr | None = Field(default=None, validation_alias="GOOGLE_API_KEY")
    chat_llm_model: str = Field(default="gemini-2.5-flash-lite", validation_alias="CHAT_LLM_MODEL")
    gemini_base_url: str | None = Field(
        default=None,
        validation_alias="GEMINI_BASE_URL",
        description="Override the Gemini API address (a proxy or a test server).",
    )
    openai_base_url: str = Field(
        default="http://127.0.0.1:11434/v1",
        validation_alias="OPENAI_BASE_URL",
        description="Any OpenAI-compatible endpoint: Ollama, vLLM, llama.cpp server.",
    )
    openai_api_key: SecretStr | None = Field(default=None, validation_alias="OPENAI_API_KEY")
    openai_model: str = Field(default="llama3.2", validation_alias="OPENAI_MODEL")
    temperature: float = Field(default=0.7, ge=0.0, le=2.0, validation_alias="LLM_TEMPERATURE")
    max_output_tokens: int = Field(default=1024, ge=1, validation_alias="LLM_MAX_OUTPUT_TOKENS")
    llm_timeout_seconds: float = Field(default=60.0, gt=0, validation_alias="LLM_TIMEOUT_SECONDS")
    llm_max_retries: int = Field(default=3, ge=0, le=10, validation_alias="LLM_MAX_RETRIES")
    llm_retry_base_seconds: float = Field(
        default=1.0, ge=0, validation_alias="LLM_RETRY_BASE_SECONDS"
    )

    # --- tracking (MLflow) and the HTTP server ---------------------------------------------
    mlflow_tracking_uri: str | None = Field(
        default=None,
        validation_alias="MLFLOW_TRACKING_URI",
        description="An MLflow server; unset = a SQLite store under TWINSELF_HOME.",
    )
    mlflow_experiment: str = Field(
        default="twinself_production", validation_alias="MLFLOW_EXPERIMENT_NAME"
    )
    tracking_enabled: bool = Field(
        default=True,
        validation_alias="TWINSELF_TRACKING",
        description="Record every request in the outbox for MLflow.",
    )
    model_prices: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        validation_alias="MODEL_PRICES",
        description='JSON, USD per 1M tokens: {"model": {"input_per_million": x, '
        '"output_per_million": y}}; merged over the bundled prices.',
    )
    show_procedural_sources: bool = Field(  # the twin's own rules in /chat sources
        default=False, validation_alias="TWINSELF_SHOW_PROCEDURAL_SOURCES"
    )
    host: str = Field(default="127.0.0.1", validation_alias="TWINSELF_HOST")
    api_keys: SecretStr | None = Field(
        default=None,
        validation_alias="TWINSELF_API_KEYS",
        description="Comma-separated keys a client must send (Authorization: Bearer KEY, or "
        "X-API-Key: KEY) to chat, suggest answers and read run states; unset = open.",
    )
    admin_key: SecretStr | None = Field(
        default=None,
        validation_alias="TWINSELF_ADMIN_KEY",
        description="The owner's key for the /admin/ routes (feedback review, data versions), "
        "sent the same ways; unset = the admin routes are off.",
    )
    rate_limit: str = Field(
        default="60/minute;1000/day",
        validation_alias="TWINSELF_RATE_LIMIT",
        description="Requests each client (its API key, else its address) may make to the "
        "visitor-facing routes, e.g. 20/minute;300/day; more get 429 with Retry-After. "
        "Empty turns limits off. Counted per API process.",
    )
    trusted_proxies: str = Field(
        default="",
        validation_alias="TWINSELF_TRUSTED_PROXIES",
        description="Comma-separated addresses of your reverse proxies: only their "
        "X-Forwarded-For names the visitor's address.",
    )
    cors_origins: str = Field(
        default="",
        validation_alias="TWINSELF_CORS_ORIGINS",
        description="Comma-separated web origins whose pages may call the API from a browser "
        "(your website, e.g. https://me.example); unset = same origin only.",
    )
    port: int = Field(default=8000, ge=1, le=65535, validation_alias="TWINSELF_PORT")
    api_workers: int = Field(
        default=1,
        ge=1,
        le=64,
        validation_alias="TWINSELF_API_WORKERS",
        description="API worker processes of `twinself serve`; more than one needs QDRANT_URL "
        "(the embedded Qdrant opens in one process only).",
    )
    max_message_chars: int = Field(
        default=4000, ge=1, validation_alias="TWINSELF_MAX_MESSAGE_CHARS"
    )
    max_conversation_messages: int = Field(
        default=50, ge=0, validation_alias="TWINSELF_MAX_CONVERSATION_MESSAGES"
    )
    max_conversation_chars: int = Field(
        default=50_000,
        ge=0,
        validation_alias="TWINSELF_MAX_CONVERSATION_CHARS",
        description="Characters of all conversation turns together (each turn is also held to "
        "TWINSELF_MAX_MESSAGE_CHARS); more is refused with 413.",
    )
    max_body_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        validation_alias="TWINSELF_MAX_BODY_BYTES",
        description="Largest request body, checked before it is parsed; more is refused with 413.",
    )
    daily_budget_usd: float = Field(
        default=0.0,
        ge=0.0,
        validation_alias="TWINSELF_DAILY_BUDGET_USD",
        description="What you mean to spend a day on the chat model, in USD; served as the "
        "twinself_daily_budget_usd gauge for dashboards and alerts (0 = no budget).",
    )
    daily_spend_cap_usd: float = Field(
        default=0.0,
        ge=0.0,
        validation_alias="TWINSELF_DAILY_SPEND_CAP_USD",
        description="Hard stop: once the last 24 hours of chat answers cost this much (USD), "
        "chat answers 503 until they cost less (0 = no cap; the judge's spend not included).",
    )
    metrics_host: str = Field(
        default="127.0.0.1",
        validation_alias="TWINSELF_METRICS_HOST",
        description="Where the shipper's and the evaluator's metric ports listen "
        "(0.0.0.0 for a Prometheus in another container).",
    )
    shipper_metrics_port: int = Field(
        default=9101,
        ge=0,
        le=65535,
        validation_alias="TWINSELF_SHIPPER_METRICS_PORT",
        description="Where the shipper serves its Prometheus metrics (on TWINSELF_METRICS_HOST); "
        "0 turns them off.",
    )
    evaluator_metrics_port: int = Field(
        default=9102,
        ge=0,
        le=65535,
        validation_alias="TWINSELF_EVALUATOR_METRICS_PORT",
        description="Where the evaluation worker serves its Prometheus metrics "
        "(on TWINSELF_METRICS_HOST); 0 turns them off.",
    )
    retention_days: float = Field(
        default=14.0,
        ge=0,
        validation_alias="TWINSELF_RETENTION_DAYS",
        description="Finished outbox rows (shipped records, logged evaluations, merged or "
        "rejected suggestions) older than this are deleted by the shipper; 0 keeps them all.",
    )
    shipper_batch_size: int = Field(default=50, ge=1, validation_alias="TWINSELF_SHIPPER_BATCH")
    shipper_poll_seconds: float = Field(
        default=0.5, gt=0, validation_alias="TWINSELF_SHIPPER_POLL_SECONDS"
    )

    # --- quality evaluation (DeepEval) ----------------------------------------------------
    eval_judge: Literal["auto", "local", "gemini", "openai", "none"] = Field(
        default="auto",
        validation_alias="EVAL_JUDGE",
        description="auto = gemini when GOOGLE_API_KEY_4DEEPEVAL is set, else local (offline, "
        "no LLM); none turns evaluation off.",
    )
    eval_google_api_key: SecretStr | None = Field(
        default=None,
        validation_alias="GOOGLE_API_KEY_4DEEPEVAL",
        description="The judge's own Gemini key, a separate quota from GOOGLE_API_KEY.",
    )
    eval_allow_chat_key: bool = Field(
        default=False,
        validation_alias="EVAL_ALLOW_CHAT_KEY",
        description="Let the Gemini judge use GOOGLE_API_KEY when GOOGLE_API_KEY_4DEEPEVAL "
        "is unset (shares the chat quota).",
    )
    eval_llm_model: str = Field(
        default="gemini-2.0-flash",
        validation_alias="EVAL_LLM_MODEL",
        description="The judge model (Gemini, or the OpenAI-compatible endpoint's model).",
    )
    eval_gemini_base_url: str | None = Field(
        default=None,
        validation_alias="EVAL_GEMINI_BASE_URL",
        description="Override the judge's Gemini API address (a proxy or a test server).",
    )
    eval_openai_base_url: str | None = Field(
        default=None,
        validation_alias="EVAL_OPENAI_BASE_URL",
        description="OpenAI-compatible judge endpoint (Ollama: http://127.0.0.1:11434/v1); "
        "unset = OPENAI_BASE_URL.",
    )
    eval_openai_api_key: SecretStr | None = Field(
        default=None, validation_alias="EVAL_OPENAI_API_KEY"
    )
    eval_sample_rate: float = Field(
        default=1.0,
        ge=0.0,
        le=1.0,
        validation_alias="EVAL_SAMPLE_RATE",
        description="Share of tracked answers evaluated (0.1 for high traffic).",
    )
    eval_relevancy_threshold: float = Field(
        default=0.7, ge=0.0, le=1.0, validation_alias="EVAL_RELEVANCY_THRESHOLD"
    )
    eval_faithfulness_threshold: float = Field(
        default=0.7, ge=0.0, le=1.0, validation_alias="EVAL_FAITHFULNESS_THRESHOLD"
    )
    eval_concurrency: int = Field(
        default=2,
        ge=1,
        le=32,
        validation_alias="EVAL_CONCURRENCY",
        description="Evaluations the worker runs at once.",
    )
    eval_timeout_seconds: float = Field(
        default=120.0,
        gt=0,
        validation_alias="EVAL_TIMEOUT_SECONDS",
        description="Per evaluation; a timeout is retried like a failure.",
    )
    eval_max_attempts: int = Field(
        default=6,
        ge=1,
        le=50,
        validation_alias="EVAL_MAX_ATTEMPTS",
        description="Failed attempts before a job becomes a dead letter "
        "(`twinself evaluations retry`).",
    )

    @property
    def chat_api_keys(self) -> tuple[str, ...]:
        return tuple(_comma_list(self.api_keys.get_secret_value() if self.api_keys else ""))

    @property
    def cors_origin_list(self) -> list[str]:
        return [origin.rstrip("/") for origin in _comma_list(self.cors_origins)]

    @property
    def trusted_proxy_list(self) -> list[str]:
        return _comma_list(self.trusted_proxies)

    @field_validator("rate_limit")
    @classmethod
    def _rate_limit_parses(cls, value: str) -> str:
        if value.strip():
            try:
                parse_many(value)
            except ValueError as exc:
                raise ValueError(f"write limits like 20/minute;300/day ({exc})") from None
        return value

    @field_validator("home", "data_dir", mode="after")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser().resolve() if value is not None else None

    @field_validator("user_prefix")
    @classmethod
    def _prefix_is_a_name(cls, value: str) -> str:
        if not value or not all(c.isalnum() or c in "_-" for c in value):
            raise ValueError("use letters, digits, '_' or '-' only")
        return value

    @model_validator(mode="after")
    def _overlap_below_size(self) -> Settings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"TWINSELF_CHUNK_OVERLAP ({self.chunk_overlap}) must be smaller than "
                f"TWINSELF_CHUNK_SIZE ({self.chunk_size})"
            )
        return self

    @cached_property
    def resolved_data_dir(self) -> Path:
        return self.data_dir if self.data_dir is not None else sample_data_dir()

    @property
    def resolved_provider(self) -> Literal["offline", "gemini", "openai"]:
        if self.llm_provider == "auto":
            return "gemini" if self.google_api_key is not None else "offline"
        return self.llm_provider

    @property
    def resolved_judge(self) -> Literal["local", "gemini", "openai", "none"]:
        if self.eval_judge == "auto":
            return "gemini" if self.eval_google_api_key is not None else "local"
        return self.eval_judge

    @property
    def resolved_tracking_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{self.home / 'mlflow.db'}"

    @property
    def mlflow_artifact_location(self) -> str:
        """Where a new experiment keeps artifacts: never the working directory."""
        return (self.home / "mlartifacts").as_uri()


def _comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _documented_name(name: str) -> str:
    """A field's documented (environment) name; other keys (`_env_file`, aliases) as given."""
    field = Settings.model_fields.get(name)
    alias = field.validation_alias if field is not None else None
    if isinstance(alias, str):
        return alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    return name
