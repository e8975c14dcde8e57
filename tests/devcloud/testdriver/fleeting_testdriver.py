"""Test-only Nova virt driver for the fleeting E2E tests (nova-compute of the devcloud).

    DEVCLOUD_COMPUTE_DRIVER=fleeting_testdriver.TestDriver \\
    DEVCLOUD_EXTRA_PYTHONPATH=$PWD/tests/devcloud/testdriver tests/devcloud/start

A ``nova.virt.fake.FakeDriver``.  Servers whose image has the property
``fleeting_e2e=true`` additionally become small "VMs" (e2e_instance.py and
e2e_boot.py, see docs/e2e.md): a network namespace holding the port's fixed
IP on a host bridge of the tenant subnet, a root filesystem the user_data is
applied to (cloud-init or Ignition, as the image would), sshd on port 22 and
a console log, which ``get_console_output`` returns.  Destroying the server
removes all of it.  Every other server behaves exactly as with FakeDriver.

Image properties read (from the server's system_metadata, ``image_*``):

    fleeting_e2e             "true": emulate this server
    fleeting_e2e_os          "ubuntu" (cloud-init, default) or "flatcar" (Ignition)
    fleeting_e2e_fault       "error": spawn fails (server ERROR);
                             "never-ready": boots and runs sshd but never
                             prints the readiness marker
    fleeting_e2e_boot_delay  seconds before the boot starts

Power actions (what fleeting's Suspend/Resume drive, issue 19), for emulated servers: the
instance's processes end on ``power_off`` (Nova os-stop, and shelve before its offload) and it
boots again on ``power_on`` (os-start): sshd stops and starts with it, the console gets the
boot's lines again; ``suspend`` freezes every process of the instance (SIGSTOP: sshd answers
nothing, memory is kept) and ``resume`` thaws them. Shelve's offload is ``destroy`` and its
unshelve a ``spawn`` of the snapshot (FakeDriver's snapshot uploads nothing; the snapshot image
carries the original's properties, so the new spawn is emulated too, from the same user_data).

Floating IPs: those in the network info at spawn, and any associated later
(Neutron is polled every 2 s for the ports of emulated servers), are DNATed
to the fixed IP in the host's nat table.
"""

from __future__ import annotations

import base64
import json
import os

from oslo_concurrency import processutils
from oslo_log import log as logging
from oslo_service import loopingcall

from nova import context as nova_context
from nova import exception
from nova import objects
from nova.compute import power_state
from nova.virt import fake

LOG = logging.getLogger(__name__)

HERE = os.path.dirname(os.path.abspath(__file__))
HELPER = os.path.join(HERE, "e2e_instance.py")
PY = "/usr/bin/python3"
FIP_POLL_SECONDS = 2


def image_props(instance) -> dict:
    sysmeta = instance.system_metadata or {}
    return {k[len("image_"):]: v for k, v in sysmeta.items() if k.startswith("image_")}


def is_e2e(instance) -> bool:
    return str(image_props(instance).get("fleeting_e2e", "")).lower() in ("true", "1", "yes")


def helper(*args: str, stdin: str | None = None) -> str:
    out, _ = processutils.execute(PY, "-P", HELPER, *args, process_input=stdin)
    return out


def nics_of(network_info) -> list[dict]:
    nics = []
    for vif in network_info or []:
        net = vif["network"] or {}
        for subnet in net.get("subnets", []):
            if subnet.get("version") != 4 or not subnet.get("cidr"):
                continue
            gateway = (subnet.get("gateway") or {}).get("address")
            for ip in subnet.get("ips", []):
                nics.append({
                    "port_id": vif["id"], "mac": vif["address"], "network_id": net.get("id"),
                    "cidr": subnet["cidr"], "gateway": gateway, "ip": ip["address"],
                    "floating_ips": [f["address"] for f in ip.get("floating_ips", [])],
                })
    return nics


class TestDriver(fake.FakeDriver):
    """FakeDriver + reachable instances for images with fleeting_e2e=true."""

    def __init__(self, virtapi, read_only=False):
        super().__init__(virtapi, read_only)
        self._e2e: dict[str, dict] = {}  # uuid -> {"ports": [...], "fips": [[fip, fixed], ...]}
        self._fip_loop = None

    # -- life cycle ------------------------------------------------------------------
    def init_host(self, host):
        super().init_host(host)
        self._adopt()
        self._fip_loop = loopingcall.FixedIntervalLoopingCall(self._sync_fips)
        self._fip_loop.start(interval=FIP_POLL_SECONDS, initial_delay=FIP_POLL_SECONDS)

    def _adopt(self):
        """Instances left running by a previous nova-compute: keep the live ones, drop the others."""
        try:
            known = json.loads(helper("list"))
        except Exception:  # noqa: BLE001
            LOG.exception("fleeting e2e: could not list instances")
            return
        ctx = nova_context.get_admin_context()
        for state in known:
            uuid = state["uuid"]
            power = state.get("power", "on")
            try:
                inst = objects.Instance.get_by_uuid(ctx, uuid, expected_attrs=["flavor"])
                alive = ((state.get("alive") or power == "off") and inst.host == self._host
                         and inst.vm_state != "deleted")
            except exception.InstanceNotFound:
                inst, alive = None, False
            if not alive:
                LOG.info("fleeting e2e: removing stale instance %s", uuid)
                helper("down", uuid)
                continue
            flavor = inst.flavor
            self.resources.claim(vcpus=flavor.vcpus, mem=flavor.memory_mb, disk=flavor.root_gb)
            pstate = {"off": power_state.SHUTDOWN, "frozen": power_state.SUSPENDED}.get(power, power_state.RUNNING)
            self.instances[uuid] = fake.FakeInstance(inst.name, pstate, uuid)
            self._e2e[uuid] = {"ports": sorted({n["port_id"] for n in state["nics"]}),
                               "fips": sorted([f["fip"], f["fixed"]] for f in state.get("fips", []))}
            LOG.info("fleeting e2e: adopted running instance %s", uuid)

    def spawn(self, context, instance, image_meta, injected_files,
              admin_password, allocations, network_info=None,
              block_device_info=None, power_on=True, accel_info=None):
        if not is_e2e(instance):
            return super().spawn(context, instance, image_meta, injected_files, admin_password,
                                 allocations, network_info, block_device_info, power_on, accel_info)
        props = image_props(instance)
        fault = props.get("fleeting_e2e_fault", "")
        if fault == "error":
            raise exception.BuildAbortException(
                instance_uuid=instance.uuid, reason="image property fleeting_e2e_fault=error (test driver)")
        nics = nics_of(network_info)
        user_data = None
        if instance.user_data:
            user_data = base64.b64decode(instance.user_data).decode("utf-8", errors="replace")
        spec = {
            "uuid": instance.uuid, "name": instance.name,
            "hostname": instance.hostname or instance.display_name or "localhost",
            "family": props.get("fleeting_e2e_os", "ubuntu"),
            "user_data": user_data,
            "public_keys": {instance.key_name: instance.key_data} if instance.key_data else {},
            "nics": nics,
            "faults": {"never_ready": fault == "never-ready",
                       "boot_delay": props.get("fleeting_e2e_boot_delay") or 0},
        }
        super().spawn(context, instance, image_meta, injected_files, admin_password, allocations,
                      network_info, block_device_info, power_on, accel_info)
        try:
            state = json.loads(helper("up", stdin=json.dumps(spec)))
        except Exception as exc:
            LOG.exception("fleeting e2e: instance set-up failed", instance=instance)
            super().destroy(context, instance, network_info)
            raise exception.BuildAbortException(instance_uuid=instance.uuid,
                                                reason=f"fleeting e2e set-up failed: {exc}")
        for err in state.get("fip_errors", []):
            LOG.error("fleeting e2e: floating IP refused: %s", err, instance=instance)
        self._e2e[instance.uuid] = {
            "ports": sorted({n["port_id"] for n in nics}),
            "fips": sorted([f["fip"], f["fixed"]] for f in state.get("fips", [])),
        }
        LOG.info("fleeting e2e: instance up (netns %s, %s)", state["netns"],
                 ", ".join(n["ip"] for n in state["nics"]), instance=instance)

    def destroy(self, context, instance, network_info, block_device_info=None,
                destroy_disks=True, destroy_secrets=True):
        super().destroy(context, instance, network_info, block_device_info, destroy_disks, destroy_secrets)
        self._e2e.pop(instance.uuid, None)
        if is_e2e(instance) or os.path.isdir(os.path.join(self._state_base(), instance.uuid)):
            helper("down", instance.uuid)
            LOG.info("fleeting e2e: instance removed", instance=instance)

    # -- power actions (Suspend/Resume) ---------------------------------------------------------
    def _power(self, instance, what: str) -> None:
        if instance.uuid in self._e2e or os.path.isdir(os.path.join(self._state_base(), instance.uuid)):
            helper("power", instance.uuid, what)
            LOG.info("fleeting e2e: instance power %s", what, instance=instance)

    def power_off(self, instance, timeout=0, retry_interval=0):
        super().power_off(instance, timeout, retry_interval)
        self._power(instance, "off")

    def power_on(self, context, instance, network_info, *args, **kwargs):
        super().power_on(context, instance, network_info, *args, **kwargs)
        self._power(instance, "on")

    def suspend(self, context, instance):
        super().suspend(context, instance)
        if instance.uuid in self.instances:
            self.instances[instance.uuid].state = power_state.SUSPENDED
        self._power(instance, "freeze")

    def resume(self, context, instance, network_info, *args, **kwargs):
        super().resume(context, instance, network_info, *args, **kwargs)
        if instance.uuid in self.instances:
            self.instances[instance.uuid].state = power_state.RUNNING
        self._power(instance, "thaw")

    def get_console_output(self, context, instance):
        path = os.path.join(self._state_base(), instance.uuid, "console.log")
        if not os.path.exists(path):
            return super().get_console_output(context, instance)
        with open(path, "rb") as fh:
            fh.seek(max(0, os.path.getsize(path) - 100 * 1024))
            return fh.read().decode("utf-8", errors="replace")

    @staticmethod
    def _state_base() -> str:
        return os.environ.get("FLEETING_E2E_STATE", "/var/lib/fleeting-e2e")

    # -- floating IPs associated after spawn -------------------------------------------------------
    def _sync_fips(self):
        if not self._e2e:
            return
        try:
            from nova.network import neutron
            client = neutron.get_client(nova_context.get_admin_context(), admin=True)
            ports = [p for v in self._e2e.values() for p in v["ports"]]
            fips = client.list_floatingips(port_id=ports)["floatingips"]
        except Exception:  # noqa: BLE001 - try again next time
            LOG.warning("fleeting e2e: could not list floating IPs", exc_info=True)
            return
        for uuid, info in list(self._e2e.items()):
            wanted = sorted([f["floating_ip_address"], f["fixed_ip_address"]] for f in fips
                            if f.get("port_id") in info["ports"] and f.get("fixed_ip_address"))
            if wanted == info["fips"]:
                continue
            try:
                state = json.loads(helper("fips", uuid, stdin=json.dumps(
                    [{"fip": a, "fixed": b} for a, b in wanted])))
            except Exception:  # noqa: BLE001
                LOG.warning("fleeting e2e: could not apply floating IPs of %s", uuid, exc_info=True)
                continue
            for err in state.get("fip_errors", []):
                LOG.error("fleeting e2e: floating IP refused for %s: %s", uuid, err)
            info["fips"] = wanted
            LOG.info("fleeting e2e: floating IPs of %s now %s", uuid, wanted)
