"""Who may do what: every request's key is resolved to a caller (see `service.keys`), then checked against the
collection it names and the right the route needs.

401: a key is needed and missing or unknown. 404: the key may not see the collection (the same answer as for
a collection that does not exist, so names do not leak). 403: it may see it but lacks the right, or the right
is not configured at all (writes without any write key).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from indexer.collections import DEFAULT_COLLECTION, not_found
from service.errors import ForbiddenError, UnauthorizedError
from service.keys import ANONYMOUS_READER, Caller, KeyRing, Right


def bearer(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header value (None: none)."""
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


@dataclass(frozen=True)
class Grant:
    """A request's caller and the collection it names; `known` is False for an anonymous caller (no key, or one
    no entry matches, where reading needs no key)."""

    caller: Caller
    collection: str
    known: bool
    token_sent: bool


def get_keys(request: Request) -> KeyRing:
    """The app's keys."""
    keys: KeyRing = request.app.state.keys
    return keys


def identify(keys: KeyRing, authorization: str | None) -> tuple[Caller, bool, bool]:
    """(caller, known, token sent) for an Authorization header; UnauthorizedError when a key is needed and this
    one is missing or unknown."""
    token = bearer(authorization)
    caller = keys.caller(token)
    if caller is not None:
        return caller, True, True
    if keys.required:
        if token is None:
            raise UnauthorizedError("this service needs 'Authorization: Bearer <key>'")
        raise UnauthorizedError("unknown key in the Authorization header; check it, or ask for a new one")
    return ANONYMOUS_READER, False, token is not None


def get_grant(request: Request, keys: Annotated[KeyRing, Depends(get_keys)]) -> Grant:
    """The caller of this request and the collection its path names (the default one on unprefixed routes);
    401 or 404 as said above."""
    caller, known, sent = identify(keys, request.headers.get("Authorization"))
    name = request.path_params.get("collection", DEFAULT_COLLECTION)
    if not caller.sees(name):
        raise not_found(name)  # a 404 word for word as for a collection that does not exist
    return Grant(caller, name, known, sent)


GrantDep = Annotated[Grant, Depends(get_grant)]
KeysDep = Annotated[KeyRing, Depends(get_keys)]


def check(grant: Grant, right: Right, keys: KeyRing) -> None:
    """ForbiddenError or UnauthorizedError unless `grant`'s caller may `right` in its collection."""
    if right is Right.read:
        if not grant.caller.may(right, grant.collection):
            raise ForbiddenError(f"key {grant.caller.name!r} may not read collection {grant.collection!r}")
        return
    configured = keys.writes_configured if right is Right.write else keys.admin_configured
    if not configured:
        what = "document writes are" if right is Right.write else "creating and dropping collections is"
        raise ForbiddenError(
            f"{what} disabled: start the service with SEEKR_API_KEY set (or a keys file giving a key the {right} "
            "right), then send 'Authorization: Bearer <key>'"
        )
    if not grant.known:
        if not grant.token_sent:
            raise UnauthorizedError(f"missing 'Authorization: Bearer <key>' header; this needs a key with {right}")
        raise UnauthorizedError("wrong API key in the Authorization header")
    if not grant.caller.may(right, grant.collection):
        raise ForbiddenError(f"key {grant.caller.name!r} has no {right} right on collection {grant.collection!r}")


def require_read(grant: GrantDep, keys: KeysDep) -> None:
    """Searching and reading documents."""
    check(grant, Right.read, keys)


def require_write(grant: GrantDep, keys: KeysDep) -> None:
    """Upserting and deleting documents."""
    check(grant, Right.write, keys)


def require_admin(grant: GrantDep, keys: KeysDep) -> None:
    """Creating and dropping collections."""
    check(grant, Right.admin, keys)


ReadAccess = Annotated[None, Depends(require_read)]
WriteAccess = Annotated[None, Depends(require_write)]
AdminAccess = Annotated[None, Depends(require_admin)]
