"""Keys with rights and collection scopes, on both engines: every right against every route, 401/403/404 in
the right order, names that do not leak, keys stored hashed and rotated without a restart."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from indexer.storage.base import Backend
from indexer.storage.settings import BackendName
from service.app import create_app
from service.keys import digest
from service.settings import Settings
from tests.conftest import storage, wait_ready
from tests.fakes import FakeEmbedder

# name -> (key, rights, collections)
KEYS: dict[str, tuple[str, list[str], list[str]]] = {
    "root": ("sk-root-0123456789", ["read", "write", "admin"], ["*"]),
    "reader-a": ("sk-reader-a-0123456789", ["read"], ["a"]),
    "writer-a": ("sk-writer-a-0123456789", ["read", "write"], ["a"]),
    "reader-all": ("sk-reader-all-0123456789", ["read"], ["*"]),
    "admin-a": ("sk-admin-a-0123456789", ["admin"], ["a"]),
}


def _write_keys(path: Path, keys: dict[str, tuple[str, list[str], list[str]]]) -> None:
    lines = []
    for name, (key, rights, collections) in keys.items():
        lines += [
            "[[keys]]",
            f'name = "{name}"',
            f'sha256 = "{digest(key)}"',
            f"rights = {json.dumps(rights)}",
            f"collections = {json.dumps(collections)}",
            "",
        ]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines), encoding="utf-8")
    os.replace(tmp, path)  # as an editor saving the file would


def _auth(name: str | None) -> dict[str, str]:
    if name is None:
        return {}
    key = "sk-unknown-0123456789" if name == "unknown" else KEYS[name][0]
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def keyed(seed_backend: Backend, engine: BackendName, tmp_path: Path) -> Iterator[tuple[TestClient, Path]]:
    keys_file = tmp_path / "keys.toml"
    _write_keys(keys_file, KEYS)
    settings = Settings(**{**storage(engine, tmp_path).model_dump(), "keys_file": keys_file})
    with TestClient(create_app(settings, embedder_factory=lambda s: FakeEmbedder())) as client:
        wait_ready(client)
        for name in ("a", "b"):
            assert client.put(f"/collections/{name}", headers=_auth("root")).status_code == 201
            r = client.put(f"/collections/{name}/documents/d", json={"text": "Kittiwakes nest."}, headers=_auth("root"))
            assert r.status_code == 200
        yield client, keys_file


# (right needed, method, path under /collections/{c}, body) for every route of a collection.
ROUTES: list[tuple[str, str, str, Any]] = [
    ("read", "GET", "/search?q=kittiwakes", None),
    ("read", "POST", "/search", {"query": "kittiwakes"}),
    ("read", "GET", "/documents", None),
    ("read", "GET", "/documents/d", None),
    ("read", "GET", "/documents/d/similar", None),
    ("read", "GET", "/stats", None),
    ("read", "GET", "", None),
    ("write", "PUT", "/documents/d", {"text": "Kittiwakes nest."}),
    ("write", "POST", "/documents", {"documents": [{"id": "e", "text": "Fulmars glide."}]}),
    ("write", "DELETE", "/documents/tmp", None),
    ("admin", "PUT", "", None),
    ("admin", "DELETE", "", None),
]
CALLERS = [None, "unknown", *KEYS]


def _expected(caller: str | None, right: str, collection: str) -> int:
    if caller in (None, "unknown"):
        return 401
    _, rights, scope = KEYS[caller]
    if "*" not in scope and collection not in scope:
        return 404  # the same answer as for a collection that does not exist
    return 403 if right not in rights else 200


def test_every_right_against_every_route(keyed: tuple[TestClient, Path]) -> None:
    client, _ = keyed
    for right, method, tail, body in ROUTES:
        for collection in ("a", "b"):
            for caller in CALLERS:
                path = f"/collections/{collection}{tail}"
                if tail == "/documents/tmp":  # something to delete, made afresh each time
                    client.put(f"/collections/{collection}/documents/tmp", json={"text": "x"}, headers=_auth("root"))
                r = client.request(method, path, json=body, headers=_auth(caller))
                want = _expected(caller, right, collection)
                got = 200 if r.status_code in (200, 201) else r.status_code
                assert got == want, (caller, method, path, r.status_code, r.text)
                if want == 404:
                    assert f"no collection '{collection}'" in r.json()["detail"]
                if (method, tail, want) == ("DELETE", "", 200):  # dropped: make it again for the next caller
                    client.put(f"/collections/{collection}", headers=_auth("root"))
                    client.put(f"/collections/{collection}/documents/d", json={"text": "Kittiwakes nest."},
                               headers=_auth("root"))  # fmt: skip
    # The unprefixed routes are the default collection's: a key scoped to `a` does not see it.
    assert client.get("/search", params={"q": "x"}, headers=_auth("reader-a")).status_code == 404
    assert client.get("/search", params={"q": "x"}, headers=_auth("reader-all")).status_code == 200
    assert client.get("/search", params={"q": "x"}).status_code == 401


def test_a_missing_collection_and_a_hidden_one_look_the_same(keyed: tuple[TestClient, Path]) -> None:
    client, _ = keyed
    hidden = client.get("/collections/b/search", params={"q": "x"}, headers=_auth("reader-a"))
    missing = client.get("/collections/zz/search", params={"q": "x"}, headers=_auth("reader-a"))
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"].replace("'b'", "'zz'") == missing.json()["detail"]


def test_the_list_shows_only_what_a_key_may_see(keyed: tuple[TestClient, Path]) -> None:
    client, _ = keyed

    def names(caller: str | None) -> Any:
        r = client.get("/collections", headers=_auth(caller))
        return [c["name"] for c in r.json()["collections"]] if r.status_code == 200 else r.status_code

    assert names("reader-a") == ["a"] and names("admin-a") == ["a"]
    assert names("reader-all") == names("root") == ["a", "b", "default"]
    assert names(None) == names("unknown") == 401


def test_keys_are_stored_hashed_and_rotated_without_a_restart(keyed: tuple[TestClient, Path]) -> None:
    client, keys_file = keyed
    text = keys_file.read_text()
    assert not any(key in text for key, _, _ in KEYS.values())
    old = _auth("reader-a")
    assert client.get("/collections/a/stats", headers=old).status_code == 200
    rotated = {**KEYS, "reader-a": ("sk-reader-a-rotated-987", ["read"], ["a"])}
    _write_keys(keys_file, rotated)
    assert client.get("/collections/a/stats", headers=old).status_code == 401
    new = {"Authorization": "Bearer sk-reader-a-rotated-987"}
    assert client.get("/collections/a/stats", headers=new).status_code == 200
    # A broken edit is refused (and logged); the keys before it stay in force.
    keys_file.write_text("[[keys]]\nname = 'half written", encoding="utf-8")
    assert client.get("/collections/a/stats", headers=new).status_code == 200


def test_an_invalid_keys_file_stops_the_start(tmp_path: Path) -> None:
    from indexer.errors import ConfigError

    bad = tmp_path / "keys.json"
    bad.write_text(json.dumps({"keys": [{"name": "x", "sha256": "nothex", "rights": ["read"], "collections": ["*"]}]}))
    with pytest.raises(ConfigError, match=r"keys file .*sha256"):
        create_app(Settings(index_dir=tmp_path, keys_file=bad, model="fake-hash"))


def test_the_settings_keys_still_work_as_before(seed_backend: Backend, engine: BackendName, tmp_path: Path) -> None:
    settings = Settings(**{**storage(engine, tmp_path).model_dump(), "api_key": "w-key", "read_key": "r-key"})
    with TestClient(create_app(settings, embedder_factory=lambda s: FakeEmbedder())) as client:
        wait_ready(client)
        write, read = {"Authorization": "Bearer w-key"}, {"Authorization": "Bearer r-key"}
        assert client.get("/search", params={"q": "x"}).status_code == 401
        assert client.get("/search", params={"q": "x"}, headers=read).status_code == 200
        assert client.put("/documents/n", json={"text": "A note."}, headers=read).status_code == 403
        assert client.put("/collections/c", headers=write).status_code == 201  # the write key may do everything
        assert client.put("/collections/c/documents/n", json={"text": "A note."}, headers=write).status_code == 200
        assert client.get("/collections/c/documents/n", headers=read).status_code == 200
        assert client.delete("/collections/c", headers=read).status_code == 403


def test_new_key_prints_a_key_and_its_entry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import tomllib

    from service.__main__ import main
    from service.keys import read_keys_file

    assert main(["new-key", "support-bot", "read", "write", "--collections", "a,b"]) == 0
    out, err = capsys.readouterr()
    entry = tomllib.loads(out)["keys"][0]
    key = err.strip().rsplit(" ", 1)[-1]
    assert key.startswith("sk-") and len(key) > 40 and key not in out
    assert entry == {
        "name": "support-bot",
        "sha256": digest(key),
        "rights": ["read", "write"],
        "collections": ["a", "b"],
    }
    keys_file = tmp_path / "keys.toml"  # what it prints is a keys file as it stands
    keys_file.write_text(out, encoding="utf-8")
    assert [e.name for e in read_keys_file(keys_file)] == ["support-bot"]


@pytest.mark.parametrize("tail", ["/documents/d/source", "/documents/d/pages/1.png"])
def test_the_viewer_keeps_to_the_keys_scope(keyed: tuple[TestClient, Path], tail: str) -> None:
    # The viewer's routes need the read right in the collection, as search does; a key scoped elsewhere gets
    # the answer of a collection that does not exist. (The document was sent as text: it has no file.)
    client, _ = keyed
    for collection in ("a", "b"):
        for caller in CALLERS:
            r = client.get(f"/collections/{collection}{tail}", headers=_auth(caller))
            want = _expected(caller, "read", collection)
            if want == 200:
                assert r.status_code == 404 and "sent as text" in r.json()["detail"], (caller, r.text)
            else:
                assert r.status_code == want, (caller, collection, r.status_code, r.text)
                if want == 404:
                    assert f"no collection '{collection}'" in r.json()["detail"]
