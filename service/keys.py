"""API keys with rights and collection scopes, from settings and from a keys file that is re-read when edited.

The keys file (`SEEKR_KEYS_FILE`, TOML or JSON by its extension) lists keys by the SHA-256 of their text, never
the text itself::

    [[keys]]
    name = "support-bot"            # in logs and errors, never the key
    sha256 = "9f86d08188...15b0f00a08"
    rights = ["read"]               # read, write, admin (create and drop collections)
    collections = ["handbook"]      # or ["*"] for every collection, those created later included

Keys are random strings of high entropy (`python -m service new-key` makes one), so one SHA-256 is enough to
keep the file from giving them away; a presented key is hashed and compared with every entry in constant time.
`SEEKR_API_KEY` is a key with every right on every collection, `SEEKR_READ_KEY` one that reads every
collection, as before collections existed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import tomllib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from indexer.collections import NAME_PATTERN
from indexer.errors import ConfigError
from service.settings import Settings

log = logging.getLogger(__name__)

ALL = "*"


class Right(StrEnum):
    """What a key may do."""

    read = "read"  # search and read documents
    write = "write"  # upsert and delete documents
    admin = "admin"  # create and drop collections


Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Scope = Annotated[str, StringConstraints(pattern=rf"^(\*|{NAME_PATTERN.strip('^$')})$")]


class KeyEntry(BaseModel):
    """One key of the keys file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    sha256: Sha256 = Field(description="Lower-case hex SHA-256 of the key's text.")
    rights: frozenset[Right] = Field(min_length=1)
    collections: frozenset[Scope] = Field(min_length=1)


class KeysFile(BaseModel):
    """The keys file: a list of keys."""

    model_config = ConfigDict(extra="forbid")

    keys: list[KeyEntry]


@dataclass(frozen=True)
class Caller:
    """Who sent a request: a key's name, rights and collections (`*`: all)."""

    name: str
    rights: frozenset[Right]
    collections: frozenset[str]

    def sees(self, collection: str) -> bool:
        """Whether this caller may know that `collection` exists."""
        return ALL in self.collections or collection in self.collections

    def may(self, right: Right, collection: str) -> bool:
        """Whether this caller may `right` in `collection`."""
        return right in self.rights and self.sees(collection)


ANONYMOUS_READER = Caller("anonymous", frozenset({Right.read}), frozenset({ALL}))


def digest(key: str) -> str:
    """The SHA-256 hex digest the keys file lists a key by."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """A fresh random key (256 bits)."""
    return "sk-" + secrets.token_urlsafe(32)


def read_keys_file(path: Path) -> list[KeyEntry]:
    """The entries of keys file `path`; ConfigError saying what is wrong with it."""
    try:
        raw = path.read_bytes()
        data = json.loads(raw) if path.suffix.lower() == ".json" else tomllib.loads(raw.decode())
        entries = KeysFile.model_validate(data).keys
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # ValueError: JSON, TOML and validation errors
        detail = exc.errors()[0] if isinstance(exc, ValidationError) else exc
        raise ConfigError(f"keys file {path}: {detail}") from exc
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise ConfigError(f"keys file {path}: two keys have the same name; give each a name of its own")
    return entries


class KeyRing:
    """Every key the service accepts. The keys file is read at start (an invalid one stops the start) and again
    whenever it changes; an invalid edit is logged and the keys before it stay in force."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._path = settings.keys_file
        self._stamp: tuple[int, int, int] | None = None
        self._entries: list[KeyEntry] = []
        self._lock = threading.Lock()
        if self._path is not None:
            self._stamp = self._stat()
            self._entries = read_keys_file(self._path)

    @property
    def required(self) -> bool:
        """Whether every request needs a key (a read key or a keys file is configured)."""
        return self._settings.read_key is not None or self._path is not None

    @property
    def writes_configured(self) -> bool:
        """Whether any key may write."""
        return self._settings.api_key is not None or any(Right.write in e.rights for e in self.entries())

    @property
    def admin_configured(self) -> bool:
        """Whether any key may create and drop collections."""
        return self._settings.api_key is not None or any(Right.admin in e.rights for e in self.entries())

    def _stat(self) -> tuple[int, int, int] | None:
        assert self._path is not None
        try:
            st = os.stat(self._path)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size, st.st_ino

    def entries(self) -> list[KeyEntry]:
        """The keys file's entries, re-read if the file changed since."""
        if self._path is None:
            return []
        stamp = self._stat()
        if stamp != self._stamp:
            with self._lock:
                if stamp != self._stamp:
                    try:
                        self._entries = read_keys_file(self._path)
                        log.info("keys file %s re-read: %d keys", self._path, len(self._entries))
                    except ConfigError as exc:
                        log.error("%s; keeping the %d keys read before", exc, len(self._entries))
                    self._stamp = stamp
        return self._entries

    def caller(self, token: str | None) -> Caller | None:
        """Who holds `token` (None: no token, or one no key matches)."""
        if token is None:
            return None
        settings = self._settings
        if settings.api_key is not None and _same(token, settings.api_key.get_secret_value()):
            return Caller("api-key", frozenset(Right), frozenset({ALL}))
        if settings.read_key is not None and _same(token, settings.read_key.get_secret_value()):
            return Caller("read-key", frozenset({Right.read}), frozenset({ALL}))
        presented = digest(token).encode()
        found = None
        for entry in self.entries():  # every entry is compared, so the time says nothing of which matched
            if hmac.compare_digest(presented, entry.sha256.encode()) and found is None:
                found = entry
        return Caller(found.name, found.rights, found.collections) if found is not None else None


def _same(token: str, key: str) -> bool:
    return hmac.compare_digest(token.encode(), key.encode())
