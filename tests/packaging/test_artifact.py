"""The fleeting artifact, released and installed the way gitlab-runner installs plugins (issue 20 item 1).

1. A real OCI registry runs on this machine: the Distribution registry
   (``github.com/distribution/distribution/v3/cmd/registry``, built from the Go module proxy and
   cached in ``$FLEETING_ARTIFACT_CACHE``, default ``/var/tmp/fleeting-artifact``), on
   127.0.0.1 port 80: the runner cannot resolve a registry name with a port, and
   fleeting-artifact (go-containerregistry) speaks plain HTTP to 127.0.0.1.
2. The single-file executable (``packaging/build-single-file``; rebuilt unless ``dist/`` holds one
   of this revision) is pushed by the project's tooling, ``packaging/release-artifact``, which
   runs fleeting-artifact's own ``release``.
3. The Go module ``tests/packaging/artifact`` (build tag ``artifact``) checks the pushed index is in
   fleeting-artifact's format, installs it with fleeting-artifact's installer (what
   ``gitlab-runner fleeting install`` runs) into a temporary ``FLEETING_PLUGIN_PATH``, and
   resolves the references a runner config holds with its lookup.
4. The installed file is the executable that was pushed, and ``version`` reports the tag.
5. fleeting's own ``integration.TestProvisioning`` runs with the installed executable against
   the devcloud (the test driver's ``e2e-ubuntu`` image, real cloud-init; docs/e2e.md). It runs
   its SSH command only on instances already running right after the first Update, and a server
   that boots for seconds is still creating then; so ``TestConnectInstalled`` also drives the
   installed plugin with fleeting's provisioner until the instance runs and logs in with
   fleeting's connector and ConnectInfo's credentials (``echo 'hello world' && id -un``).

6. linux/arm64 too: ``packaging/build-arm64-emulated`` builds it under qemu-user emulation (an
   arm64 Python on arm64 wheels; ~7 min, rebuilt unless ``dist/`` holds one of this revision), the
   tooling pushes both platforms in one index, and an arm64 runner host is stood in for by a
   python-less Debian 12 arm64 root run under qemu-user: there fleeting-artifact's installer and
   lookup, compiled for arm64, pick the arm64 image; the installed file is the arm64 build;
   ``version`` says ``linux/arm64``; and fleeting's TestProvisioning (compiled for arm64) drives it
   against the devcloud.

Needs root (port 80, the test driver's instances), Go and the module proxy, the devcloud with the
test driver. Fails, never skips, without them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from debian_root import chroot, unpack_root
from project import ROOT, package_version
from sdkfind import image_named

CACHE = Path(os.environ.get("FLEETING_ARTIFACT_CACHE", "/var/tmp/fleeting-artifact"))
REGISTRY_MODULE = "github.com/distribution/distribution/v3/cmd/registry"
REGISTRY_VERSION = "v3.0.0"
ARTIFACT_MODULE = ROOT / "tests" / "packaging" / "artifact"
EXECUTABLE = ROOT / "dist" / "linux" / "amd64" / "plugin"
EXECUTABLE_ARM64 = ROOT / "dist" / "linux" / "arm64" / "plugin"
PLATFORMS = "linux/amd64,linux/arm64"
REPOSITORY = "127.0.0.1/fleeting/fleeting-plugin-openstack"
E2E_IMAGE = ("e2e-ubuntu", {"os_admin_user": "ubuntu", "os_distro": "ubuntu", "fleeting_e2e_os": "ubuntu"})


def go() -> str:
    found = shutil.which("go") or (Path("/usr/local/go/bin/go").is_file() and "/usr/local/go/bin/go")
    assert found, "Go is required (the registry, fleeting-artifact and the tests/packaging/artifact module are Go)"
    return str(found)


def registry_binary() -> Path:
    path = CACHE / f"registry-{REGISTRY_VERSION}"
    if not path.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        gobin = CACHE / f"gobin.{os.getpid()}"
        proc = subprocess.run([go(), "install", f"{REGISTRY_MODULE}@{REGISTRY_VERSION}"],
                              env=dict(os.environ, GOBIN=str(gobin), GOFLAGS="-mod=mod"),
                              capture_output=True, text=True, timeout=1800)
        assert proc.returncode == 0, f"building the registry failed:\n{proc.stderr[-3000:]}"
        (gobin / "registry").rename(path)
        shutil.rmtree(gobin, ignore_errors=True)
    return path


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Iterator[str]:
    assert os.geteuid() == 0, "the registry listens on port 80 (a name without a port): run as root"
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", 80)) != 0, "something already listens on 127.0.0.1:80"
    work = tmp_path_factory.mktemp("registry")
    config = work / "config.yml"
    config.write_text("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
                      f"    rootdirectory: {work / 'storage'}\n  delete:\n    enabled: true\n"
                      "http:\n  addr: 127.0.0.1:80\n")
    log = (work / "registry.log").open("w")
    proc = subprocess.Popen([str(registry_binary()), "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 30
        while True:
            try:
                with urllib.request.urlopen("http://127.0.0.1/v2/", timeout=2) as answer:
                    assert answer.status == 200
                    break
            except OSError:
                assert proc.poll() is None and time.time() < deadline, (work / "registry.log").read_text()[-2000:]
                time.sleep(0.3)
        yield REPOSITORY
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def current_revision() -> str:
    rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=8", "HEAD"], capture_output=True,
                         text=True, check=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, check=True).stdout.strip()
    return rev + ("-dirty" if dirty else "")


def version_fields(exe: Path) -> dict[str, str]:
    out = subprocess.run([str(exe), "version"], capture_output=True, text=True, timeout=120, check=True).stdout
    return dict(re.findall(r"^([A-Za-z/ ]+):\s*(.*)$", out, re.M))


@pytest.fixture(scope="module")
def single_file() -> Path:
    if not (EXECUTABLE.is_file() and version_fields(EXECUTABLE).get("Git revision") == current_revision()):
        proc = subprocess.run([str(ROOT / "packaging" / "build-single-file")], capture_output=True, text=True,
                              timeout=1800)
        assert proc.returncode == 0, f"build-single-file failed:\n{proc.stderr[-3000:]}"
    return EXECUTABLE


@pytest.fixture(scope="module")
def arm64_root(tmp_path_factory) -> Path:
    """A python-less Debian 12 arm64 root, run under qemu-user: the arm64 runner host here."""
    emulation = subprocess.run([str(ROOT / "packaging" / "build-arm64-emulated"), "--emulation-only"],
                               capture_output=True, text=True, timeout=900)
    assert emulation.returncode == 0, emulation.stderr[-3000:]
    root = unpack_root(tmp_path_factory.mktemp("arm64-root"), "arm64")
    probe = chroot(root, ["sh", "-c", "uname -m; command -v python3 || echo no python3"])
    assert probe.stdout.split() == ["aarch64", "no", "python3"], probe.stdout + probe.stderr
    return root


def version_fields_arm64(root: Path, exe: Path) -> dict[str, str]:
    """``version`` of an arm64 executable, run inside the arm64 root."""
    shutil.copy2(exe, root / "probe-plugin")
    proc = chroot(root, ["/probe-plugin", "version"], timeout=300)
    (root / "probe-plugin").unlink()
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    return dict(re.findall(r"^([A-Za-z/ ]+):\s*(.*)$", proc.stdout, re.M))


@pytest.fixture(scope="module")
def single_file_arm64(arm64_root) -> Path:
    fresh = EXECUTABLE_ARM64.is_file() and (
        version_fields_arm64(arm64_root, EXECUTABLE_ARM64).get("Git revision") == current_revision())
    if not fresh:
        proc = subprocess.run([str(ROOT / "packaging" / "build-arm64-emulated")], capture_output=True, text=True,
                              timeout=3600)
        assert proc.returncode == 0, f"build-arm64-emulated failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    fields = version_fields_arm64(arm64_root, EXECUTABLE_ARM64)
    assert fields["OS/Arch"] == "linux/arm64" and fields["Git revision"] == current_revision(), fields
    return EXECUTABLE_ARM64


def release(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ROOT / "packaging" / "release-artifact"), *args], capture_output=True, text=True,
                          timeout=1800, env=dict(os.environ, FLEETING_ARTIFACT_CACHE=str(CACHE)))


def go_test(run: str, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([go(), "test", "-count=1", "-v", "-tags", "artifact", "-run", run, "."],
                          cwd=ARTIFACT_MODULE, env=dict(os.environ, GOFLAGS="-mod=mod", **env),
                          capture_output=True, text=True, timeout=timeout)


def test_the_tooling_refuses_tags_the_runner_would_not_match(single_file):
    version = package_version()
    refused = release("--platforms", "linux/amd64", f"{REPOSITORY}:v{version}")
    assert refused.returncode == 2 and "without a leading v" in refused.stderr
    other = release("--platforms", "linux/amd64", f"{REPOSITORY}:9.9.9")
    assert other.returncode == 2 and "not the package version" in other.stderr
    missing = release("--platforms", "linux/arm64", "--dist", "/nonexistent", REPOSITORY)
    assert missing.returncode == 2 and "linux/arm64/plugin is missing" in missing.stderr


@pytest.fixture(scope="module")
def installed(registry, single_file, single_file_arm64, tmp_path_factory) -> Path:
    version = package_version()
    pushed = release("--platforms", PLATFORMS, f"{registry}:{version}")
    assert pushed.returncode == 0, pushed.stderr[-3000:]
    assert re.search(rf"^{re.escape(registry)}@sha256:[0-9a-f]{{64}}$", pushed.stdout, re.M), pushed.stdout
    plugins = tmp_path_factory.mktemp("fleeting-plugins")
    env = {"ARTIFACT_REPOSITORY": registry, "ARTIFACT_VERSION": version, "ARTIFACT_PLATFORMS": PLATFORMS,
           "FLEETING_PLUGIN_PATH": str(plugins)}
    done = go_test("TestArtifactFormat|TestInstallAndLookPath", env)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    path = Path(re.search(r"^INSTALLED (\S+)$", done.stdout, re.M).group(1))
    assert path == plugins / registry / version / "plugin"
    return path


def test_installed_is_the_pushed_executable_and_its_version_is_the_tag(installed, single_file):
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    assert digest(installed) == digest(single_file)
    fields = version_fields(installed)
    assert fields["Version"] == package_version() and fields["OS/Arch"] == "linux/amd64"


def test_fleetings_test_provisioning_with_the_installed_plugin(installed, devcloud, admin, group_name, tmp_path):
    cfg = e2e_plugin_config(devcloud, admin, group_name, str(tmp_path / "state"), devcloud["clouds_yaml"])
    (tmp_path / "pc.json").write_text(json.dumps(cfg))
    env = {"ARTIFACT_PLUGIN": str(installed), "ARTIFACT_PLUGIN_CONFIG": str(tmp_path / "pc.json"),
           "ARTIFACT_USERNAME": "ubuntu"}
    try:
        done = go_test("TestProvisioningInstalled|TestConnectInstalled", env, timeout=1200)
    finally:
        for server in [s for s in admin.compute.servers(all_projects=True) if (s.name or "").startswith(group_name)]:
            admin.compute.delete_server(server.id, ignore_missing=True)
    (tmp_path / "go-test.log").write_text(done.stdout + done.stderr)
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
    assert "--- PASS: TestProvisioningInstalled" in done.stdout and "--- PASS: TestConnectInstalled" in done.stdout
    # fleeting's connector logged in with ConnectInfo's credentials and ran the command
    assert re.search(r"logged in to \S+ \(10\.1\.0\.\d+\) as ubuntu: \"hello world\\nubuntu\\n\"", done.stdout), done.stdout[-3000:]
    print("\n".join(line for line in done.stdout.splitlines() if "integration.go" in line))


def e2e_plugin_config(devcloud, admin, group_name: str, state_dir: str, clouds_config: str) -> dict:
    from devcloud.fixtures import plugin_config

    image = image_named(admin, E2E_IMAGE[0])
    if image is None:  # as tests/e2e/test_e2e.py makes it
        image = admin.image.create_image(name=E2E_IMAGE[0], disk_format="raw", container_format="bare",
                                         visibility="public", data=b"\0" * 16384, os_type="linux",
                                         architecture="x86_64", fleeting_e2e="true", **E2E_IMAGE[1])
    cfg = plugin_config(devcloud, name=group_name, clouds_config=clouds_config, state_dir=state_dir)
    cfg["server_spec"]["imageRef"] = image.id
    cfg["readiness"] = {"probe": "ssh-banner"}  # running = sshd answers (TestProvisioning then logs in)
    return cfg


@pytest.fixture(scope="module")
def arm64_installed(registry, installed, single_file_arm64, arm64_root) -> Path:
    """Installed as an arm64 runner does: fleeting-artifact's installer compiled for arm64, run in
    the arm64 root (same network namespace: it reaches the registry on 127.0.0.1:80)."""
    test_binary = arm64_root / "artifact.test"
    build = subprocess.run([go(), "test", "-c", "-tags", "artifact", "-o", str(test_binary), "."], cwd=ARTIFACT_MODULE,
                           env=dict(os.environ, GOFLAGS="-mod=mod", GOARCH="arm64", CGO_ENABLED="0"),
                           capture_output=True, text=True, timeout=1800)
    assert build.returncode == 0, build.stderr[-3000:]
    version = package_version()
    done = chroot(arm64_root, ["/artifact.test", "-test.count=1", "-test.v", "-test.run", "TestInstallAndLookPath"],
                  env={"ARTIFACT_REPOSITORY": registry, "ARTIFACT_VERSION": version, "FLEETING_PLUGIN_PATH": "/plugins"},
                  timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    path = re.search(r"^INSTALLED (\S+)$", done.stdout, re.M).group(1)
    assert path == f"/plugins/{registry}/{version}/plugin"
    return arm64_root / path.lstrip("/")


def test_an_arm64_runner_installs_the_arm64_executable(arm64_installed, single_file_arm64, arm64_root):
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    assert digest(arm64_installed) == digest(single_file_arm64) != digest(EXECUTABLE)
    header = arm64_installed.read_bytes()[:20]
    assert header[:4] == b"\x7fELF" and header[18:20] == b"\xb7\x00", "not an ELF for aarch64 (e_machine 183)"
    fields = version_fields_arm64(arm64_root, arm64_installed)
    assert fields["Version"] == package_version() and fields["OS/Arch"] == "linux/arm64", fields


def test_fleetings_test_provisioning_with_the_installed_arm64_plugin(arm64_installed, arm64_root, devcloud, admin,
                                                                   group_name):
    """The arm64 plugin, under emulation in the arm64 root, driven by fleeting's TestProvisioning
    compiled for arm64, against the devcloud (its clouds.yaml copied into the root)."""
    shutil.copy2(devcloud["clouds_yaml"], arm64_root / "clouds.yaml")
    cfg = e2e_plugin_config(devcloud, admin, group_name, "/state", "/clouds.yaml")
    (arm64_root / "pc.json").write_text(json.dumps(cfg))
    plugin = "/" + str(arm64_installed.relative_to(arm64_root))
    env = {"ARTIFACT_PLUGIN": plugin, "ARTIFACT_PLUGIN_CONFIG": "/pc.json", "ARTIFACT_USERNAME": "ubuntu"}
    try:
        done = chroot(arm64_root, ["/artifact.test", "-test.count=1", "-test.v", "-test.timeout", "20m",
                                   "-test.run", "TestProvisioningInstalled|TestConnectInstalled"], env=env, timeout=1500)
    finally:
        for server in [s for s in admin.compute.servers(all_projects=True) if (s.name or "").startswith(group_name)]:
            admin.compute.delete_server(server.id, ignore_missing=True)
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
    assert "--- PASS: TestProvisioningInstalled" in done.stdout and "--- PASS: TestConnectInstalled" in done.stdout
    assert re.search(r"logged in to \S+ \(10\.1\.0\.\d+\) as ubuntu: \"hello world\\nubuntu\\n\"", done.stdout), \
        done.stdout[-3000:]
