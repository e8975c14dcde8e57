"""What provider/metrics.py records, read back from its endpoint as a scraper reads it: nothing
while metrics are off, the state gauge, the reasons of deletes and failures as bounded labels,
one server per process; test_metrics.py covers listen addresses and API requests."""

from __future__ import annotations

import logging

import pytest
from prometheus import free_port, scrape, value

from fleeting_openstack.openstack.client import CloudError
from fleeting_openstack.provider import metrics

P = metrics.PREFIX


@pytest.fixture(scope="module")
def port():
    """One metrics server for the module (stopping one takes its serve loop's 0.5 s poll):
    the tests read what they recorded as differences."""
    listen = f"127.0.0.1:{free_port()}"
    host, bound = metrics.start(listen)
    assert (host, f"127.0.0.1:{bound}") == ("127.0.0.1", listen)
    yield bound
    metrics.stop()


def test_recording_while_off_does_nothing():
    assert not metrics.enabled()
    metrics.instances(["running"])
    metrics.created()
    metrics.deleted("runner")
    metrics.failed("create", CloudError("HTTP 500", 500))
    metrics.update_seconds(1.0)
    metrics.ready_seconds(1.0)
    assert not metrics.enabled()  # and nothing was started by recording


def test_the_state_gauge_counts_the_servers_in_each_state(port):
    assert metrics.enabled()
    metrics.instances(["creating", "running", "running", "timeout", "running", "suspended", "suspended"])
    samples = scrape(port)
    got = {s: value(samples, f"{P}_instances", state=s) for s in metrics.STATES}
    assert got == {"creating": 1, "running": 3, "deleting": 0, "timeout": 1,
                   "suspending": 0, "suspended": 2, "resuming": 0}
    metrics.instances([])  # set, not added to
    assert value(scrape(port), f"{P}_instances") == 0


def delta(before: dict[str, float], after: dict[str, float], name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_creates_deletes_and_failures_by_bounded_reason(port):
    before = scrape(port)
    metrics.created()
    metrics.created()
    metrics.deleted("runner")
    metrics.deleted(metrics.reap_reason("status ERROR"))
    metrics.failed("create", CloudError("HTTP 503", 503))
    metrics.failed("delete", ConnectionResetError("reset"))
    after = scrape(port)
    assert delta(before, after, f"{P}_creates_total") == 2
    assert delta(before, after, f"{P}_deletes_total", reason="runner") == 1
    assert delta(before, after, f"{P}_deletes_total", reason="status_error") == 1
    assert delta(before, after, f"{P}_failures_total", operation="create", reason="http_503") == 1
    assert delta(before, after, f"{P}_failures_total", operation="delete", reason="ConnectionResetError") == 1


def test_durations_are_observed_and_a_clock_skewed_ready_time_is_zero(port):
    before = scrape(port)
    metrics.update_seconds(0.2)
    metrics.ready_seconds(-3.0)  # a server whose creation time is ahead of our clock
    after = scrape(port)
    assert delta(before, after, f"{P}_update_duration_seconds_count") == 1
    assert delta(before, after, f"{P}_update_duration_seconds_sum") == pytest.approx(0.2)
    assert delta(before, after, f"{P}_instance_ready_seconds_count") == 1
    assert delta(before, after, f"{P}_instance_ready_seconds_sum") == 0


def test_one_server_per_process(port, caplog):
    caplog.set_level(logging.WARNING, "fleeting_openstack.metrics")
    assert metrics.start(f"127.0.0.1:{port}") == ("127.0.0.1", port)  # a second Init: the same server
    assert not caplog.records
    assert metrics.start("127.0.0.1:1") == ("127.0.0.1", port)  # another address: ignored, with a warning
    assert any("already served" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("reason", "label"),
    [
        ("status ERROR", "status_error"),
        ("status SHUTOFF", "status_other"),
        ("stuck in BUILD for 700s (build_timeout 600s)", "stuck_build"),
        ("boot failed: cloud-init failed", "boot_failed"),
        ("no boot marker within boot_time 300s (waiting)", "boot_timeout"),
        ("delete did not complete; deleting again", "redelete"),
        ("its key was made from another master secret (state dir lost or replaced)", "other"),
    ],
)
def test_reap_reasons_are_bounded_labels(reason, label):
    assert metrics.reap_reason(reason) == label
