"""Logging in hclog's JSON line format, on stderr only.

go-plugin's client re-logs every stderr line that parses as an hclog JSON
object at that object's level, with the other keys as fields; any other line
(a raw Python traceback, say) lands at debug. So every record becomes exactly
one JSON object per line with ``@level`` in trace|debug|info|warn|error,
``@message``, ``@timestamp`` (``2006-01-02T15:04:05.000000Z07:00``: exactly six
fractional digits), ``@module`` and the record's extra fields.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import sys
import time
import traceback
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, TextIO

if TYPE_CHECKING:
    import threading

    from fleeting_openstack.jsontypes import JSONObject, JSONValue

TRACE = 5
logging.addLevelName(TRACE, "TRACE")

#: Python level -> hclog level name. hclog knows no "warning" or "critical".
_LEVEL_NAMES = {
    TRACE: "trace",
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warn",
    logging.ERROR: "error",
    logging.CRITICAL: "error",
}

#: hclog level name (as users write it) -> Python level.
LEVELS = {
    "trace": TRACE,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}

#: Attributes every LogRecord has; anything else was passed with ``extra=``.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}

ROOT_MODULE = "fleeting-plugin-openstack"


def hclog_level(levelno: int) -> str:
    """Map a Python level number to the nearest hclog level name at or below it."""
    for number in sorted(_LEVEL_NAMES, reverse=True):
        if levelno >= number:
            return _LEVEL_NAMES[number]
    return "trace"


def format_timestamp(epoch: float) -> str:
    """hclog's ``@timestamp``: local time, six fractional digits, ``Z`` for UTC."""
    moment = _dt.datetime.fromtimestamp(epoch).astimezone()
    text = moment.strftime("%Y-%m-%dT%H:%M:%S.%f")
    offset = moment.utcoffset()
    if not offset:
        return text + "Z"
    zone = moment.strftime("%z")  # +0100
    return f"{text}{zone[:3]}:{zone[3:]}"


def _jsonable(value: object) -> JSONValue:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


class HclogFormatter(logging.Formatter):
    """Formats a record as one hclog JSON object (no newline)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: JSONObject = {
            "@level": hclog_level(record.levelno),
            "@message": record.getMessage(),
            "@module": _module_name(record.name),
            "@timestamp": format_timestamp(record.created),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = _jsonable(value)
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = str(record.exc_info[1])
            entry["traceback"] = "".join(traceback.format_exception(*record.exc_info))
        # One line, whatever the message holds: json.dumps escapes newlines.
        return json.dumps(entry, ensure_ascii=False, separators=(",", ":"))


def _module_name(logger_name: str) -> str:
    # "fleeting_openstack.provider" -> "fleeting-plugin-openstack.provider"
    if logger_name == "root":
        return ROOT_MODULE
    if logger_name.startswith("fleeting_openstack"):
        return ROOT_MODULE + logger_name[len("fleeting_openstack") :]
    return logger_name


class TextSink(Protocol):
    """Where hclog lines go: a text stream (stderr, or :func:`capture_stderr_fd`'s)."""

    def write(self, text: str, /) -> int: ...
    def flush(self) -> None: ...


def configure(level: str | int | None = None, stream: TextSink | None = None) -> logging.Logger:
    """Send every log record to stderr as hclog JSON; return the package logger.

    The level comes from the argument, else ``FLEETING_OPENSTACK_LOG_LEVEL``,
    else ``info``. Noisy third-party loggers (keystoneauth, urllib3) are held
    at warn unless the level is trace.
    """
    if level is None:
        level = os.environ.get("FLEETING_OPENSTACK_LOG_LEVEL", "info")
    levelno = LEVELS.get(str(level).lower(), logging.INFO) if isinstance(level, str) else level
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(HclogFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    _apply_level(levelno)
    logging.captureWarnings(True)
    return logging.getLogger("fleeting_openstack")


#: Loggers of the libraries the plugin uses: any handler of their own is removed in
#: plugin mode, so their records reach the root's hclog handler and nothing else.
LIBRARY_LOGGERS = (
    "keystoneauth",
    "keystoneauth1",
    "openstack",
    "urllib3",
    "requests",
    "stevedore",
    "grpc",
    "py.warnings",
    "os_service_types",
    "dogpile",
    "iso8601",
)


def route_libraries() -> None:
    """Every library record goes through the root (hclog) handler, and only through it."""
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if not isinstance(handler, logging.NullHandler):
                logger.removeHandler(handler)
        logger.propagate = True
    root_handlers = logging.getLogger().handlers
    if root_handlers:
        logging.lastResort = root_handlers[0]


def _foreign_level(line: str) -> str:
    low = line.lower()
    if "error" in low or "traceback" in low or (line[:1] in ("E", "F") and line[1:2].isdigit()):
        return "error"
    if "warn" in low or (line[:1] == "W" and line[1:2].isdigit()):
        return "warn"
    return "info"


class _LockedStream:
    """The real stderr, shared by the hclog handler and the pump: one whole line per write."""

    def __init__(self, stream: TextIO) -> None:
        import threading

        self._stream = stream
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            return self._stream.write(text)

    def flush(self) -> None:
        with self._lock:
            self._stream.flush()

    def fileno(self) -> int:
        return self._stream.fileno()


def capture_stderr_fd() -> TextSink:
    """Make every line written to file descriptor 2 an hclog JSON line.

    Writes that bypass :mod:`logging` (a library's ``print`` to stderr, grpc's
    C core, the interpreter's own messages) are read from a pipe put in place
    of fd 2 and re-written as ``@module: fleeting-plugin-openstack.stderr``
    JSON lines; lines that already are hclog JSON pass unchanged. Returns a
    stream on the real stderr, for the hclog handler itself.
    """
    import threading

    real = _LockedStream(os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace"))
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)

    def pump() -> None:
        with os.fdopen(read_fd, "r", encoding="utf-8", errors="replace") as pipe:
            for raw in pipe:
                line = raw.rstrip("\n")
                if not line.strip():
                    continue
                try:
                    ok = isinstance(json.loads(line), dict) and "@level" in json.loads(line)
                except ValueError:
                    ok = False
                if not ok:
                    line = json.dumps(
                        {
                            "@level": _foreign_level(line),
                            "@message": line,
                            "@module": ROOT_MODULE + ".stderr",
                            "@timestamp": format_timestamp(time.time()),
                        },
                        ensure_ascii=False,
                        separators=(",", ":"),
                    )
                real.write(line + "\n")

    thread = threading.Thread(target=pump, name="stderr-to-hclog", daemon=True)
    thread.start()

    def drain() -> None:  # at exit: close the pipe's write end, let the pump finish
        try:
            sys.stderr.flush()
            os.dup2(real.fileno(), 2)
        except (OSError, ValueError):
            return
        thread.join(timeout=2)

    import atexit

    atexit.register(drain)
    return real


def _apply_level(levelno: int) -> None:
    """The root at ``levelno``; the noisy libraries at warn unless it is trace."""
    logging.getLogger().setLevel(levelno)
    quiet = logging.WARNING if levelno > TRACE else TRACE
    for name in ("keystoneauth", "urllib3", "stevedore", "openstack", "grpc"):
        logging.getLogger(name).setLevel(max(quiet, levelno))


def set_level(level: str) -> None:
    """Change the level after start-up (plugin_config ``log_level``), libraries included,
    so ``log_level = "trace"`` shows their request lines as the environment variable does."""
    _apply_level(LEVELS.get(level.lower(), logging.INFO))


def install_excepthook() -> None:
    """Turn any uncaught exception (main or thread) into one ``error`` line."""
    log = logging.getLogger("fleeting_openstack")

    def _hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        log.error("uncaught exception: %s", exc, exc_info=(exc_type, exc, tb))

    def _thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        log.error(
            "uncaught exception in thread %s: %s",
            getattr(args.thread, "name", "?"),
            args.exc_value,
            exc_info=args.exc_value,  # logging takes type and traceback from the exception itself
        )

    import threading

    sys.excepthook = _hook
    threading.excepthook = _thread_hook
