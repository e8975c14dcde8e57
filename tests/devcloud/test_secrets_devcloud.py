"""No secret in any log line: a trace-level lifecycle through the fault proxy
(which sees every request and answer, so it knows the secrets the cloud
handed out), then every captured log line is scanned for each of them."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import pytest

from fleeting_openstack.contract.instancegroup import ConnectorConfig, PartialError

from devcloud.lifecycle import start  # noqa: E402
from faultkit import FAST, assert_no_leaks, empty, running, updates_until  # noqa: E402

from faultproxy import FaultyCloud  # noqa: E402

pytestmark = pytest.mark.usefixtures("cleanup_group")


def test_no_secret_in_any_log_line_of_a_trace_level_lifecycle(devcloud, plugin_config, tmp_path, admin,
                                                             group_name, plugin_logs):
    faulty = FaultyCloud(devcloud, tmp_path)
    try:
        password = "Planted-Connector-" + uuid.uuid4().hex
        in_user_data = "planted-user-data-" + uuid.uuid4().hex
        cfg = plugin_config(cloud=faulty.cloud, clouds_config=str(faulty.clouds_yaml), log_level="trace",
                            server_spec={"user_data": f"#cloud-config\nbootcmd:\n- echo {in_user_data}\n"},
                            **FAST)
        provider = start(cfg, ConnectorConfig(password=password))
        assert provider.increase(2) == 2
        faulty.nova.add("status", method="POST", path=r"/servers$", code=500, times=1)  # an error path too
        with pytest.raises(PartialError, match="HTTP 500"):
            provider.increase(1)
        _, states = updates_until(provider, running(2), 60)
        keys = [provider.connect_info(i).connector.key for i in states]
        for i in states:
            provider.heartbeat(i)
        provider.decrease(sorted(states))
        updates_until(provider, empty, 60)
        assert_no_leaks(admin, group_name, set(states))

        secrets = {"connector password": password, "user_data text": in_user_data,
                   "clouds.yaml password": "devcloud-demo-pw-unused"}
        import yaml

        secrets["clouds.yaml password"] = yaml.safe_load(Path(faulty.clouds_yaml).read_text())[
            "clouds"]["faulty"]["auth"]["password"]
        for n, rec in enumerate(faulty.nova.requests("POST", r"/servers$")):
            body = json.loads(rec.request_body)
            secrets[f"user_data of create {n} (base64)"] = body["server"]["user_data"][:60]
            secrets[f"user_data of create {n} (base64, middle)"] = body["server"]["user_data"][60:120]
            if rec.response_body:
                admin_pass = json.loads(rec.response_body).get("server", {}).get("adminPass")
                if admin_pass:
                    secrets[f"adminPass of create {n}"] = admin_pass
        for n, rec in enumerate(faulty.keystone.requests("POST", "/auth/tokens")):
            token = {k.lower(): v for k, v in rec.response_headers.items()}.get("x-subject-token")
            if token:
                secrets[f"Keystone token {n}"] = token
        for n, key in enumerate(keys):
            secrets[f"private key {n}"] = key.decode().splitlines()[1]
        assert any(k.startswith("adminPass") for k in secrets), "Nova handed out no adminPass to look for"
        assert any(k.startswith("Keystone token") for k in secrets)

        lines = plugin_logs.lines
        library = [line for line in lines if '"keystoneauth' in line]
        # The libraries did log the create bodies at this level (else the scan proves nothing) ...
        assert any("POST" in line and "/servers" in line and "user_data" in line for line in library)
        assert any("adminPass" in line for line in library)
        # ... and no line holds any secret, in clear or base64.
        leaks = []
        for what, secret in secrets.items():
            forms = {secret, base64.b64encode(secret.encode()).decode()[:-4]}
            for line in lines:
                if any(form and form in line for form in forms):
                    leaks.append(f"{what}: {line[:300]}")
        assert not leaks, "\n".join(leaks[:10])
        assert len(lines) > 100
    finally:
        faulty.close()
