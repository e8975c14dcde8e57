"""API-level bootstrap of the devcloud; run by ``start``, idempotent.

Runs with Debian's /usr/bin/python3 and Debian's python3-openstacksdk
(0.101, installed by start), never with the project's own Python.

  bootstrap.py keystone   service users + catalog, project/user ``demo``,
                          the demo user's application credential and
                          $DEVCLOUD_STATE/clouds.yaml
  bootstrap.py fixtures   flavors, images, networks, router, security group,
                          key pair, server group, quotas and
                          $DEVCLOUD_STATE/fixtures.json

Every step finds before it creates, so a re-run changes nothing.
Settings come from the environment that start exports (DEVCLOUD_*).
"""
import json
import os
import subprocess
import sys

import openstack
import yaml

STATE = os.environ.get("DEVCLOUD_STATE", "/var/tmp/fleeting-devcloud")
AUTH_URL = "http://127.0.0.1:5000/v3"
REGION = "RegionOne"
ADMIN_PASSWORD = os.environ["DEVCLOUD_ADMIN_PASSWORD"]
DEMO_PASSWORD = os.environ["DEVCLOUD_DEMO_PASSWORD"]
SERVICE_PASSWORD = os.environ["DEVCLOUD_SERVICE_PASSWORD"]
APPCRED_SECRET = os.environ["DEVCLOUD_APPCRED_SECRET"]
APPCRED_NAME = "fleeting-devcloud"
CLOUDS_YAML = os.path.join(STATE, "clouds.yaml")
FIXTURES_JSON = os.path.join(STATE, "fixtures.json")
KEY_PATH = os.path.join(STATE, "fleeting-static")

# user, service name, service type, endpoint URL (every interface the same)
SERVICES = [
    ("placement", "placement", "placement", "http://127.0.0.1:8778"),
    ("glance", "glance", "image", "http://127.0.0.1:9292"),
    ("nova", "nova", "compute", "http://127.0.0.1:8774/v2.1"),
    ("neutron", "neutron", "network", "http://127.0.0.1:9696"),
]

# The demo project runs many servers in parallel tests: generous quotas. 120 instances:
# the window sweep (bench/sweep.py, issue 21) makes Increase(50) while other tests run.
NOVA_QUOTAS = dict(instances=120, cores=480, ram=120 * 4096, key_pairs=100,
                   server_groups=50, server_group_members=100)
NEUTRON_QUOTAS = dict(network=50, subnet=50, port=500, router=20,
                      floatingip=100, security_group=100,
                      security_group_rule=1000)


def password_auth(user, password, project):
    return dict(auth_url=AUTH_URL, username=user, password=password,
                project_name=project, user_domain_name="Default",
                project_domain_name="Default")


def connect_password(user, password, project):
    return openstack.connect(region_name=REGION,
                             **password_auth(user, password, project))


def write_atomically(path, text, mode=0o600):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


# --------------------------------------------------------------- keystone ---
def keystone():
    admin = connect_password("admin", ADMIN_PASSWORD, "admin")
    idc = admin.identity
    domain = idc.find_domain("default")

    def project(name, description):
        return (idc.find_project(name, domain_id=domain.id)
                or idc.create_project(name=name, domain_id=domain.id,
                                      description=description))

    def user(name, password, default_project=None):
        found = idc.find_user(name, domain_id=domain.id)
        if found:
            return found
        extra = {"default_project_id": default_project.id} \
            if default_project else {}
        return idc.create_user(name=name, password=password,
                               domain_id=domain.id, **extra)

    # keystone-manage bootstrap made admin/member/reader; be tolerant anyway
    roles = {name: idc.find_role(name) or idc.create_role(name=name)
             for name in ("admin", "member", "reader")}

    service_project = project("service", "OpenStack service users")
    for user_name, svc_name, svc_type, url in SERVICES:
        svc_user = user(user_name, SERVICE_PASSWORD)
        idc.assign_project_role_to_user(service_project, svc_user,
                                        roles["admin"])
        svc = idc.find_service(svc_name) or idc.create_service(
            name=svc_name, type=svc_type)
        have = {e.interface for e in idc.endpoints(service_id=svc.id)}
        for interface in ("public", "internal", "admin"):
            if interface not in have:
                idc.create_endpoint(service_id=svc.id, interface=interface,
                                    url=url, region_id=REGION)

    # the unprivileged tenant the plugin works in, as on a real cloud
    demo_project = project("demo", "fleeting plugin tests")
    demo_user = user("demo", DEMO_PASSWORD, demo_project)
    idc.assign_project_role_to_user(demo_project, demo_user, roles["member"])

    appcred_id = ensure_appcred(demo_user)
    write_clouds_yaml(appcred_id)
    print("keystone: catalog, demo project/user, application credential ready")


def ensure_appcred(demo_user):
    """An application credential of demo (only the user can create it).

    Its secret is chosen here (DEVCLOUD_APPCRED_SECRET), so a re-run can reuse
    the existing credential; it is recreated when the secret does not work.
    """
    demo = connect_password("demo", DEMO_PASSWORD, "demo")
    cred = demo.identity.find_application_credential(demo_user, APPCRED_NAME)
    if cred is not None:
        try:
            openstack.connect(
                auth_type="v3applicationcredential", region_name=REGION,
                auth=dict(auth_url=AUTH_URL,
                          application_credential_id=cred.id,
                          application_credential_secret=APPCRED_SECRET),
            ).authorize()
            return cred.id
        except openstack.exceptions.SDKException:
            demo.identity.delete_application_credential(demo_user, cred)
    cred = demo.identity.create_application_credential(
        demo_user, APPCRED_NAME, secret=APPCRED_SECRET,
        description="devcloud: fleeting plugin tests (demo project)")
    return cred.id


def write_clouds_yaml(appcred_id):
    common = {"region_name": REGION, "identity_api_version": 3,
              "interface": "public"}
    clouds = {"clouds": {
        "devcloud": dict(
            auth=password_auth("admin", ADMIN_PASSWORD, "admin"), **common),
        "devcloud-demo": dict(
            auth=password_auth("demo", DEMO_PASSWORD, "demo"), **common),
        "devcloud-appcred": dict(
            auth_type="v3applicationcredential",
            auth=dict(auth_url=AUTH_URL,
                      application_credential_id=appcred_id,
                      application_credential_secret=APPCRED_SECRET),
            **common),
    }}
    text = ("# Written by tests/devcloud/start: the project's devcloud "
            "(loopback only).\n"
            + yaml.safe_dump(clouds, sort_keys=False))
    write_atomically(CLOUDS_YAML, text)


# --------------------------------------------------------------- fixtures ---
def fixtures():
    admin = openstack.connect(cloud="devcloud")
    demo = openstack.connect(cloud="devcloud-demo")
    demo_project = admin.identity.find_project("demo", domain_id="default")
    demo_user = admin.identity.find_user("demo", domain_id="default")

    flavors = {
        "m1.tiny": ensure_flavor(admin, "m1.tiny", "1", vcpus=1, ram=512,
                                 disk=1),
        "m1.small": ensure_flavor(admin, "m1.small", "2", vcpus=1, ram=2048,
                                  disk=20),
    }
    images = {
        "tiny-raw": ensure_image(admin, "tiny-raw", os_admin_user="core"),
        "tiny-ubuntu": ensure_image(admin, "tiny-ubuntu",
                                    os_admin_user="ubuntu"),
    }
    net = ensure_networks(admin, demo_project)
    sg = ensure_security_group(demo)
    keypair = ensure_keypair(demo)
    group = ensure_server_group(demo)
    admin.set_compute_quotas(demo_project.id, **NOVA_QUOTAS)
    admin.set_network_quotas(demo_project.id, **NEUTRON_QUOTAS)

    data = {
        "clouds_yaml": CLOUDS_YAML,
        "clouds": {"admin": "devcloud", "demo": "devcloud-demo",
                   "appcred": "devcloud-appcred"},
        "auth_url": AUTH_URL,
        "region_name": REGION,
        "project": {"name": "demo", "id": demo_project.id},
        "user": {"name": "demo", "id": demo_user.id},
        "flavors": flavors,
        "images": images,
        "networks": net["networks"],
        "subnets": net["subnets"],
        "external_network_id": net["networks"]["public"],
        "router": {"name": "router1", "id": net["router"]},
        "security_group": {"name": sg.name, "id": sg.id},
        "keypair": keypair,
        "server_group": {"name": group.name, "id": group.id,
                         "policy": "soft-anti-affinity"},
        "quotas": {"compute": NOVA_QUOTAS, "network": NEUTRON_QUOTAS},
    }
    write_atomically(FIXTURES_JSON, json.dumps(data, indent=2) + "\n", 0o644)
    print("fixtures ready: " + FIXTURES_JSON)


def ensure_flavor(admin, name, flavor_id, **spec):
    flavor = admin.compute.find_flavor(name)
    if flavor is None:
        flavor = admin.compute.create_flavor(name=name, id=flavor_id,
                                             is_public=True, **spec)
    return flavor.id


def ensure_image(admin, name, **properties):
    """A public 16 KiB raw image; nothing ever boots it (fake driver)."""
    properties = dict(os_type="linux", architecture="x86_64", **properties)
    image = admin.image.find_image(name)
    if image is not None and image.status != "active":
        admin.image.delete_image(image)  # an upload cut short earlier
        image = None
    if image is None:
        image = admin.image.create_image(
            name=name, disk_format="raw", container_format="bare",
            visibility="public", data=bytes(16384), allow_duplicates=True,
            **properties)
    image = admin.image.get_image(image.id)
    current = dict(image.properties or {})
    current.update({k: getattr(image, k, None) for k in properties})
    if any(str(current.get(k)) != v for k, v in properties.items()):
        admin.image.update_image(image, **properties)
    if image.status != "active":
        raise RuntimeError(f"image {name} is {image.status}")
    return image.id


def ensure_subnet(admin, network, name, cidr, project_id=None):
    for subnet in admin.network.subnets(network_id=network.id):
        if subnet.name == name:
            return subnet
    extra = {"project_id": project_id} if project_id else {}
    # nothing is plumbed: no DHCP agent, no traffic ever goes to these IPs
    return admin.network.create_subnet(
        network_id=network.id, name=name, ip_version=4, cidr=cidr,
        enable_dhcp=False, **extra)


def ensure_networks(admin, demo_project):
    """private (shared), workers (demo), public (external) and router1.

    Purely logical: there is no L2/L3 agent.  Floating IPs from public can be
    allocated and associated with ports on private or workers (router1 has an
    interface on both), but nothing routes or answers there.
    """
    net = admin.network
    private = net.find_network("private") or net.create_network(
        name="private", shared=True)
    private_subnet = ensure_subnet(admin, private, "private-subnet",
                                   "10.0.0.0/24")
    workers = net.find_network("workers", project_id=demo_project.id) \
        or net.create_network(name="workers", project_id=demo_project.id)
    workers_subnet = ensure_subnet(admin, workers, "workers-subnet",
                                   "10.1.0.0/24", demo_project.id)
    public = net.find_network("public") or net.create_network(
        name="public", is_router_external=True,
        provider_network_type="flat", provider_physical_network="public")
    public_subnet = ensure_subnet(admin, public, "public-subnet",
                                  "192.0.2.0/24")

    router = net.find_router("router1", project_id=demo_project.id)
    if router is None:
        router = net.create_router(
            name="router1", project_id=demo_project.id,
            external_gateway_info={"network_id": public.id})
    attached = {ip["subnet_id"]
                for port in net.ports(device_id=router.id,
                                      device_owner="network:router_interface")
                for ip in port.fixed_ips}
    for subnet in (workers_subnet, private_subnet):
        if subnet.id not in attached:
            net.add_interface_to_router(router, subnet_id=subnet.id)
    return {
        "networks": {"private": private.id, "workers": workers.id,
                     "public": public.id},
        "subnets": {"private-subnet": private_subnet.id,
                    "workers-subnet": workers_subnet.id,
                    "public-subnet": public_subnet.id},
        "router": router.id,
    }


def ensure_security_group(demo):
    net = demo.network
    sg = net.find_security_group("fleeting-ssh",
                                 project_id=demo.current_project_id)
    if sg is None:
        sg = net.create_security_group(
            name="fleeting-ssh", description="fleeting: SSH to the workers")
    rules = net.security_group_rules(security_group_id=sg.id,
                                     direction="ingress")
    if not any(r.protocol == "tcp" and r.port_range_min == 22
               and r.port_range_max == 22 for r in rules):
        net.create_security_group_rule(
            security_group_id=sg.id, direction="ingress", ethertype="IPv4",
            protocol="tcp", port_range_min=22, port_range_max=22,
            remote_ip_prefix="0.0.0.0/0")
    return sg


def ensure_keypair(demo):
    """Key pair fleeting-static of the demo user, from a local ed25519 key."""
    if not os.path.exists(KEY_PATH):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "",
                        "-C", "fleeting-static@devcloud", "-f", KEY_PATH],
                       check=True)
    with open(KEY_PATH + ".pub") as f:
        public_key = f.read().strip()
    keypair = demo.compute.find_keypair("fleeting-static")
    if keypair is not None and keypair.public_key.strip() != public_key:
        demo.compute.delete_keypair(keypair)
        keypair = None
    if keypair is None:
        # Nova >= 2.92 insists on public_key; importing one works everywhere
        keypair = demo.compute.create_keypair(
            name="fleeting-static", public_key=public_key)
    return {"name": "fleeting-static", "private_key": KEY_PATH,
            "public_key": KEY_PATH + ".pub", "fingerprint": keypair.fingerprint}


def ensure_server_group(demo):
    for group in demo.compute.server_groups():
        if group.name == "fleeting-workers":
            return group
    return demo.compute.create_server_group(name="fleeting-workers",
                                            policy="soft-anti-affinity")


if __name__ == "__main__":
    phase = sys.argv[1] if len(sys.argv) > 1 else ""
    if phase == "keystone":
        keystone()
    elif phase == "fixtures":
        fixtures()
    else:
        sys.exit("usage: bootstrap.py keystone|fixtures")
