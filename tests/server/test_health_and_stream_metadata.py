"""/health in TwinSelf's words, and stream metadata from the memory version that answered."""

from __future__ import annotations

import asyncio
import json

from tests.support.factories import ClientFactory
from twinself.config.settings import Settings
from twinself.pipeline.request_recorder import RequestContext
from twinself.server.active_memory import Serving
from twinself.server.routes.chat import _events
from twinself.server.schemas import ChatRequest
from twinself.server.services import build_services
from twinself.twin.factory import TwinRuntime, build_twin


def test_health_is_healthy_and_degraded_while_mlflow_is_unreachable(
    make_client: ClientFactory,
) -> None:
    assert make_client().get("/health").json()["status"] == "healthy"  # TwinSelf's value
    down = make_client(mlflow_tracking_uri="http://127.0.0.1:9").get("/health").json()
    assert (down["status"], down["mlflow_connected"]) == ("degraded", False)


def test_stream_metadata_names_the_persona_of_the_version_that_answered(
    built_runtime: TwinRuntime, server_settings: Settings
) -> None:
    """A switch while a stream runs must not relabel it: the metadata comes from the serving
    snapshot the request took, like /chat's bot_name."""
    services = build_services(server_settings, runtime=built_runtime)
    try:
        renamed = server_settings.model_copy(update={"bot_name": "Maya (previous prompt)"})
        twin = build_twin(renamed, built_runtime.store, built_runtime.embedder)
        snapshot = Serving(twin, "v-previous", built_runtime, owned=False)
        assert services.twin.persona.name == "Maya Lindqvist"  # what the server serves now
        body = ChatRequest(session_id="s", message="Where do you work?")
        ctx = RequestContext("r1", "s", "chat_stream", body.message, 0, "v-previous")

        async def collect() -> list[str]:
            stream = twin.stream(body.message)
            return [event async for event in _events(services, ctx, body, stream, snapshot)]

        events = asyncio.run(collect())
    finally:
        services.close()
    [metadata] = [e for e in events if e.startswith("event: metadata")]
    payload = json.loads(metadata.split("data: ", 1)[1])
    assert payload["bot_name"] == "Maya (previous prompt)"
