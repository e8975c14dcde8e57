"""The named types of JSON values: a leaf module (it imports nothing of the package).

``JSONValue`` is what ``json.loads`` returns, typed; ``JSONObject`` one object
of it. A document whose shape nobody has checked yet is a ``JSONValue`` (narrow
it with ``isinstance``); once the JSON Schema has checked it, code may read it
as the ``JSONObject`` the schema promises.
"""

from __future__ import annotations

from typing import TypeAlias

__all__ = ["JSONObject", "JSONScalar", "JSONValue"]

JSONScalar: TypeAlias = str | int | float | bool | None
JSONValue: TypeAlias = JSONScalar | list["JSONValue"] | dict[str, "JSONValue"]
JSONObject: TypeAlias = dict[str, JSONValue]
