"""Field types the HTTP API's bodies and query parameters share: their constraints, said the same way in the
schema and in validation (the patterns mean the same in Python, ECMA-262 and Rust)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
)

from indexer.retrieval.options import MAX_K, SearchOptions, option_type
from service.errors import MAX_BODY_QUERY_CHARS, MAX_QUERY_CHARS

# The spec must describe exactly what is accepted, and regex dialects disagree: `$` also matches before a final
# newline in Python, and `\w`, `\s` cover other characters in ECMA-262 (OpenAPI's dialect, which schemathesis
# reads), Python and Rust (pydantic's default engine). So the patterns use explicit character classes that mean
# the same in all three, and are checked with Python's `re`.
REQUEST_MODEL_CONFIG = ConfigDict(extra="forbid", regex_engine="python-re")
# White space in any of the three dialects; a character outside it is text everywhere.
SPACE = r"\t\n\x0b\x0c\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
NON_SPACE = f"[^{SPACE}]"
# "End of text" in every dialect.
END = r"(?![\s\S])"


def matching(pattern: str, schema: dict[str, Any], problem: str, strip: bool = False) -> Any:
    """Annotations for a string that must contain a match of `pattern` (search semantics, as in JSON Schema)."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.search(value):
            raise ValueError(problem)
        return value.strip() if strip else value

    return (AfterValidator(check), WithJsonSchema({"type": "string", "pattern": pattern, **schema}))


# The question: at most so many characters as sent, with something besides white space; surrounding space is
# trimmed. GET's q is short (it travels in the URL); POST's query may be a paragraph.
QueryText = Annotated[
    str,
    StringConstraints(max_length=MAX_QUERY_CHARS),
    *matching(NON_SPACE, {"minLength": 1, "maxLength": MAX_QUERY_CHARS}, "the question is blank", strip=True),
]
BodyQueryText = Annotated[
    str,
    StringConstraints(max_length=MAX_BODY_QUERY_CHARS),
    *matching(NON_SPACE, {"minLength": 1, "maxLength": MAX_BODY_QUERY_CHARS}, "the question is blank", strip=True),
]


def _json_number(value: object) -> object:
    # pydantic's lax mode would take "5" or true for a number; the spec says a JSON number, so only that goes.
    if isinstance(value, str | bool):
        raise ValueError("must be a JSON number, not a string or boolean")
    return value


Number = BeforeValidator(_json_number)


def _json_boolean(value: object) -> object:
    if value is not None and not isinstance(value, bool):
        raise ValueError("must be a JSON boolean, true or false")
    return value


_CHECKS: dict[type, Callable[[object], object]] = {bool: _json_boolean, int: _json_number, float: _json_number}


def json_typed_options() -> dict[str, Callable[[object], object]]:
    """For each number or flag among the search options, the check that its JSON value is a JSON number or
    boolean (not a string, nor a boolean for a number)."""
    kinds = {name: option_type(name) for name in SearchOptions.model_fields}
    return {name: _CHECKS[kind] for name, kind in kinds.items() if kind in _CHECKS}


TopK = Annotated[int, Field(ge=1, le=MAX_K)]  # query strings are text: only JSON bodies add `Number`
# Metadata keys: no control characters, quotes, backslashes or colons (GET's meta=key:value splits at the first).
META_KEY = r'[^\x00-\x1f\x7f"\\:]{1,100}'
META_KEY_PATTERN = "^" + META_KEY + END
MetaKey = Annotated[str, StringConstraints(pattern=META_KEY_PATTERN)]
MetaValue = str | int | Annotated[float, Field(allow_inf_nan=False)] | bool
_META_VALUE_SCHEMA = {"anyOf": [{"type": t} for t in ("string", "integer", "number", "boolean")]}
# pydantic would describe the keys with patternProperties, which leaves other keys unconstrained.
MetaFilter = Annotated[
    dict[MetaKey, MetaValue],
    WithJsonSchema(
        {"type": "object", "propertyNames": {"pattern": META_KEY_PATTERN}, "additionalProperties": _META_VALUE_SCHEMA}
    ),
]
# A document's text: anything with a character besides white space.
DocumentText = Annotated[str, *matching(NON_SPACE, {"minLength": 1}, "the text is blank")]
DOCUMENT_TEXT_SCHEMA = {"type": "string", "pattern": NON_SPACE, "minLength": 1}
# Ids of documents written through the API: they travel in URL paths, so no slashes or control characters.
MAX_ID_CHARS = 256
API_ID_PATTERN = rf"^[^/\\\x00-\x1f\x7f]{{1,{MAX_ID_CHARS}}}" + END
ApiDocId = Annotated[
    str, *matching(API_ID_PATTERN, {}, f"ids have 1 to {MAX_ID_CHARS} characters without '/', '\\' or controls")
]


def _base64(value: object) -> bytes:
    # Strict: pydantic's Base64Bytes drops characters outside the alphabet, so "%%%" would be an empty file.
    if not isinstance(value, str):
        raise ValueError("must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"not base64 ({exc})") from exc


BASE64_SCHEMA = {
    "type": "string",
    "contentEncoding": "base64",
    "pattern": "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
    "minLength": 4,
}
Base64File = Annotated[bytes, PlainValidator(_base64), WithJsonSchema(BASE64_SCHEMA)]
# The name of an uploaded file: its extension names the format.
UPLOAD_NAME_PATTERN = r"^[^/\\\x00-\x1f\x7f]{1,255}$"
UploadName = Annotated[str, *matching(UPLOAD_NAME_PATTERN, {}, 'a file name like "report.pdf" (no "/" or controls)')]
UPLOAD_NAME_SCHEMA = {"type": "string", "pattern": UPLOAD_NAME_PATTERN}
# GET /search's `meta=key:value`.
MetaParam = Annotated[str, *matching("^" + META_KEY + ":", {}, "meta must be key:value, e.g. meta=lang:en")]
