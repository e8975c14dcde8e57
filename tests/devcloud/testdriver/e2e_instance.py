"""Host side of the fleeting E2E test driver: one "instance" = a network
namespace on the tenant subnet + a small root filesystem + a boot process
(e2e_boot.py) that applies the user_data and runs sshd.

Run as root with Debian's /usr/bin/python3 -P (nova-compute calls it; the
tests call ``list``/``check-clean``/``gc``).  Standard library only.

    e2e_instance.py up           < spec.json     create and boot one instance
    e2e_instance.py down UUID                    destroy it (idempotent)
    e2e_instance.py fips UUID    < fips.json     set its floating IPs (NAT)
    e2e_instance.py power UUID off|on|freeze|thaw
                                                 power it off (processes end, sshd too; netns
                                                 and root stay), on (boot again), freeze
                                                 (SIGSTOP: Nova suspend), thaw (SIGCONT)
    e2e_instance.py list                         JSON: the instances here
    e2e_instance.py route-check ADDR             exit 0 iff ADDR is ours and
                                                 routed to one of our bridges
    e2e_instance.py check-clean [--allow UUID..] exit 1 listing what is left of
                                                 instances not in UUID.. (pass the
                                                 servers that still exist)
    e2e_instance.py gc [--keep UUID..]           remove every instance not in UUID..

Everything it creates carries a recognisable name, so clean-up never touches
anything else:
    netns      fleeting-e2e-<server uuid>
    bridges    fe2e-<first 8 hex of the network id>  (one per tenant network,
               holds the subnet's gateway address, no uplink, forwarding off)
    veth       fe2v<10 hex of the uuid> (host side, a port of the bridge)
    NAT        iptables nat chain FLEETING-E2E (jumped to from OUTPUT and
               PREROUTING), one DNAT rule per floating IP, commented with the
               server uuid; plus a /32 route of the floating IP on the bridge
    files      $FLEETING_E2E_STATE (default /var/lib/fleeting-e2e)/<uuid>/

Safety (traffic never leaves the machine): a bridge is only created for a
subnet that no existing route or host address overlaps; IPv4 forwarding is
switched off on it (packets from instances are never routed elsewhere), the
instances get no default route, and a bridge whose ports are not all ours is
refused.  A floating IP that is a host address or the next hop of a host
route is refused; the others are routed onto the bridge (/32), so even
without the DNAT rule nothing for them goes out of a real interface.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BASE = Path(os.environ.get("FLEETING_E2E_STATE", "/var/lib/fleeting-e2e"))
PY = "/usr/bin/python3"
NETNS_PREFIX = "fleeting-e2e-"
BRIDGE_PREFIX = "fe2e-"
VETH_PREFIX = "fe2v"
PEER_PREFIX = "fe2p"
NAT_CHAIN = "FLEETING-E2E"
IGNITION = "/usr/lib/dracut/modules.d/30ignition/ignition"
SSHD = "/usr/sbin/sshd"
FAMILIES = ("ubuntu", "flatcar")


class E2EError(RuntimeError):
    pass


# -- small helpers ---------------------------------------------------------------

def run(*cmd: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(cmd), input=input, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise E2EError(f"{' '.join(cmd)}: exit {proc.returncode}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def ip_json(*args: str) -> list:
    out = run("ip", "-j", *args).stdout.strip()
    return json.loads(out) if out else []


def hexid(uuid: str) -> str:
    return uuid.replace("-", "").lower()


def netns_name(uuid: str) -> str:
    return NETNS_PREFIX + uuid


def bridge_name(network_id: str) -> str:
    return BRIDGE_PREFIX + hexid(network_id)[:8]


def veth_name(uuid: str, index: int) -> str:
    return f"{VETH_PREFIX}{hexid(uuid)[:9]}{index}"


def peer_name(uuid: str, index: int) -> str:
    return f"{PEER_PREFIX}{hexid(uuid)[:9]}{index}"


def link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def write_sysctl(path: str, value: str) -> None:
    with open(path, "w") as fh:
        fh.write(value)


def read_sysctl(path: str) -> str:
    with open(path) as fh:
        return fh.read().strip()


@contextlib.contextmanager
def locked():
    # 0711: instance users must be able to traverse to their root (as to /sysroot)
    BASE.mkdir(mode=0o711, parents=True, exist_ok=True)
    os.chmod(BASE, 0o711)
    with open(BASE / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def proc_starttime(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def state_path(uuid: str) -> Path:
    return BASE / uuid / "state.json"


def load_state(uuid: str) -> dict | None:
    try:
        return json.loads(state_path(uuid).read_text())
    except (OSError, ValueError):
        return None


def save_state(uuid: str, state: dict) -> None:
    tmp = state_path(uuid).with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    tmp.replace(state_path(uuid))


# -- safety checks -----------------------------------------------------------------

def our_bridges() -> list[str]:
    return sorted(n for n in os.listdir("/sys/class/net") if n.startswith(BRIDGE_PREFIX))


def bridge_ports(bridge: str) -> list[str]:
    try:
        return sorted(os.listdir(f"/sys/class/net/{bridge}/brif"))
    except OSError:
        return []


def host_addresses() -> list[ipaddress.IPv4Interface]:
    out = []
    for link in ip_json("-4", "addr", "show"):
        for a in link.get("addr_info", []):
            out.append(ipaddress.IPv4Interface(f"{a['local']}/{a['prefixlen']}"))
    return out


def check_subnet_free(cidr: ipaddress.IPv4Network, bridge: str) -> None:
    """Refuse a tenant subnet that anything on the host already routes."""
    for route in ip_json("-4", "route", "show", "table", "all"):
        dst = route.get("dst", "")
        if dst in ("default", "") or route.get("dev") == bridge:
            continue
        try:
            net = ipaddress.IPv4Network(dst if "/" in dst else dst + "/32", strict=False)
        except ValueError:
            continue
        if net.overlaps(cidr):
            raise E2EError(f"refusing tenant subnet {cidr}: the host already routes {dst} "
                           f"via {route.get('dev')} (table {route.get('table', 'main')})")
    for addr in host_addresses():
        if addr.network.overlaps(cidr) and not addr_on(bridge, addr):
            raise E2EError(f"refusing tenant subnet {cidr}: host address {addr} overlaps it")


def addr_on(dev: str, addr: ipaddress.IPv4Interface) -> bool:
    if not link_exists(dev):
        return False
    for link in ip_json("-4", "addr", "show", "dev", dev):
        for a in link.get("addr_info", []):
            if ipaddress.IPv4Interface(f"{a['local']}/{a['prefixlen']}") == addr:
                return True
    return False


def ensure_bridge(network_id: str, cidr: str, gateway: str) -> str:
    """The per-network host bridge with the subnet's gateway address (no uplink)."""
    br = bridge_name(network_id)
    net = ipaddress.IPv4Network(cidr)
    gw = ipaddress.IPv4Interface(f"{gateway}/{net.prefixlen}")
    if gw.ip not in net:
        raise E2EError(f"gateway {gateway} is not in {cidr}")
    if link_exists(br):
        if not Path(f"/sys/class/net/{br}/bridge").exists():
            raise E2EError(f"{br} exists and is not a bridge")
        stray = [p for p in bridge_ports(br) if not p.startswith(VETH_PREFIX)]
        if stray:
            raise E2EError(f"refusing bridge {br}: it has ports that are not ours: {stray}")
        if not addr_on(br, gw):
            raise E2EError(f"bridge {br} exists without {gw}: another network uses the name?")
    else:
        check_subnet_free(net, br)
        run("ip", "link", "add", br, "type", "bridge")
        try:
            run("ip", "addr", "add", str(gw), "dev", br)
            configure_bridge_sysctls(br)
            run("ip", "link", "set", br, "up")
        except Exception:
            run("ip", "link", "del", br, check=False)
            raise
    configure_bridge_sysctls(br)
    return br


def configure_bridge_sysctls(br: str) -> None:
    write_sysctl(f"/proc/sys/net/ipv4/conf/{br}/forwarding", "0")
    v6 = f"/proc/sys/net/ipv6/conf/{br}/disable_ipv6"
    if os.path.exists(v6):
        write_sysctl(v6, "1")
    if read_sysctl(f"/proc/sys/net/ipv4/conf/{br}/forwarding") != "0":
        raise E2EError(f"could not switch IPv4 forwarding off on {br}")


def maybe_remove_bridge(br: str) -> None:
    if link_exists(br) and not bridge_ports(br):
        run("ip", "link", "del", br, check=False)


def check_fip_allowed(fip: str) -> None:
    addr = ipaddress.IPv4Address(fip)
    if addr.is_loopback or addr.is_multicast or addr.is_unspecified or addr.is_link_local:
        raise E2EError(f"refusing floating IP {fip}: not a unicast address")
    for a in host_addresses():
        if a.ip == addr:
            raise E2EError(f"refusing floating IP {fip}: it is an address of this host")
    for route in ip_json("-4", "route", "show", "table", "all"):
        if route.get("gateway") == fip:
            raise E2EError(f"refusing floating IP {fip}: it is the next hop of a host route")
        if route.get("dst") in (fip, fip + "/32") and not route.get("dev", "").startswith(BRIDGE_PREFIX) \
                and route.get("type") not in ("local", "broadcast"):
            raise E2EError(f"refusing floating IP {fip}: the host already routes it via {route.get('dev')}")


# -- NAT for floating IPs ------------------------------------------------------------

def iptables(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run("iptables", "-w", "-t", "nat", *args, check=check)


def ensure_nat_chain() -> None:
    if iptables("-S", NAT_CHAIN, check=False).returncode != 0:
        iptables("-N", NAT_CHAIN)
    for hook in ("OUTPUT", "PREROUTING"):
        if iptables("-C", hook, "-j", NAT_CHAIN, check=False).returncode != 0:
            iptables("-I", hook, "1", "-j", NAT_CHAIN)


def nat_rules() -> list[str]:
    proc = iptables("-S", NAT_CHAIN, check=False)
    if proc.returncode != 0:
        return []
    return [line for line in proc.stdout.splitlines() if line.startswith(f"-A {NAT_CHAIN} ")]


def remove_nat_for(uuid: str | None) -> None:
    """Delete the DNAT rules of one instance (None: all of ours)."""
    for line in nat_rules():
        if uuid is None or f"fleeting-e2e:{uuid}" in line:
            args = shlex.split(line)[2:]  # -S quotes the comment
            iptables("-D", NAT_CHAIN, *args, check=False)


def maybe_remove_nat_chain() -> None:
    if nat_rules() or iptables("-S", NAT_CHAIN, check=False).returncode != 0:
        return
    for hook in ("OUTPUT", "PREROUTING"):
        while iptables("-C", hook, "-j", NAT_CHAIN, check=False).returncode == 0:
            iptables("-D", hook, "-j", NAT_CHAIN, check=False)
    iptables("-X", NAT_CHAIN, check=False)


def apply_fips(uuid: str, state: dict, wanted: list[dict]) -> None:
    """wanted: [{"fip": a, "fixed": b}], b one of the instance's fixed IPs."""
    bridges = {n["ip"]: n["bridge"] for n in state["nics"]}
    for old in state.get("fips", []):
        run("ip", "route", "del", f"{old['fip']}/32", "dev", old["bridge"], check=False)
    remove_nat_for(uuid)
    applied, errors = [], []
    for item in wanted:
        fip, fixed = item["fip"], item["fixed"]
        if fixed not in bridges:
            errors.append(f"{fip}: fixed IP {fixed} is not one of this instance's")
            continue
        try:
            check_fip_allowed(fip)
        except E2EError as exc:
            errors.append(str(exc))
            continue
        br = bridges[fixed]
        ensure_nat_chain()
        run("ip", "route", "replace", f"{fip}/32", "dev", br)
        iptables("-A", NAT_CHAIN, "-d", f"{fip}/32", "-m", "comment", "--comment",
                 f"fleeting-e2e:{uuid}", "-j", "DNAT", "--to-destination", fixed)
        applied.append({"fip": fip, "fixed": fixed, "bridge": br})
    state["fips"] = applied
    state["fip_errors"] = errors
    maybe_remove_nat_chain()


# -- root filesystem ("the image") ------------------------------------------------

COPY_FROM_HOST = ["login.defs", "skel", "alternatives", "ld.so.cache", "ld.so.conf", "ld.so.conf.d",
                  "default/useradd", "shells", "protocols", "services", "localtime", "mime.types",
                  "python3", "python3.11", "ssl/openssl.cnf"]

OS_RELEASE = {
    "ubuntu": ('PRETTY_NAME="Ubuntu 22.04.4 LTS (fleeting e2e)"\nNAME="Ubuntu"\nVERSION_ID="22.04"\n'
               'VERSION="22.04.4 LTS (Jammy Jellyfish)"\nID=ubuntu\nID_LIKE=debian\n'
               'VERSION_CODENAME=jammy\n'),
    "flatcar": ('NAME="Flatcar Container Linux by Kinvolk"\nID=flatcar\nID_LIKE=coreos\n'
                'VERSION=3815.2.5\nVERSION_ID=3815.2.5\nPRETTY_NAME="Flatcar Container Linux by '
                'Kinvolk 3815.2.5 (Oklo) (fleeting e2e)"\n'),
}

PASSWD_BASE = ("root:x:0:0:root:/root:/bin/bash\n"
               "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
               "sshd:x:105:65534::/run/sshd:/usr/sbin/nologin\n"
               "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
GROUP_BASE = ("root:x:0:\ndaemon:x:1:\nadm:x:4:\ntty:x:5:\nwheel:x:10:\nshadow:x:42:\nusers:x:100:\n"
              "nogroup:x:65534:\n")
SHADOW_BASE = ("root:*:19800:0:99999:7:::\ndaemon:*:19800:0:99999:7:::\nsshd:*:19800:0:99999:7:::\n"
               "nobody:*:19800:0:99999:7:::\n")
GSHADOW_BASE = "root:*::\ndaemon:*::\nadm:*::\ntty:*::\nwheel:*::\nshadow:*::\nusers:*::\nnogroup:*::\n"

PAM = ("auth     required pam_unix.so\naccount  required pam_unix.so\n"
       "password required pam_unix.so\nsession  required pam_permit.so\n")

SSHD_CONFIG = """\
# sshd of the fleeting E2E "{family}" image
Include /etc/ssh/sshd_config.d/*.conf
Port 22
AddressFamily inet
HostKey /etc/ssh/ssh_host_rsa_key
HostKey /etc/ssh/ssh_host_ecdsa_key
HostKey /etc/ssh/ssh_host_ed25519_key
UsePAM yes
KbdInteractiveAuthentication no
PasswordAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
{authorized_keys}PrintMotd no
PidFile /run/sshd.pid
LogLevel VERBOSE
AcceptEnv LANG LC_*
Subsystem sftp /usr/lib/openssh/sftp-server
"""

CLOUD_CFG = """\
# cloud-init configuration of the fleeting E2E "ubuntu" image.  Only modules
# that are safe inside the instance's chroot + namespaces are listed (no
# growpart/resizefs/disk_setup/mounts, no package installs: no block devices
# and no route out exist there anyway).
users:
  - default
disable_root: true
preserve_hostname: false
datasource_list: [NoCloud, None]
network:
  config: disabled
ssh_deletekeys: true
ssh_genkeytypes: [rsa, ecdsa, ed25519]
cloud_init_modules:
  - seed_random
  - bootcmd
  - write-files
  - set_hostname
  - update_hostname
  - update_etc_hosts
  - users-groups
  - ssh
cloud_config_modules:
  - set-passwords
  - runcmd
cloud_final_modules:
  - write-files-deferred
  - scripts-vendor
  - scripts-per-once
  - scripts-per-boot
  - scripts-per-instance
  - scripts-user
  - ssh-authkey-fingerprints
  - keys-to-console
  - final-message
system_info:
  distro: ubuntu
  default_user:
    name: ubuntu
    lock_passwd: true
    gecos: Ubuntu
    groups: [adm, sudo]
    sudo: ["ALL=(ALL) NOPASSWD:ALL"]
    shell: /bin/bash
  paths:
    cloud_dir: /var/lib/cloud/
    templates_dir: /etc/cloud/templates/
  ssh_svcname: ssh
"""


def build_rootfs(root: Path, family: str, hostname: str) -> None:
    for d in ("etc/ssh/sshd_config.d", "etc/pam.d", "etc/sudoers.d", "etc/selinux", "home", "root",
              "tmp", "var/lib", "var/log", "var/tmp", "var/empty", "run", "dev", "proc", "sys", "usr",
              "mnt", "opt", "srv"):
        (root / d).mkdir(parents=True, exist_ok=True)
    os.chmod(root / "root", 0o700)
    os.chmod(root / "tmp", 0o1777)
    os.chmod(root / "var/tmp", 0o1777)
    for link, target in (("bin", "usr/bin"), ("sbin", "usr/sbin"), ("lib", "usr/lib"), ("lib64", "usr/lib64")):
        (root / link).symlink_to(target)
    etc = root / "etc"
    for name in COPY_FROM_HOST:
        src = Path("/etc") / name
        dst = etc / name
        if not os.path.lexists(src):
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir() and not src.is_symlink():
            shutil.copytree(src, dst, symlinks=True)
        else:
            shutil.copy2(src, dst, follow_symlinks=False)
    passwd, group, shadow, gshadow = PASSWD_BASE, GROUP_BASE, SHADOW_BASE, GSHADOW_BASE
    if family == "ubuntu":
        group += "sudo:x:27:\n"
        gshadow += "sudo:*::\n"
    else:  # Flatcar ships the user core (uid 500)
        passwd += "core:x:500:500:Flatcar Admin:/home/core:/bin/bash\n"
        group = group.replace("wheel:x:10:", "wheel:x:10:core") + "sudo:x:150:core\ndocker:x:233:core\ncore:x:500:\n"
        shadow += "core:*:19800:0:99999:7:::\n"
        gshadow += "sudo:*::core\ndocker:*::core\ncore:*::\n"
        home = root / "home/core"
        home.mkdir()
        os.chown(home, 500, 500)
        (etc / "flatcar").mkdir()
    (etc / "passwd").write_text(passwd)
    (etc / "group").write_text(group)
    (etc / "shadow").write_text(shadow)
    (etc / "gshadow").write_text(gshadow)
    for name in ("shadow", "gshadow"):
        os.chmod(etc / name, 0o640)
        os.chown(etc / name, 0, 42)
    (etc / "nsswitch.conf").write_text("passwd: files\ngroup: files\nshadow: files\ngshadow: files\n"
                                       "hosts: files\nnetworks: files\n")
    (etc / "hostname").write_text(("localhost" if family == "flatcar" else "ubuntu") + "\n")
    (etc / "hosts").write_text("127.0.0.1 localhost\n")
    (etc / "os-release").write_text(OS_RELEASE[family])
    (etc / "selinux/config").write_text("SELINUX=disabled\nSELINUXTYPE=targeted\n")
    (etc / "sudoers").write_text("root ALL=(ALL:ALL) ALL\n@includedir /etc/sudoers.d\n")
    os.chmod(etc / "sudoers", 0o440)
    for svc in ("sshd", "other"):
        (etc / "pam.d" / svc).write_text(PAM)
    (etc / "ssh/sshd_config").write_text(SSHD_CONFIG.format(
        family=family,
        # Flatcar: sshd reads authorized_keys, which update-ssh-keys assembles
        # from authorized_keys.d/* (see e2e_boot.py)
        authorized_keys="AuthorizedKeysFile .ssh/authorized_keys\n" if family == "flatcar" else ""))
    if family == "ubuntu":
        cloud = etc / "cloud"
        (cloud / "cloud.cfg.d").mkdir(parents=True)
        shutil.copytree("/etc/cloud/templates", cloud / "templates")
        if Path("/etc/cloud/cloud.cfg.d/05_logging.cfg").exists():
            shutil.copy2("/etc/cloud/cloud.cfg.d/05_logging.cfg", cloud / "cloud.cfg.d/05_logging.cfg")
        (cloud / "cloud.cfg").write_text(CLOUD_CFG)
        (root / "var/lib/cloud/seed/nocloud").mkdir(parents=True)


# -- up / down -----------------------------------------------------------------------

def preflight(family: str) -> None:
    if os.geteuid() != 0:
        raise E2EError("must run as root")
    missing = [t for t in ("ip", "iptables", "unshare", "chroot", "ssh-keygen") if not shutil.which(t)]
    if not os.access(SSHD, os.X_OK):
        missing.append(f"{SSHD} (Debian package openssh-server)")
    if family == "ubuntu" and not shutil.which("cloud-init"):
        missing.append("cloud-init (Debian package cloud-init)")
    if family == "flatcar" and not os.access(IGNITION, os.X_OK):
        missing.append(f"{IGNITION} (Debian package ignition)")
    if missing:
        raise E2EError("missing on this host: " + ", ".join(missing))


def cmd_up(spec: dict) -> dict:
    uuid = spec["uuid"]
    family = spec.get("family", "ubuntu")
    if family not in FAMILIES:
        raise E2EError(f"unknown image family {family!r} (fleeting_e2e_os): one of {FAMILIES}")
    preflight(family)
    nics = [n for n in spec["nics"] if n.get("ip") and ipaddress.ip_address(n["ip"]).version == 4]
    if not nics:
        raise E2EError("the server has no IPv4 fixed IP")
    if len(nics) > 9:
        raise E2EError("at most 9 interfaces")
    idir = BASE / uuid
    ns = netns_name(uuid)
    if idir.exists() or Path("/run/netns", ns).exists():
        cmd_down(uuid)
    state = {"uuid": uuid, "name": spec.get("name", ""), "hostname": spec.get("hostname", ""),
             "family": family, "netns": ns, "nics": [], "fips": [], "pid": None, "starttime": None,
             "created": time.time()}
    try:
        with locked():
            idir.mkdir(mode=0o711, parents=True)
            os.chmod(idir, 0o711)
            save_state(uuid, state)
            run("ip", "netns", "add", ns)
            run("ip", "-n", ns, "link", "set", "lo", "up")
            for i, nic in enumerate(nics):
                br = ensure_bridge(nic["network_id"], nic["cidr"], nic["gateway"])
                host_if, peer = veth_name(uuid, i), peer_name(uuid, i)
                run("ip", "link", "add", host_if, "type", "veth", "peer", "name", peer)
                state["nics"].append({**nic, "bridge": br, "veth": host_if, "ifname": f"eth{i}"})
                save_state(uuid, state)
                run("ip", "link", "set", peer, "netns", ns)
                run("ip", "-n", ns, "link", "set", peer, "name", f"eth{i}")
                if nic.get("mac"):
                    run("ip", "-n", ns, "link", "set", f"eth{i}", "address", nic["mac"])
                prefix = ipaddress.IPv4Network(nic["cidr"]).prefixlen
                run("ip", "-n", ns, "addr", "add", f"{nic['ip']}/{prefix}", "dev", f"eth{i}")
                run("ip", "-n", ns, "link", "set", f"eth{i}", "up")
                run("ip", "link", "set", host_if, "master", br)
                write_sysctl(f"/proc/sys/net/ipv4/conf/{host_if}/forwarding", "0")
                run("ip", "link", "set", host_if, "up")
            wanted = [{"fip": f, "fixed": n["ip"]} for n in nics for f in n.get("floating_ips", [])]
            apply_fips(uuid, state, wanted)
            save_state(uuid, state)
        root = idir / "root"
        root.mkdir()
        build_rootfs(root, family, spec.get("hostname") or "localhost")
        spec = {**spec, "nics_v4": state["nics"], "netns": ns}
        (idir / "spec.json").write_text(json.dumps(spec, indent=1))
        os.chmod(idir / "spec.json", 0o600)
        (idir / "console.log").touch()
        os.chmod(idir / "console.log", 0o600)
        boot(uuid, state)
        return state
    except Exception:
        cmd_down(uuid)
        raise


def boot(uuid: str, state: dict) -> None:
    """Start the instance's PID 1 (e2e_boot.py) in its namespace: a first boot or a power-on."""
    idir = BASE / uuid
    with open(idir / "boot.log", "ab") as log:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", state["netns"], "unshare", "--mount", "--pid", "--fork", "--uts", "--ipc",
             "--propagation", "private", "--kill-child=SIGKILL", "--",
             PY, "-P", str(HERE / "e2e_boot.py"), str(idir)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            close_fds=True, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"})
    (idir / "booted").unlink(missing_ok=True)
    state["pid"] = proc.pid
    state["starttime"] = proc_starttime(proc.pid)
    state["power"] = "on"
    save_state(uuid, state)


def console_line(uuid: str, text: str) -> None:
    with open(BASE / uuid / "console.log", "a", encoding="utf-8") as fh:
        fh.write(text + "\n")


def cmd_power(uuid: str, what: str) -> dict:
    """Power actions, as a VM's would be seen from the network:
    ``off``: every process of the instance ends (sshd too); the netns, its addresses and the root
    filesystem stay (Nova os-stop, and shelve's power-off). ``on``: boots it again (the same root:
    cloud-init's per-boot stages run again and print their readiness line; sshd starts again).
    ``freeze``: every process stopped (SIGSTOP): sshd accepts no connection, memory is kept (Nova
    suspend). ``thaw``: SIGCONT: the same processes go on (Nova resume)."""
    state = load_state(uuid)
    if state is None:
        raise E2EError(f"no instance {uuid}")
    ns = state["netns"]
    if what == "off":
        if state.get("power") == "frozen":
            cmd_power(uuid, "thaw")
            state = load_state(uuid) or state
        kill_instance_processes(state, ns)
        state.update(pid=None, starttime=None, power="off")
        save_state(uuid, state)
        console_line(uuid, "[  OK  ] Reached target poweroff.target - System Power Off.\nreboot: Power down")
    elif what == "on":
        if state.get("power") == "frozen":
            return cmd_power(uuid, "thaw")
        if not instance_alive(state):
            console_line(uuid, "fleeting-e2e: powered on")
            boot(uuid, state)
    elif what in ("freeze", "thaw"):
        inode = netns_inode(ns)
        sig = signal.SIGSTOP if what == "freeze" else signal.SIGCONT
        for pid in pids_in_netns(inode) if inode is not None else []:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        state["power"] = "frozen" if what == "freeze" else "on"
        save_state(uuid, state)
        if what == "thaw":
            console_line(uuid, "fleeting-e2e: resumed")
    else:
        raise E2EError(f"unknown power action {what!r}: off, on, freeze or thaw")
    return state


def netns_inode(ns: str) -> int | None:
    try:
        return os.stat(f"/run/netns/{ns}").st_ino
    except OSError:
        return None


def pids_in_netns(inode: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}/ns/net").st_ino == inode:
                out.append(int(entry))
        except OSError:
            continue
    return out


def mounts_under(path: Path) -> list[str]:
    prefix = str(path).rstrip("/") + "/"
    out = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            mp = line.split()[4].replace("\\040", " ")
            if mp == str(path) or mp.startswith(prefix):
                out.append(mp)
    return out


def kill_instance_processes(state: dict | None, ns: str) -> None:
    if state and state.get("pid"):
        pid = state["pid"]
        if proc_starttime(pid) == state.get("starttime"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    inode = netns_inode(ns)
    deadline = time.time() + 10
    while inode is not None:
        pids = pids_in_netns(inode)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if time.time() > deadline:
            raise E2EError(f"processes {pids} in netns {ns} survive SIGKILL")
        time.sleep(0.05)


def cmd_down(uuid: str) -> None:
    ns = netns_name(uuid)
    idir = BASE / uuid
    state = load_state(uuid)
    kill_instance_processes(state, ns)
    with locked():
        bridges = set()
        if state:
            for old in state.get("fips", []):
                run("ip", "route", "del", f"{old['fip']}/32", "dev", old["bridge"], check=False)
            bridges |= {n["bridge"] for n in state.get("nics", [])}
        remove_nat_for(uuid)
        maybe_remove_nat_chain()
        if Path("/run/netns", ns).exists():
            run("ip", "netns", "del", ns)
        for i in range(10):  # a veth left on the host if the peer never moved
            if link_exists(veth_name(uuid, i)):
                run("ip", "link", "del", veth_name(uuid, i), check=False)
        for br in bridges:
            maybe_remove_bridge(br)
    if idir.exists():
        left = mounts_under(idir)
        if left:
            raise E2EError(f"refusing to remove {idir}: still mounted: {left}")
        shutil.rmtree(idir)


def cmd_fips(uuid: str, wanted: list[dict]) -> dict:
    with locked():
        state = load_state(uuid)
        if state is None:
            raise E2EError(f"no instance {uuid}")
        apply_fips(uuid, state, wanted)
        save_state(uuid, state)
        return state


def instance_alive(state: dict) -> bool:
    pid = state.get("pid")
    return bool(pid) and proc_starttime(pid) == state.get("starttime")


def cmd_list() -> list[dict]:
    out = []
    if not BASE.exists():
        return out
    for entry in sorted(BASE.iterdir()):
        if entry.is_dir():
            state = load_state(entry.name)
            if state:
                state["alive"] = instance_alive(state)
                out.append(state)
    return out


def sshd_processes() -> dict[int, str]:
    """sshd processes running in one of our instance roots: pid -> instance uuid."""
    out = {}
    base = str(BASE).rstrip("/") + "/"
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            exe = os.readlink(f"/proc/{entry}/exe")
            root = os.readlink(f"/proc/{entry}/root")
        except OSError:
            continue
        if exe.endswith("/sshd") and root.startswith(base):
            out[int(entry)] = root[len(base):].split("/")[0]
    return out


def nat_rule_owners() -> list[str]:
    return [line.split("fleeting-e2e:", 1)[1].split('"')[0].split()[0] for line in nat_rules()
            if "fleeting-e2e:" in line]


def leftovers(allow: set[str]) -> list[str]:
    """Everything of ours that does not belong to an instance in ``allow``
    (the servers that still exist), plus anything that should never outlive
    its last user (an empty bridge, an empty NAT chain, a mount)."""
    allowed_veths = {VETH_PREFIX + hexid(u)[:9] for u in allow}
    found = []
    for ns in run("ip", "netns", "list").stdout.split("\n"):
        name = ns.split(" ")[0]
        if name.startswith(NETNS_PREFIX) and name[len(NETNS_PREFIX):] not in allow:
            found.append(f"netns {name}")
    for link in os.listdir("/sys/class/net"):
        if link.startswith(VETH_PREFIX) and link[:-1] not in allowed_veths:
            found.append(f"link {link}")
        if link.startswith(PEER_PREFIX):
            found.append(f"link {link}")
        if link.startswith(BRIDGE_PREFIX) and not bridge_ports(link):
            found.append(f"bridge {link} (no ports)")
    if BASE.exists():
        for entry in BASE.iterdir():
            if entry.is_dir() and entry.name not in allow:
                found.append(f"dir {entry}")
    found += [f"sshd pid {pid} ({owner})" for pid, owner in sshd_processes().items() if owner not in allow]
    found += [f"NAT rule of {owner}" for owner in nat_rule_owners() if owner not in allow]
    if not nat_rules() and iptables("-S", NAT_CHAIN, check=False).returncode == 0:
        found.append(f"empty iptables nat chain {NAT_CHAIN}")
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            if line.split()[4].startswith(str(BASE)):
                found.append(f"mount {line.split()[4]}")
    return found


def cmd_gc(keep: set[str]) -> list[str]:
    """Remove every instance not in ``keep`` and whatever nobody uses any more."""
    removed = []
    uuids = set()
    if BASE.exists():
        uuids |= {e.name for e in BASE.iterdir() if e.is_dir()}
    for ns in run("ip", "netns", "list").stdout.split("\n"):
        name = ns.split(" ")[0]
        if name.startswith(NETNS_PREFIX):
            uuids.add(name[len(NETNS_PREFIX):])
    uuids |= set(nat_rule_owners())
    for uuid in sorted(uuids - keep):
        cmd_down(uuid)
        removed.append(uuid)
    kept_veths = {VETH_PREFIX + hexid(u)[:9] for u in keep}
    with locked():
        for link in os.listdir("/sys/class/net"):
            if (link.startswith(VETH_PREFIX) and link[:-1] not in kept_veths) or link.startswith(PEER_PREFIX):
                run("ip", "link", "del", link, check=False)
        maybe_remove_nat_chain()
        for br in our_bridges():
            maybe_remove_bridge(br)
    return removed


def cmd_route_check(addr: str) -> str:
    """The bridge ADDR is routed to, if ADDR is an instance address (fixed or floating) we made."""
    ours = {}
    for st in cmd_list():
        for n in st.get("nics", []):
            ours[n["ip"]] = n["bridge"]
        for f in st.get("fips", []):
            ours[f["fip"]] = f["bridge"]
    if addr not in ours:
        raise E2EError(f"{addr} is not an address of an E2E instance on this host")
    route = ip_json("route", "get", addr)
    dev = route[0].get("dev") if route else None
    if dev != ours[addr]:
        raise E2EError(f"{addr} is routed via {dev}, not via the E2E bridge {ours[addr]}")
    stray = [p for p in bridge_ports(dev) if not p.startswith(VETH_PREFIX)]
    if stray:
        raise E2EError(f"bridge {dev} has ports that are not ours: {stray}")
    if read_sysctl(f"/proc/sys/net/ipv4/conf/{dev}/forwarding") != "0":
        raise E2EError(f"IPv4 forwarding is on for {dev}")
    return dev


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = argv[0], argv[1:]
    try:
        if cmd == "up":
            print(json.dumps(cmd_up(json.load(sys.stdin))))
        elif cmd == "down":
            for uuid in args:
                cmd_down(uuid)
        elif cmd == "power":  # UUID off|on|freeze|thaw
            print(json.dumps(cmd_power(args[0], args[1])))
        elif cmd == "fips":
            print(json.dumps(cmd_fips(args[0], json.load(sys.stdin))))
        elif cmd == "list":
            print(json.dumps(cmd_list(), indent=1))
        elif cmd == "route-check":
            print(cmd_route_check(args[0]))
        elif cmd == "check-clean":  # [--allow UUID...]: instances of servers that still exist
            allow = set(args[1:]) if args[:1] == ["--allow"] else set()
            found = leftovers(allow)
            if found:
                print("\n".join(found))
                return 1
        elif cmd == "gc":
            keep = set(args[1:]) if args[:1] == ["--keep"] else set()
            print(json.dumps(cmd_gc(keep)))
        else:
            print(f"unknown command {cmd!r}", file=sys.stderr)
            return 2
    except E2EError as exc:
        print(f"e2e_instance {cmd}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
