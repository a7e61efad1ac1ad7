"""The Qdrant REST stand-in is faithful enough: the real REST client and the store use it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

from tests.fakes.qdrant_rest import QdrantRestServer
from tests.support.factories import SettingsFactory
from tests.support.vectors import points, unit
from twinself.errors import MemoryUnavailable
from twinself.memory.store import QdrantVectorStore, build_vector_store
from twinself.memory.vector_store import StoredPoint, point_id

# The key travels over plain HTTP to loopback on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection")


@pytest.fixture(scope="module")
def server() -> Iterator[QdrantRestServer]:
    with QdrantRestServer() as running:
        yield running


@pytest.fixture
def client(server: QdrantRestServer) -> Iterator[QdrantClient]:
    opened = QdrantClient(url=server.url, check_compatibility=False, timeout=10)
    yield opened
    opened.close()


@pytest.fixture
def store(client: QdrantClient, server: QdrantRestServer) -> QdrantVectorStore:
    return QdrantVectorStore(client, server.url, remote=True)


@pytest.fixture
def name() -> str:
    """Tests share one server, so each gets its own collection."""
    return f"c_{uuid.uuid4().hex[:8]}"


def test_collection_is_created_as_the_store_expects(
    store: QdrantVectorStore, client: QdrantClient, name: str
) -> None:
    assert not store.collection_exists(name)
    store.ensure_collection(name, 4)
    assert store.collection_exists(name)
    assert name in {c.name for c in client.get_collections().collections}

    vectors = client.get_collection(name).config.params.vectors
    assert isinstance(vectors, models.VectorParams)
    assert vectors.size == 4
    assert vectors.distance == models.Distance.COSINE
    assert vectors.multivector_config == models.MultiVectorConfig(
        comparator=models.MultiVectorComparator.MAX_SIM
    )
    store.ensure_collection(name, 4)  # already there, same shape: fine
    with pytest.raises(MemoryUnavailable, match="rebuild --force"):
        store.ensure_collection(name, 8)

    store.delete_collection(name)
    assert not store.collection_exists(name)


def test_remote_store_creates_the_source_payload_index(
    store: QdrantVectorStore, client: QdrantClient, name: str
) -> None:
    store.ensure_collection(name, 4)
    store.upsert(name, points("a.md", 3))
    index = client.get_collection(name).payload_schema["source"]
    assert index.data_type == models.PayloadSchemaType.KEYWORD
    assert index.points == 3


def test_upsert_count_and_ranked_search(store: QdrantVectorStore, name: str) -> None:
    store.ensure_collection(name, 4)
    store.upsert(name, points("a.md", 3) + points("b.md", 2))
    store.upsert(name, points("a.md", 3))  # same ids: replaced, not added
    assert store.count(name) == 5

    hits = store.search(name, unit(2), 5)
    assert hits[0].payload["text"] == "a.md#2"
    assert hits[0].score == pytest.approx(1.0)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_a_point_scores_as_its_best_vector(store: QdrantVectorStore, name: str) -> None:
    store.ensure_collection(name, 4)
    store.upsert(name, [StoredPoint(point_id(name, "m", 0), [unit(0), unit(2)], {"source": "m"})])
    store.upsert(name, [StoredPoint(point_id(name, "s", 0), [unit(1)], {"source": "s"})])
    assert store.search(name, unit(2), 1)[0].payload["source"] == "m"
    assert store.search(name, unit(1), 1)[0].payload["source"] == "s"


def test_delete_sources_removes_only_those_files(store: QdrantVectorStore, name: str) -> None:
    store.ensure_collection(name, 4)
    store.upsert(name, points("a.md", 3) + points("b.md", 2) + points("c.md", 1))
    store.delete_sources(name, ["a.md", "c.md"])
    assert store.count(name) == 2
    assert {h.payload["source"] for h in store.search(name, unit(0), 10)} == {"b.md"}


def test_scroll_pages_through_every_point_with_its_vectors(
    store: QdrantVectorStore, client: QdrantClient, name: str
) -> None:
    store.ensure_collection(name, 4)
    stored = [
        StoredPoint(point_id(name, "s", i), [unit(i), unit(i + 1)], {"source": "s", "i": i})
        for i in range(7)
    ]
    store.upsert(name, stored)

    seen: dict[str, object] = {}
    offset: models.ExtendedPointId | None = None
    pages = 0
    while True:
        records, offset = client.scroll(name, limit=3, offset=offset, with_vectors=True)
        pages += 1
        seen.update({str(r.id): r.vector for r in records})
        if offset is None:
            break
    assert pages == 3
    assert seen == {p.id: p.vectors for p in stored}


def test_aliases_resolve_and_switch_atomically(
    store: QdrantVectorStore, client: QdrantClient, name: str
) -> None:
    alias, old, new = f"{name}_live", f"{name}_v1", f"{name}_v2"
    for collection, source in ((old, "old.md"), (new, "new.md")):
        store.ensure_collection(collection, 4)
        store.upsert(collection, points(source, 2))
    client.update_collection_aliases(
        [
            models.CreateAliasOperation(
                create_alias=models.CreateAlias(collection_name=old, alias_name=alias)
            )
        ]
    )
    assert store.collection_exists(alias)
    assert store.count(alias) == 2
    assert store.search(alias, unit(0), 1)[0].payload["source"] == "old.md"
    assert [a.alias_name for a in client.get_collection_aliases(old).aliases] == [alias]

    client.update_collection_aliases(
        [
            models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias)),
            models.CreateAliasOperation(
                create_alias=models.CreateAlias(collection_name=new, alias_name=alias)
            ),
        ]
    )
    assert store.search(alias, unit(0), 1)[0].payload["source"] == "new.md"
    ours = {a.alias_name: a.collection_name for a in client.get_aliases().aliases}
    assert ours[alias] == new
    assert client.get_collection_aliases(old).aliases == []

    # A batch with one bad operation changes nothing.
    with pytest.raises(UnexpectedResponse) as failed:
        client.update_collection_aliases(
            [
                models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias)),
                models.CreateAliasOperation(
                    create_alias=models.CreateAlias(collection_name="missing", alias_name=alias)
                ),
            ]
        )
    assert failed.value.status_code == 404
    assert store.search(alias, unit(0), 1)[0].payload["source"] == "new.md"


def test_two_client_processes_see_each_others_writes(
    store: QdrantVectorStore, server: QdrantRestServer, name: str
) -> None:
    store.ensure_collection(name, 4)
    store.upsert(name, points("here.md", 2))
    script = textwrap.dedent(
        """
        import sys
        from qdrant_client import QdrantClient, models
        url, name = sys.argv[1:]
        client = QdrantClient(url=url, check_compatibility=False)
        before = client.count(name).count
        vectors = [[[0.0, 0.0, 0.0, 1.0]], [[0.0, 0.0, 1.0, 0.0]], [[0.0, 1.0, 0.0, 0.0]]]
        client.upsert(name, [
            models.PointStruct(id=i + 100, vector=v, payload={"source": "there.md"})
            for i, v in enumerate(vectors)
        ])
        print(before, client.count(name).count)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, server.url, name],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.split() == ["2", "5"]
    assert store.count(name) == 5
    assert store.search(name, unit(3), 1)[0].payload["source"] == "there.md"


def test_missing_collection_is_a_404(store: QdrantVectorStore, client: QdrantClient) -> None:
    with pytest.raises(UnexpectedResponse) as failed:
        client.get_collection("nothing")
    assert failed.value.status_code == 404
    assert failed.value.structured()["status"]["error"] == (
        "Not found: Collection `nothing` doesn't exist!"
    )
    with pytest.raises(UnexpectedResponse, match="404"):
        client.count("nothing")
    # The store checks first, so a missing collection reads as empty.
    assert store.count("nothing") == 0
    assert store.search("nothing", unit(0), 3) == []


def test_replies_use_qdrants_envelope(server: QdrantRestServer) -> None:
    listed = httpx.get(f"{server.url}/collections").json()
    assert listed["status"] == "ok"
    assert isinstance(listed["time"], float)
    assert isinstance(listed["result"]["collections"], list)
    assert httpx.get(f"{server.url}/").json()["title"] == "qdrant - vector search engine"
    assert httpx.get(f"{server.url}/no/such/endpoint").status_code == 404
    bad = httpx.post(f"{server.url}/collections/x/points/count", content=b"{not json")
    assert bad.status_code == 400
    assert "error" in bad.json()["status"]


def test_api_key_is_required_and_sent(make_settings: SettingsFactory) -> None:
    with QdrantRestServer(api_key="s3cret") as keyed:
        for key in (None, "wrong"):
            anonymous = QdrantClient(url=keyed.url, api_key=key, check_compatibility=False)
            with pytest.raises(UnexpectedResponse) as failed:
                anonymous.get_collections()
            assert failed.value.status_code == 401
            anonymous.close()

        store = build_vector_store(make_settings(qdrant_url=keyed.url, qdrant_api_key="s3cret"))
        try:
            store.ensure_collection("keyed", 4)
            store.upsert("keyed", points("a.md", 1))
            assert store.count("keyed") == 1
        finally:
            store.close()


def test_a_folder_backed_server_keeps_data_across_restarts(tmp_path: Path) -> None:
    for run in range(2):
        with QdrantRestServer(path=tmp_path / "qdrant") as server:
            client = QdrantClient(url=server.url, check_compatibility=False)
            store = QdrantVectorStore(client, server.url, remote=True)
            if run == 0:
                store.ensure_collection("kept", 4)
                store.upsert("kept", points("a.md", 2))
            assert store.count("kept") == 2
            assert "source" in client.get_collection("kept").payload_schema
            store.close()
