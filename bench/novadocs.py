"""The documents bench/novastub.py answers with: Nova server details as long as
real ones (Nova 2.79), a Keystone token with a catalog, and the clouds.yaml
entry that points openstacksdk at the stand-in."""

from __future__ import annotations

import time
import uuid

IMAGE_ID = "5f0b0cf4-5a1e-4c58-9f5b-3d1c2b9e7a10"
NETWORK_ID = "8a1c7f5e-2b7d-4f8e-9a6b-1c2d3e4f5a6b"
FLAVOR = {"id": "1", "name": "m1.small", "vcpus": 1, "ram": 2048, "disk": 20}


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def server_doc(rec: dict, port: int) -> dict:
    """A Nova 2.79 server detail, as long as a real one."""
    sid = rec["id"]
    base = f"http://127.0.0.1:{port}/compute/v2.1"
    octet = int(sid[:4], 16)
    addresses = {} if rec["deleted"] else {"workers": [{
        "version": 4, "addr": f"10.1.{octet >> 8}.{octet & 255}", "OS-EXT-IPS:type": "fixed",
        "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:%02x:%02x:%02x" % (octet >> 8, octet & 255, 7)}]}
    return {
        "id": sid, "name": rec["name"], "status": rec["status"],
        "tenant_id": "6f70656e737461636b20342065766572", "user_id": "9349aff8be7545ac9d2f1d00999a23cd",
        "metadata": rec["metadata"], "hostId": "" if rec["deleted"] else "2091634baaccdc4c5a1d57069c833e402921df696b7f970791b12ec6",
        "image": {"id": IMAGE_ID, "links": [{"rel": "bookmark", "href": f"{base}/images/{IMAGE_ID}"}]},
        "flavor": {"vcpus": 1, "ram": 2048, "disk": 20, "ephemeral": 0, "swap": 0,
                   "original_name": FLAVOR["name"], "extra_specs": {}},
        "created": iso(rec["created"]), "updated": iso(rec["updated"]), "addresses": addresses,
        "accessIPv4": "", "accessIPv6": "",
        "links": [{"rel": "self", "href": f"{base}/servers/{sid}"},
                  {"rel": "bookmark", "href": f"http://127.0.0.1:{port}/compute/servers/{sid}"}],
        "OS-DCF:diskConfig": "MANUAL", "progress": 0, "OS-EXT-AZ:availability_zone": "nova",
        "config_drive": "", "key_name": None, "OS-SRV-USG:launched_at": iso(rec["created"] + 1),
        "OS-SRV-USG:terminated_at": iso(rec["updated"]) if rec["deleted"] else None,
        "security_groups": [{"name": "default"}],
        "OS-EXT-STS:task_state": None, "OS-EXT-STS:vm_state": rec["status"].lower(),
        "OS-EXT-STS:power_state": 1, "os-extended-volumes:volumes_attached": [],
        "locked": False, "description": None, "tags": rec["tags"], "trusted_image_certificates": None,
        "host_status": "UP", "server_groups": [],
    }


def token_doc(base: str) -> dict:
    def svc(kind: str, name: str, url: str) -> dict:
        return {"type": kind, "name": name, "id": uuid.uuid5(uuid.NAMESPACE_URL, kind).hex,
                "endpoints": [{"interface": i, "region": "RegionOne", "region_id": "RegionOne", "url": url,
                               "id": uuid.uuid5(uuid.NAMESPACE_URL, kind + i).hex}
                              for i in ("public", "internal", "admin")]}

    return {"token": {
        "methods": ["password"], "expires_at": iso(time.time() + 86400), "issued_at": iso(time.time()),
        "user": {"id": "u1", "name": "bench", "domain": {"id": "default", "name": "Default"}},
        "project": {"id": "6f70656e737461636b20342065766572", "name": "bench",
                    "domain": {"id": "default", "name": "Default"}},
        "roles": [{"id": "r1", "name": "member"}],
        "catalog": [svc("identity", "keystone", f"{base}/identity/v3"),
                    svc("compute", "nova", f"{base}/compute/v2.1"),
                    svc("image", "glance", f"{base}/image"),
                    svc("network", "neutron", f"{base}/network")]}}


def clouds_yaml(port: int) -> str:
    return (f"clouds:\n  stub:\n    auth_type: v3password\n    region_name: RegionOne\n"
            f"    auth:\n      auth_url: http://127.0.0.1:{port}/identity/v3\n      username: bench\n"
            f"      password: bench\n      project_name: bench\n      user_domain_name: Default\n"
            f"      project_domain_name: Default\n")
