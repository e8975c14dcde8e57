"""hclog JSON lines as go-plugin's client parses them."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from fleeting_openstack import hclog

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$")


@pytest.fixture()
def capture():
    stream = io.StringIO()
    hclog.configure("trace", stream=stream)
    yield stream
    hclog.configure("info")


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_levels_map_to_hclog_names(capture):
    log = logging.getLogger("fleeting_openstack.provider")
    log.log(hclog.TRACE, "t")
    log.debug("d")
    log.info("i")
    log.warning("w")
    log.error("e")
    log.critical("c")
    got = [(entry["@level"], entry["@message"]) for entry in lines(capture)]
    assert got == [("trace", "t"), ("debug", "d"), ("info", "i"), ("warn", "w"), ("error", "e"), ("error", "c")]


def test_fields_timestamp_module_and_extras(capture):
    logging.getLogger("fleeting_openstack.provider").info("hello\nworld", extra={"server": "abc", "n": 3})
    (entry,) = lines(capture)
    assert entry["@message"] == "hello\nworld"
    assert entry["@module"] == "fleeting-plugin-openstack.provider"
    assert TS.match(entry["@timestamp"]), entry["@timestamp"]
    assert entry["server"] == "abc" and entry["n"] == 3
    assert len(capture.getvalue().splitlines()) == 1


def test_exception_becomes_fields_not_raw_traceback(capture):
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("fleeting_openstack").exception("failed")
    (entry,) = lines(capture)
    assert entry["@level"] == "error" and entry["error"] == "boom"
    assert "Traceback" in entry["traceback"] and "RuntimeError: boom" in entry["traceback"]


def test_level_filter(capture):
    hclog.set_level("warn")
    log = logging.getLogger("fleeting_openstack")
    log.info("hidden")
    log.warning("shown")
    assert [e["@message"] for e in lines(capture)] == ["shown"]


def test_timestamp_offset_format():
    assert TS.match(hclog.format_timestamp(0.0))
    assert TS.match(hclog.format_timestamp(1_700_000_000.123456))
