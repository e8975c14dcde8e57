"""heat/stack.yaml, for real: the devcloud's Heat (heat-api + heat-engine)
creates the stack in project demo, its outputs become a plugin_config, the
plugin runs a lifecycle with it, and deleting the stack leaves nothing.

The output -> plugin_config mapping below is the one heat/README.md
documents. These tests FAIL, never skip, when Heat is not there
(tests/devcloud/start installs and starts it)."""

from __future__ import annotations

import copy
import json
import time
from typing import Any, Iterator

import pytest
import yaml

from fleeting_openstack.config import load_plugin_config, schema
from fleeting_openstack.contract.instancegroup import Settings, State
from fleeting_openstack.provider.group import OpenStackProvider

from devcloud.lifecycle import wait_states, wait_gone  # noqa: E402
from project import ROOT  # noqa: E402
from sdkfind import find  # noqa: E402

TEMPLATE = ROOT / "heat" / "stack.yaml"

# Stack output -> path in plugin_config (an int is a list index).
OUTPUT_TO_CONFIG: dict[str, tuple[str | int, ...]] = {
    "name": ("name",),
    "server_spec_name": ("server_spec", "name"),
    "server_spec_imageRef": ("server_spec", "imageRef"),
    "server_spec_image_name": ("server_spec", "image_name"),
    "server_spec_flavorRef": ("server_spec", "flavorRef"),
    "server_spec_flavor_name": ("server_spec", "flavor_name"),
    "server_spec_networks_uuid": ("server_spec", "networks", 0, "uuid"),
    "server_spec_security_groups": ("server_spec", "security_groups"),
    "server_spec_scheduler_hints_group": ("server_spec", "scheduler_hints", "group"),
    "server_spec_key_name": ("server_spec", "key_name"),
}
# Outputs for people (addresses to put in DNS, allow lists...), not config.
INFORMATIONAL_OUTPUTS = {"manager_id", "manager_external_ip", "manager_internal_ip", "router_external_ip"}


def plugin_config_from_outputs(outputs: dict[str, Any], base: dict[str, Any] | None = None) -> dict[str, Any]:
    """plugin_config = ``base`` + every stack output that names a key.

    ``outputs`` is {output_key: value}; null outputs (the image/flavor
    alternative not taken, a key pair not given) are left out."""
    cfg = copy.deepcopy(base or {})
    for key, value in sorted(outputs.items()):
        if key in INFORMATIONAL_OUTPUTS or value is None:
            continue
        path = OUTPUT_TO_CONFIG[key]  # an unknown output is an error
        node: Any = cfg
        for part, nxt in zip(path, path[1:]):
            if isinstance(part, int):
                while len(node) <= part:
                    node.append({})
                node = node[part]
            else:
                node = node.setdefault(part, [] if isinstance(nxt, int) else {})
        node[path[-1]] = value
    return cfg


def template_outputs() -> dict[str, Any]:
    return yaml.safe_load(TEMPLATE.read_text())["outputs"]


# -- the mapping, offline ----------------------------------------------------------

SAMPLE_OUTPUTS = {
    "name": "runners",
    "server_spec_name": "runners-%d",
    "server_spec_imageRef": "6c019cd9-5014-4583-8486-147fcad401ab",
    "server_spec_image_name": None,
    "server_spec_flavorRef": None,
    "server_spec_flavor_name": "m1.small",
    "server_spec_networks_uuid": "84c97573-8317-4c3b-8ee9-81aead07c6d4",
    "server_spec_security_groups": ["18a0c904-7461-4e99-8346-bbb28c810622"],
    "server_spec_scheduler_hints_group": "383e0783-3cb8-4bce-9215-b05b096fada8",
    "server_spec_key_name": None,
    "manager_id": "57d05b03-c7a4-46b8-b07b-5c0e1aa3ef13",
    "manager_external_ip": "203.0.113.7",
    "manager_internal_ip": "10.42.0.5",
    "router_external_ip": "203.0.113.8",
}


def test_outputs_map_one_to_one_onto_plugin_config():
    cfg = plugin_config_from_outputs(SAMPLE_OUTPUTS, {"cloud": "runner"})
    assert cfg == {
        "cloud": "runner",
        "name": "runners",
        "server_spec": {
            "name": "runners-%d",
            "imageRef": "6c019cd9-5014-4583-8486-147fcad401ab",
            "flavor_name": "m1.small",
            "networks": [{"uuid": "84c97573-8317-4c3b-8ee9-81aead07c6d4"}],
            "security_groups": ["18a0c904-7461-4e99-8346-bbb28c810622"],
            "scheduler_hints": {"group": "383e0783-3cb8-4bce-9215-b05b096fada8"},
        },
    }
    loaded = load_plugin_config(cfg, env={})
    assert not loaded.warnings
    spec = loaded.config.server_spec
    assert spec.image_ref == SAMPLE_OUTPUTS["server_spec_imageRef"]
    assert spec.flavor_name == "m1.small"
    with_key = plugin_config_from_outputs(dict(SAMPLE_OUTPUTS, server_spec_key_name="k"))
    assert with_key["server_spec"]["key_name"] == "k"
    with pytest.raises(KeyError):
        plugin_config_from_outputs({"no_such_output": "x"})


def test_template_outputs_and_mapping_agree():
    """Every output of heat/stack.yaml is mapped or declared informational, and
    every mapped key exists in the plugin_config schema."""
    outputs = template_outputs()
    assert set(outputs) == set(OUTPUT_TO_CONFIG) | INFORMATIONAL_OUTPUTS
    root = schema()
    defs = root.get("$defs", {})

    def resolve(node: dict) -> dict:
        while "$ref" in node:
            node = defs[node["$ref"].rsplit("/", 1)[-1]]
        return node

    for key, path in OUTPUT_TO_CONFIG.items():
        node = root
        for part in path:
            node = resolve(node)
            if isinstance(part, int):
                branches = [resolve(b) for b in node.get("anyOf", node.get("oneOf", [node]))]
                node = next(b for b in branches if b.get("type") == "array")["items"]
            else:
                assert part in node.get("properties", {}), f"{key}: {part} not in the schema"
                node = node["properties"][part]
        assert f"plugin_config.{'.'.join(str(p) for p in path if not isinstance(p, int))}" in \
            outputs[key]["description"].replace("[0]", ""), key


# -- the stack on the devcloud -------------------------------------------------------

def require_heat(conn) -> None:
    """Heat is part of the devcloud: its absence is a failure, not a skip."""
    try:
        endpoint = conn.orchestration.get_endpoint()
        list(conn.orchestration.stacks())
    except Exception as exc:  # noqa: BLE001 - any failure means no usable Heat
        pytest.fail(f"Heat (orchestration) is required on the devcloud and does not answer: {exc} "
                    "(tests/devcloud/start installs and starts it)")
    assert endpoint


def create_stack(conn, name: str, parameters: dict[str, Any], timeout: float = 300):
    """Create heat/stack.yaml as ``name``; returns (stack, outputs, seconds)."""
    template = TEMPLATE.read_text()  # Heat parses it (yaml.safe_load would make the version a date)
    started = time.monotonic()
    stack = conn.orchestration.create_stack(name=name, template=template, parameters=parameters,
                                            timeout_mins=int(timeout // 60))
    deadline = time.monotonic() + timeout
    while True:
        stack = conn.orchestration.get_stack(stack.id)
        if stack.status == "CREATE_COMPLETE":
            break
        if stack.status.endswith("FAILED") or time.monotonic() > deadline:
            raise AssertionError(f"stack {name}: {stack.status}: {stack.status_reason}")
        time.sleep(0.5)
    seconds = time.monotonic() - started
    outputs = {o["output_key"]: o.get("output_value") for o in stack.outputs}
    errors = {o["output_key"]: o["output_error"] for o in stack.outputs if o.get("output_error")}
    assert not errors, errors
    return stack, outputs, seconds


def delete_stack(conn, stack, timeout: float = 300) -> float:
    started = time.monotonic()
    conn.orchestration.delete_stack(stack, ignore_missing=True)
    deadline = time.monotonic() + timeout
    while True:
        found = find(conn.orchestration.find_stack, stack.id)
        if found is None or found.status == "DELETE_COMPLETE":
            return time.monotonic() - started
        if found.status == "DELETE_FAILED" or time.monotonic() > deadline:
            raise AssertionError(f"stack {stack.name}: {found.status}: {found.status_reason}")
        time.sleep(0.5)


def physical_resources(conn, stack) -> dict[str, list[str]]:
    """resource type -> physical IDs, plus every port on the stack's network
    or router (Neutron makes the router's and the manager's ports)."""
    found: dict[str, list[str]] = {}
    for res in conn.orchestration.resources(stack):
        found.setdefault(res.resource_type, []).append(res.physical_resource_id)
    ports = set(found.get("OS::Neutron::Port", []))
    for net in found.get("OS::Neutron::Net", []):
        ports |= {p.id for p in conn.network.ports(network_id=net)}
    for router in found.get("OS::Neutron::Router", []):
        ports |= {p.id for p in conn.network.ports(device_id=router)}
    found["ports"] = sorted(ports)
    return found


def assert_nothing_left(admin, resources: dict[str, list[str]], prefix: str) -> None:
    lookups = {
        "OS::Nova::Server": lambda i: find(admin.compute.find_server, i, all_projects=True),
        "OS::Nova::ServerGroup": lambda i: find(admin.compute.find_server_group, i, all_projects=True),
        "OS::Neutron::Net": lambda i: find(admin.network.find_network, i),
        "OS::Neutron::Subnet": lambda i: find(admin.network.find_subnet, i),
        "OS::Neutron::Router": lambda i: find(admin.network.find_router, i),
        "OS::Neutron::SecurityGroup": lambda i: find(admin.network.find_security_group, i),
        "ports": lambda i: find(admin.network.find_port, i),
    }
    left = {kind: [i for i in resources.get(kind, []) if lookup(i) is not None]
            for kind, lookup in lookups.items()}
    # and nothing named after the stack, whatever Heat recorded
    left["named"] = sorted(
        [f"server {s.name}" for s in admin.compute.servers(all_projects=True) if s.name.startswith(prefix)]
        + [f"server group {g.name}" for g in admin.compute.server_groups(all_projects=True)
           if (g.name or "").startswith(prefix)]
        + [f"network {n.name}" for n in admin.network.networks() if n.name.startswith(prefix)]
        + [f"router {r.name}" for r in admin.network.routers() if r.name.startswith(prefix)]
        + [f"security group {g.name}" for g in admin.network.security_groups() if g.name.startswith(prefix)]
        + [f"port {p.name}" for p in admin.network.ports() if (p.name or "").startswith(prefix)])
    assert not any(left.values()), left


@pytest.fixture()
def heat(demo):
    require_heat(demo)
    return demo


@pytest.fixture()
def stacks(heat) -> Iterator[list]:
    """Stacks a test created; deleted afterwards if the test did not."""
    created: list = []
    yield created
    for stack in created:
        delete_stack(heat, stack)


def report(capsys, text: str) -> None:
    with capsys.disabled():
        print(f"\n[heat] {text}")


@pytest.mark.usefixtures("cleanup_group")
def test_stack_deploys_and_runs_a_plugin_lifecycle(heat, stacks, admin, devcloud, plugin_config,
                                                   group_name, capsys):
    parameters = {
        "external_network": "public",
        # demo may not put ports on the external network itself; the shared
        # network "private" stands in for a provider network here
        "manager_network": "private",
        "manager_image": "tiny-raw", "manager_flavor": "m1.tiny",
        "manager_key_name": devcloud["keypair"]["name"],
        "worker_image": devcloud["images"]["tiny-raw"],  # a UUID -> imageRef
        "worker_flavor": "m1.tiny",                        # a name -> flavor_name
    }
    stack, outputs, created_in = create_stack(heat, group_name, parameters)
    stacks.append(stack)
    resources = physical_resources(admin, stack)

    # the outputs, and what they point at
    assert outputs["name"] == group_name
    assert outputs["server_spec_imageRef"] == devcloud["images"]["tiny-raw"]
    assert outputs["server_spec_image_name"] is None
    assert outputs["server_spec_flavor_name"] == "m1.tiny" and outputs["server_spec_flavorRef"] is None
    assert outputs["server_spec_key_name"] is None
    network = admin.network.get_network(outputs["server_spec_networks_uuid"])
    assert network.project_id == devcloud["project"]["id"]
    (subnet,) = [admin.network.get_subnet(s) for s in network.subnet_ids]
    assert subnet.cidr == "10.42.0.0/24" and subnet.ip_version == 4
    router = admin.network.find_router(f"{group_name}-router", ignore_missing=False)
    assert router.external_gateway_info["network_id"] == devcloud["networks"]["public"]
    assert {p.fixed_ips[0]["subnet_id"] for p in admin.network.ports(device_id=router.id,
                                                                     network_id=network.id)} == {subnet.id}
    group = admin.compute.get_server_group(outputs["server_spec_scheduler_hints_group"])
    assert group.policy == "soft-anti-affinity"
    (worker_sg_id,) = outputs["server_spec_security_groups"]
    worker_sg = admin.network.get_security_group(worker_sg_id)
    manager_sg = admin.network.find_security_group(f"{group_name}-manager", ignore_missing=False)
    ingress = {(r["ethertype"], r["protocol"], r["port_range_min"], r["remote_group_id"] or r["remote_ip_prefix"])
               for r in worker_sg.security_group_rules if r["direction"] == "ingress"}
    assert ingress == {("IPv4", "tcp", 22, manager_sg.id), ("IPv6", "tcp", 22, manager_sg.id),
                       ("IPv4", "icmp", None, manager_sg.id), ("IPv6", "ipv6-icmp", None, manager_sg.id)}
    manager_ingress = {(r["ethertype"], r["port_range_min"]) for r in manager_sg.security_group_rules
                       if r["direction"] == "ingress" and r["protocol"] == "tcp"}
    assert manager_ingress == {(e, p) for e in ("IPv4", "IPv6") for p in (22, 8093, 8090)}
    manager = admin.compute.get_server(outputs["manager_id"])
    assert manager.status == "ACTIVE" and manager.key_name == devcloud["keypair"]["name"]
    manager_nets = {p.network_id for p in admin.network.ports(device_id=manager.id)}
    assert manager_nets == {devcloud["networks"]["private"], network.id}
    assert outputs["manager_internal_ip"].startswith("10.42.0.")
    assert outputs["manager_external_ip"].startswith("10.0.0.")
    assert outputs["router_external_ip"].startswith("192.0.2.")

    # the outputs are the whole cloud-specific part of the plugin_config
    base = {k: v for k, v in plugin_config().items() if k in ("cloud", "clouds_config", "credentials")}
    cfg = plugin_config_from_outputs(outputs, base)
    assert set(cfg) == {"cloud", "clouds_config", "credentials", "name", "server_spec"}
    provider = OpenStackProvider()
    provider.init(json.dumps(cfg).encode(), Settings())
    assert provider.increase(2) == 2
    states = wait_states(provider, {State.RUNNING}, 2)
    for sid in states:
        server = admin.compute.get_server(sid)
        assert server.name.startswith(f"{group_name}-") and server.name != f"{group_name}-manager"
        assert server.image["id"] == devcloud["images"]["tiny-raw"]
        assert {sg["name"] for sg in server.security_groups} == {worker_sg.name}
        assert set(server.addresses) == {network.name}
        info = provider.connect_info(sid)
        assert info.internal_addr.startswith("10.42.0."), info
    assert set(states) <= set(admin.compute.get_server_group(group.id).member_ids)
    assert sorted(provider.decrease(sorted(states))) == sorted(states)
    wait_gone(provider)

    deleted_in = delete_stack(heat, stack)
    stacks.remove(stack)
    assert_nothing_left(admin, resources, group_name)
    report(capsys, f"stack create {created_in:.1f} s, delete {deleted_in:.1f} s "
                   f"({sum(len(v) for k, v in resources.items() if k != 'ports')} resources, "
                   f"{len(resources['ports'])} ports)")


def test_stack_options_ipv6_image_by_name_worker_key(heat, stacks, admin, devcloud, plugin_config,
                                                     group_name, capsys):
    """The optional parts: an IPv6 subnet (routed), the image by name, a static
    key pair for the workers; the plugin accepts the resulting config."""
    parameters = {
        "external_network": devcloud["networks"]["public"],
        "manager_network": "private",
        "private_cidr": "10.43.0.0/24", "private_ipv6_cidr": "fd42:43:43::/64",
        "dns_nameservers": "192.0.2.53",
        "manager_image": "tiny-raw", "manager_flavor": "m1.tiny",
        "worker_image": "tiny-ubuntu", "worker_flavor": "m1.tiny",
        "worker_key_name": devcloud["keypair"]["name"],
    }
    stack, outputs, created_in = create_stack(heat, group_name, parameters)
    stacks.append(stack)
    resources = physical_resources(admin, stack)
    assert outputs["server_spec_imageRef"] is None and outputs["server_spec_image_name"] == "tiny-ubuntu"
    assert outputs["server_spec_key_name"] == devcloud["keypair"]["name"]
    network = admin.network.get_network(outputs["server_spec_networks_uuid"])
    subnets = {s.ip_version: s for s in (admin.network.get_subnet(i) for i in network.subnet_ids)}
    assert subnets[4].dns_nameservers == ["192.0.2.53"]
    assert subnets[6].cidr == "fd42:43:43::/64" and subnets[6].ipv6_address_mode == "slaac"
    router = admin.network.find_router(f"{group_name}-router", ignore_missing=False)
    router_subnets = {ip["subnet_id"] for p in admin.network.ports(device_id=router.id, network_id=network.id)
                      for ip in p.fixed_ips}
    assert router_subnets == {subnets[4].id, subnets[6].id}
    manager = admin.compute.get_server(outputs["manager_id"])
    assert any(a["version"] == 6 for a in manager.addresses[network.name])

    base = {k: v for k, v in plugin_config().items() if k in ("cloud", "clouds_config", "credentials")}
    cfg = plugin_config_from_outputs(outputs, base)
    assert cfg["server_spec"]["image_name"] == "tiny-ubuntu"
    assert cfg["server_spec"]["key_name"] == devcloud["keypair"]["name"]
    OpenStackProvider().init(json.dumps(cfg).encode(), Settings())  # every resource is found

    deleted_in = delete_stack(heat, stack)
    stacks.remove(stack)
    assert_nothing_left(admin, resources, group_name)
    report(capsys, f"stack with IPv6: create {created_in:.1f} s, delete {deleted_in:.1f} s")
