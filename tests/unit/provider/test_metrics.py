"""Metrics without a cloud: the listen address is checked as config, and a request that gets
no answer (a real refused socket) is counted as an error."""

from __future__ import annotations

import pytest

from fleeting_openstack.provider import metrics
from prometheus import free_port, scrape, value


def test_a_bad_listen_address_is_a_config_error():
    from fleeting_openstack.config import ConfigError, load_plugin_config

    spec = {"name": "g-%d", "imageRef": "d5460af5-83f3-47d7-9c4f-80294c66b267", "flavorRef": "f", "networks": "none"}
    with pytest.raises(ConfigError, match="metrics.listen"):
        load_plugin_config({"name": "g", "server_spec": spec, "metrics": {"listen": "9464"}})
    assert load_plugin_config({"name": "g", "server_spec": spec,
                               "metrics": {"listen": ":9464"}}).config.metrics_listen == ":9464"
    assert metrics.parse_listen(":9464") == ("0.0.0.0", 9464)
    assert metrics.parse_listen("[::1]:9") == ("::1", 9)


def test_requests_without_an_answer_are_counted_as_errors(tmp_path):
    """A Keystone that refuses the connection (a real refused socket, no fake)."""
    from fleeting_openstack.openstack.client import Cloud, CloudError

    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds:\n  down:\n    auth_type: v3applicationcredential\n    auth:\n"
                      f"      auth_url: http://127.0.0.1:{free_port()}/v3\n      application_credential_id: x\n"
                      "      application_credential_secret: y\n    region_name: RegionOne\n")
    port = free_port()
    metrics.start(f"127.0.0.1:{port}")
    try:
        with pytest.raises(CloudError, match="identity service is unreachable"):
            Cloud.connect("down", str(clouds), "2.79", recorder=metrics)
        samples = scrape(port)
        assert value(samples, "fleeting_openstack_api_requests_total", service="identity", status="error") >= 1
        assert value(samples, "fleeting_openstack_api_request_duration_seconds_count", service="identity") >= 1
    finally:
        metrics.stop()
