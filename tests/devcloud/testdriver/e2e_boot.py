"""PID 1 of one fleeting E2E instance: "boots" the instance root.

Started by e2e_instance.py as

    ip netns exec fleeting-e2e-<uuid> unshare --mount --pid --fork --uts --ipc \
        --propagation private --kill-child=SIGKILL -- python3 -P e2e_boot.py <dir>

so it runs in the instance's network namespace (only the instance's fixed
IP(s), no default route) and in its own mount, PID, UTS and IPC namespaces:
every mount below disappears with this process, and killing it kills every
process of the instance.  It

1. mounts the instance's view: host /usr read-only on <root>/usr, proc, a
   read-only sysfs, a tmpfs /dev with null/zero/full/random/urandom/tty and a
   private devpts, tmpfs on <root>/run; the host's /run is hidden as well (so
   Ignition cannot reach the host's journald);
2. applies the server's user_data the way the image would:
   - "ubuntu" images: real cloud-init (Debian's, from the bind-mounted /usr)
     runs chrooted in the root with the NoCloud datasource seeded from the
     Nova metadata (instance-id, hostname, the keypair's public key) and the
     user_data: stages init, config, final, with the image's module list;
   - "flatcar" images: the real ignition binary from Debian's ignition
     package, stages fetch-offline and files, --platform=file --root=<root>;
     then what Flatcar's units do: the Nova keypair key into
     ~core/.ssh/authorized_keys.d/coreos-metadata, update-ssh-keys (merge
     authorized_keys.d/* into authorized_keys), sshd-keygen;
3. starts sshd (Debian's openssh-server, chrooted in the root, UsePAM with
   pam_unix) on port 22 of the namespace;
4. writes the serial console (console.log) in the shape these images print:
   cloud-init's own output including "Cloud-init v. ... finished at ...";
   Flatcar's Ignition lines, /etc/issue with "SSH host key: SHA256:... (TYPE)"
   lines (the real host keys' fingerprints) and "<hostname> login: ";
5. reaps children forever.

Faults (spec["faults"], from image properties): boot_delay (seconds before
anything is printed), never_ready (no readiness marker: cloud-init's final
stage does not run / Flatcar prints no login prompt; sshd still runs).
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

IGNITION = "/usr/lib/dracut/modules.d/30ignition/ignition"
CHROOT_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
              "LANG": "C.UTF-8", "TERM": "vt220"}

idir = Path(sys.argv[1])
spec = json.loads((idir / "spec.json").read_text())
root = idir / "root"
R = str(root)
T0 = time.monotonic()
# unbuffered: a login prompt has no newline and must be visible at once
console = io.TextIOWrapper(open(idir / "console.log", "ab", buffering=0), encoding="utf-8", errors="replace",
                           write_through=True)
children: list[subprocess.Popen] = []


def uptime() -> float:
    return time.monotonic() - T0 + 1.2


def klog(text: str) -> None:
    console.write(f"[{uptime():12.6f}] {text}\n")


def sh(*cmd: str, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("check", True)
    return subprocess.run(list(cmd), **kw)


def mount(*args: str) -> None:
    sh("mount", *args)


def mknod(name: str, major: int, minor: int) -> None:
    path = f"{R}/dev/{name}"
    os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(major, minor))
    os.chmod(path, 0o666)


def setup_mounts() -> None:
    mount("-t", "tmpfs", "-o", "mode=0755,size=16m,nosuid,nodev", "tmpfs", "/run")
    mount("--bind", "/usr", f"{R}/usr")
    mount("-o", "remount,bind,ro,nosuid,nodev", f"{R}/usr")
    mount("-t", "proc", "-o", "nosuid,nodev,noexec", "proc", f"{R}/proc")
    mount("-t", "sysfs", "-o", "ro,nosuid,nodev,noexec", "sysfs", f"{R}/sys")
    mount("-t", "tmpfs", "-o", "mode=0755,size=1m,nosuid", "tmpfs", f"{R}/dev")
    for name, major, minor in (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8),
                               ("urandom", 1, 9), ("tty", 5, 0)):
        mknod(name, major, minor)
    os.mknod(f"{R}/dev/console", stat.S_IFCHR | 0o600, os.makedev(1, 3))  # writes vanish
    os.mkdir(f"{R}/dev/pts")
    mount("-t", "devpts", "-o", "newinstance,ptmxmode=0666,mode=0620,gid=5", "devpts", f"{R}/dev/pts")
    os.symlink("pts/ptmx", f"{R}/dev/ptmx")
    os.symlink("/proc/self/fd", f"{R}/dev/fd")
    for i, name in enumerate(("stdin", "stdout", "stderr")):
        os.symlink(f"/proc/self/fd/{i}", f"{R}/dev/{name}")
    os.mkdir(f"{R}/dev/shm")
    mount("-t", "tmpfs", "-o", "mode=1777,size=16m,nosuid,nodev", "tmpfs", f"{R}/dev/shm")
    mount("-t", "tmpfs", "-o", "mode=0755,size=16m,nosuid,nodev", "tmpfs", f"{R}/run")
    for d in ("sshd", "lock"):
        os.mkdir(f"{R}/run/{d}", 0o755)


def chroot(*cmd: str, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("env", CHROOT_ENV)
    kw.setdefault("cwd", "/")
    return sh("chroot", R, *cmd, **kw)


def kernel_banner() -> None:
    release = os.uname().release
    klog(f"Linux version {release} (fleeting e2e test driver) #1 SMP")
    klog(f"Command line: root=LABEL=cloudimg-rootfs console=ttyS0 ds=nocloud")
    klog(f"Hypervisor detected: fleeting-e2e (network namespace {spec.get('netns', '')})")
    for i, nic in enumerate(spec.get("nics_v4", [])):
        klog(f"virtio_net virtio{i} eth{i}: {nic.get('mac', '')}")


def start_sshd() -> None:
    log = open(idir / "sshd.log", "ab")
    children.append(subprocess.Popen(["chroot", R, "/usr/sbin/sshd", "-D", "-e"], env=CHROOT_ENV, cwd="/",
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT))


def host_key_fingerprints() -> list[tuple[str, str, str]]:
    out = []
    for kind in ("ecdsa", "ed25519", "rsa"):
        pub = root / f"etc/ssh/ssh_host_{kind}_key.pub"
        if pub.exists():
            line = sh("ssh-keygen", "-lf", str(pub), capture_output=True, text=True).stdout.split()
            # "256 SHA256:... comment (ED25519)"
            out.append((line[0], line[1], line[-1].strip("()")))
    return out


# -- ubuntu: cloud-init ---------------------------------------------------------

def boot_ubuntu(hostname: str, never_ready: bool) -> None:
    seed = root / "var/lib/cloud/seed/nocloud"
    meta = {"instance-id": spec["uuid"], "local-hostname": hostname}
    if spec.get("public_keys"):
        meta["public-keys"] = list(spec["public_keys"].values())
    (seed / "meta-data").write_text(json.dumps(meta, indent=1) + "\n")
    (seed / "user-data").write_bytes((spec.get("user_data") or "").encode())
    klog("systemd[1]: Starting cloud-init.service - Initial cloud-init job (metadata service crawler)...")
    out = {"stdout": console, "stderr": console, "check": False}
    rc = chroot("/usr/bin/cloud-init", "init", **out).returncode
    console.write("[  OK  ] Finished cloud-init.service - Initial cloud-init job (metadata service crawler).\n"
                  if rc == 0 else "[FAILED] Failed to start cloud-init.service - Initial cloud-init job.\n")
    start_sshd()
    console.write("[  OK  ] Started ssh.service - OpenBSD Secure Shell server.\n")
    chroot("/usr/bin/cloud-init", "modules", "--mode", "config", **out)
    console.write(f"\nUbuntu 22.04.4 LTS {hostname} ttyS0\n\n{hostname} login: ")
    if never_ready:
        return
    chroot("/usr/bin/cloud-init", "modules", "--mode", "final", **out)


# -- flatcar: Ignition ------------------------------------------------------------

_LEVEL = re.compile(r"^(?:INFO|DEBUG|WARNING|ERROR|CRITICAL|NOTICE)\s*:\s?")


def run_ignition(stage: str, config: Path) -> bool:
    # Debian builds Ignition with SELinux relabelling; the instance has no
    # SELinux policy, so setfiles is a no-op here (relabelling is not emulated)
    shim = idir / "shim"
    if not shim.exists():
        shim.mkdir()
        (shim / "setfiles").write_text("#!/bin/sh\n# fleeting e2e: no SELinux policy in this image\ncat >/dev/null\n")
        os.chmod(shim / "setfiles", 0o755)
    env = {"PATH": f"{shim}:{CHROOT_ENV['PATH']}", "IGNITION_CONFIG_FILE": str(config),
           "TMPDIR": str(idir / "tmp"), "HOME": "/root"}
    (idir / "tmp").mkdir(exist_ok=True)
    proc = subprocess.Popen(
        [IGNITION, "--platform=file", f"--stage={stage}", f"--root={R}", "--log-to-stdout",
         f"--config-cache={idir / 'ignition.json'}", f"--state-file={idir / 'ignition.state'}",
         f"--neednet={idir / 'ignition.neednet'}"],
        env=env, cwd=str(idir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        line = line.rstrip("\n")
        if "systemd journal" in line or not line.strip():
            continue
        # Ignition logs paths under --root as the real initrd shows /sysroot/...
        klog(f"ignition[{proc.pid}]: " + _LEVEL.sub("", line).replace(R, "/sysroot"))
    return proc.wait() == 0


def merge_ssh_keys() -> None:
    """Flatcar's update-ssh-keys: authorized_keys = cat authorized_keys.d/*."""
    for entry in (root / "etc/passwd").read_text().splitlines():
        fields = entry.split(":")
        if len(fields) < 7:
            continue
        uid, gid, home = int(fields[2]), int(fields[3]), fields[5]
        keydir = root / home.lstrip("/") / ".ssh/authorized_keys.d"
        if not home.startswith(("/home/", "/root")) or not keydir.is_dir():
            continue
        keys = "".join(p.read_text().rstrip("\n") + "\n" for p in sorted(keydir.iterdir()) if p.is_file())
        target = keydir.parent / "authorized_keys"
        target.write_text(keys)
        os.chown(target, uid, gid)
        os.chmod(target, 0o600)


def metadata_keys() -> None:
    """coreos-metadata-sshkeys@core: the Nova keypair's key for core."""
    if not spec.get("public_keys"):
        return
    keydir = root / "home/core/.ssh/authorized_keys.d"
    keydir.mkdir(parents=True, exist_ok=True)
    for d in (keydir.parent, keydir):
        os.chown(d, 500, 500)
        os.chmod(d, 0o700)
    f = keydir / "coreos-metadata"
    f.write_text("".join(k.strip() + "\n" for k in spec["public_keys"].values()))
    os.chown(f, 500, 500)
    os.chmod(f, 0o600)


def boot_flatcar(hostname: str, never_ready: bool) -> None:
    user_data = spec.get("user_data") or ""
    config = idir / "config.ign"
    if user_data.lstrip().startswith("{"):
        config.write_text(user_data)
        ok = run_ignition("fetch-offline", config) and run_ignition("files", config)
        if not ok:
            console.write("[FAILED] Failed to start ignition-files.service - Ignition (files).\n"
                          "You are in emergency mode. After logging in, type \"journalctl -xb\" to view\n"
                          "system logs, \"systemctl reboot\" to reboot, \"systemctl default\" or \"exit\"\n"
                          "to boot into default mode.\n")
            return
        console.write("[  OK  ] Finished ignition-files.service - Ignition (files).\n")
    else:
        klog("ignition[1]: no Ignition config provided (user_data is not Ignition JSON)")
    metadata_keys()
    merge_ssh_keys()
    chroot("/usr/bin/ssh-keygen", "-A", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    console.write("[  OK  ] Started sshd-keygen.service - Generate sshd host keys.\n")
    start_sshd()
    console.write("[  OK  ] Started sshd.socket - OpenSSH Server Socket.\n"
                  "[  OK  ] Reached target multi-user.target - Multi-User System.\n")
    issue = [f"\nThis is {hostname} (Linux x86_64 {os.uname().release}) {time.strftime('%H:%M:%S')}"]
    issue += [f"SSH host key: {fp} ({kind})" for _, fp, kind in host_key_fingerprints()]
    issue += [f"eth{i}: {n['ip']}" for i, n in enumerate(spec.get("nics_v4", []))]
    console.write("\n".join(issue) + "\n\n")
    if not never_ready:
        console.write(f"{hostname} login: ")


# -- PID 1 ----------------------------------------------------------------------------

def shutdown(signum, frame):  # noqa: ARG001
    """SIGTERM: end every other process of this PID namespace, then PID 1."""
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os._exit(0)


def main() -> None:
    signal.signal(signal.SIGTERM, shutdown)
    faults = spec.get("faults", {})
    hostname = (spec.get("hostname") or "localhost")[:63]
    never_ready = bool(faults.get("never_ready"))
    try:
        setup_mounts()
        socket.sethostname(hostname)
        kernel_banner()
        delay = float(faults.get("boot_delay") or 0)
        if delay > 0:
            klog(f"fleeting-e2e: boot delayed by {delay:g}s (image property fleeting_e2e_boot_delay)")
            time.sleep(delay)
        if spec.get("family") == "flatcar":
            boot_flatcar(hostname, never_ready)
        else:
            boot_ubuntu(hostname, never_ready)
    except Exception as exc:  # noqa: BLE001 - the console shows it, PID 1 keeps running
        klog(f"fleeting-e2e: boot failed: {exc!r}")
    (idir / "booted").write_text(f"{uptime():.2f}\n")
    while True:  # reap whatever ends, forever
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            time.sleep(1)


if __name__ == "__main__":
    main()
