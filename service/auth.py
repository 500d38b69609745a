"""API keys: the write key enables the document API; an optional read key protects searching and reading.

Keys come from settings (never logged: they are SecretStr) and are compared in constant time.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from pydantic import SecretStr

from service.deps import SettingsDep
from service.errors import ForbiddenError, UnauthorizedError
from service.settings import Settings


def _bearer(request: Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _matches(token: str, key: SecretStr | None) -> bool:
    return key is not None and hmac.compare_digest(token.encode(), key.get_secret_value().encode())


def require_write(request: Request, settings: SettingsDep) -> None:
    """403 when no write key is configured; 401 when the Bearer token is missing or wrong."""
    if settings.api_key is None:
        raise ForbiddenError(
            "document writes are disabled: start the service with SEEKR_API_KEY set, then send "
            "'Authorization: Bearer <key>'"
        )
    token = _bearer(request)
    if token is None:
        raise UnauthorizedError("missing 'Authorization: Bearer <key>' header; writes need the API key")
    if not _matches(token, settings.api_key):
        raise UnauthorizedError("wrong API key in the Authorization header")


def require_read(request: Request, settings: SettingsDep) -> None:
    """When a read key is configured, searches and reads need it (the write key works too)."""
    if settings.read_key is None:
        return
    token = _bearer(request)
    if token is None:
        raise UnauthorizedError("this service needs 'Authorization: Bearer <read key>' to search")
    if not (_matches(token, settings.read_key) or _matches(token, settings.api_key)):
        raise UnauthorizedError("wrong key in the Authorization header")


def rights_of(authorization: str | None, settings: Settings) -> frozenset[str] | None:
    """What a caller with this Authorization header may do: `read`, and `write` with the write key; None when
    the service needs a key for reading and this one is missing or wrong (a 401). For the MCP endpoint, where
    the REST dependencies above do not run."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    if token and _matches(token, settings.api_key):
        return frozenset({"read", "write"})
    if settings.read_key is None or (token and _matches(token, settings.read_key)):
        return frozenset({"read"})
    return None


WriteAccess = Annotated[None, Depends(require_write)]
ReadAccess = Annotated[None, Depends(require_read)]
