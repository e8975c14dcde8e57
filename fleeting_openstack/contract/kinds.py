"""The kinds of value in the plugin's model (what a slot holds).

A module of its own, importing nothing, so that the service can name kinds
before the heavier mapping machinery (protobuf descriptors) is loaded.
"""

JSON, STR, INT, BOOL, KEY, DURATION, TIMESTAMP, STRLIST, STATE, RECORDS = (
    "json",
    "string",
    "integer",
    "bool",
    "bytes or string",
    "duration",
    "time",
    "list of strings",
    "state (string or enum)",
    "list of messages",
)
