"""The cloud-init strategy, checked against the real cloud-init.

Needs the Debian package ``cloud-init`` (``cloud-init schema`` and its Python
library). These tests fail, not skip, when it is missing: CI installs it.
"""

from __future__ import annotations

import email
import email.policy
import json
import shutil
import subprocess
import textwrap
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest
import yaml

from fleeting_openstack.plugin.types import ImageInfo
from strategy_kit import KEY, Instance

OLD_KEY = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDoperatorkey operator@laptop"
IMAGE = ImageInfo("img", "ubuntu-22.04", os_distro="ubuntu")

# Runs under the Python that runs cloud-init: parses the user_data the way
# cloud-init does, merges the cloud-config parts with cloud-init's own handler
# (honouring Merge-Type) and normalises the users like cc_users_groups.
MERGE_SCRIPT = textwrap.dedent('''
    import json, sys, tempfile
    from cloudinit import helpers, util
    from cloudinit import user_data as ud
    from cloudinit.distros import fetch, ug_util
    from cloudinit.handlers.cloud_config import CloudConfigPartHandler

    tmp = tempfile.mkdtemp()
    paths = helpers.Paths({"cloud_dir": tmp, "run_dir": tmp})
    msg = ud.UserDataProcessor(paths).process(sys.stdin.read())
    handler = CloudConfigPartHandler(paths)
    handler.cloud_buf = {}
    parts = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        payload = util.fully_decoded_payload(part)
        parts.append([part.get_content_type(), payload])
        if part.get_content_type() == "text/cloud-config":
            handler._merge_part(payload, dict(part))
    cfg = handler.cloud_buf
    default_user = {"name": "ubuntu", "lock_passwd": True, "groups": ["adm", "sudo"],
                    "sudo": ["ALL=(ALL) NOPASSWD:ALL"], "shell": "/bin/bash"}
    distro = fetch("ubuntu")("ubuntu", {"default_user": default_user}, paths)
    merged = json.loads(json.dumps(cfg, default=str))
    users, _groups = ug_util.normalize_users_groups(cfg, distro)
    print(json.dumps({"cfg": merged, "users": users, "parts": parts}, default=str))
''')


@pytest.fixture(scope="module")
def cloud_init_bin() -> str:
    path = shutil.which("cloud-init")
    assert path, "cloud-init is not installed: apt-get install --no-install-recommends cloud-init"
    return path


@pytest.fixture
def schema_check(cloud_init_bin, tmp_path):
    """Run ``cloud-init schema --config-file`` on a #cloud-config document."""

    def check(text: str) -> None:
        path = tmp_path / "user-data.yaml"
        path.write_text(text)
        proc = subprocess.run([cloud_init_bin, "schema", "--config-file", str(path)], capture_output=True, text=True)
        assert proc.returncode == 0, f"cloud-init schema rejected:\n{text}\n{proc.stdout}{proc.stderr}"
        assert "Valid cloud-config" in proc.stdout

    return check


@pytest.fixture
def cloud_init_merge(cloud_init_bin, tmp_path):
    """What the real cloud-init makes of a user_data blob: merged config and users."""
    with open(cloud_init_bin) as f:
        interpreter = f.readline()[2:].strip().split()[0]
    script = tmp_path / "merge.py"
    script.write_text(MERGE_SCRIPT)

    def merge(blob: str) -> dict:
        proc = subprocess.run([interpreter, str(script)], input=blob, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    return merge


@pytest.fixture(scope="module")
def strategy(manager):
    return manager.strategy("cloud-init")


render = Instance("runner-5", 5, IMAGE, "runner").render


def cloud_config_parts(blob: str) -> list[str]:
    msg = email.message_from_string(blob, policy=email.policy.compat32)
    return [
        p.get_payload(decode=True).decode()
        for p in msg.walk()
        if not p.is_multipart() and p.get_content_type() == "text/cloud-config"
    ]


# --------------------------------------------------------------------------
# #cloud-config and empty user_data
# --------------------------------------------------------------------------


def test_empty_user_data_gets_default_user_plus_login_user(strategy, schema_check, cloud_init_merge):
    for empty in (None, "", "  \n"):
        out = render(strategy, empty)
        assert out.startswith("#cloud-config\n")
        assert yaml.safe_load(out) == {"users": ["default", {"name": "runner", "ssh_authorized_keys": [KEY]}]}
    schema_check(out)
    users = cloud_init_merge(out)["users"]
    assert users["runner"]["ssh_authorized_keys"] == [KEY]
    assert users["ubuntu"]["default"] is True  # the image's default user is kept


OPERATOR_CONFIG = """\
#cloud-config
# operator's worker configuration
package_update: true
packages: [docker.io, jq]
users:
  - default
  - name: bob
    groups: [docker]
    shell: /bin/bash
write_files:
  - path: /etc/docker/daemon.json
    permissions: '0644'
    content: |
      {"log-driver": "journald"}
runcmd:
  - [systemctl, enable, --now, docker]
  - echo "${HOME}" > /tmp/home
"""


def test_operator_cloud_config_is_preserved(strategy, schema_check, cloud_init_merge):
    out = render(strategy, OPERATOR_CONFIG)
    before, after = yaml.safe_load(OPERATOR_CONFIG), yaml.safe_load(out)
    assert after.pop("users") == before.pop("users") + [{"name": "runner", "ssh_authorized_keys": [KEY]}]
    assert after == before  # everything else exactly as the operator wrote it
    assert list(yaml.safe_load(out)) == list(yaml.safe_load(OPERATOR_CONFIG))  # key order too
    assert '  content: |\n    {"log-driver": "journald"}\n' in out  # multi-line strings stay blocks
    schema_check(out)
    users = cloud_init_merge(out)["users"]
    assert set(users) == {"ubuntu", "bob", "runner"}
    assert users["bob"]["groups"] == ["docker"]


def test_existing_entry_of_the_login_user_gets_the_key_appended(strategy, schema_check, cloud_init_merge):
    text = f"#cloud-config\nusers:\n- default\n- name: runner\n  groups: docker\n  ssh_authorized_keys: ['{OLD_KEY}']\n"
    out = render(strategy, text)
    entry = yaml.safe_load(out)["users"][1]
    assert entry == {"name": "runner", "groups": "docker", "ssh_authorized_keys": [OLD_KEY, KEY]}
    assert render(strategy, out) == out  # injecting twice does not duplicate the key
    schema_check(out)
    assert cloud_init_merge(out)["users"]["runner"]["ssh_authorized_keys"] == [OLD_KEY, KEY]


def test_login_user_that_is_the_default_user(strategy, schema_check, cloud_init_merge):
    out = render(strategy, "#cloud-config\npackages: [git]\n", username="ubuntu")
    schema_check(out)
    users = cloud_init_merge(out)["users"]
    assert set(users) == {"ubuntu"}
    assert users["ubuntu"]["ssh_authorized_keys"] == [KEY]
    assert users["ubuntu"]["default"] is True and users["ubuntu"]["sudo"] == ["ALL=(ALL) NOPASSWD:ALL"]


def test_operator_without_default_user_is_respected(strategy, cloud_init_merge):
    out = render(strategy, "#cloud-config\nusers:\n- name: bob\n")
    assert yaml.safe_load(out)["users"] == [{"name": "bob"}, {"name": "runner", "ssh_authorized_keys": [KEY]}]
    assert set(cloud_init_merge(out)["users"]) == {"bob", "runner"}


@pytest.mark.parametrize(
    "users, expected",
    [
        ("default, bob", ["default", "bob", {"name": "runner", "ssh_authorized_keys": [KEY]}]),
        ({"default": True, "runner": {"groups": "docker"}}, {"default": True, "runner": {"groups": "docker", "ssh_authorized_keys": [KEY]}}),
        ({"default": True}, {"default": True, "runner": {"ssh_authorized_keys": [KEY]}}),
    ],
)
def test_other_users_forms(strategy, cloud_init_merge, users, expected):
    out = render(strategy, "#cloud-config\n" + yaml.safe_dump({"users": users}))
    assert yaml.safe_load(out)["users"] == expected
    assert cloud_init_merge(out)["users"]["runner"]["ssh_authorized_keys"] == [KEY]


def test_templating_in_cloud_config(strategy, schema_check):
    out = render(strategy, "#cloud-config\nhostname: {{fleeting.instance_name}}\nruncmd:\n- echo ${HOME} {{ fleeting.group }}\n")
    cfg = yaml.safe_load(out)
    assert cfg["hostname"] == "runner-5" and cfg["runcmd"] == ["echo ${HOME} ci"]
    schema_check(out)


def test_password_login(strategy, schema_check, cloud_init_merge):
    out = render(strategy, None, key=None, password="Pa55-word")
    cfg = yaml.safe_load(out)
    assert cfg["users"][1] == {"name": "runner", "plain_text_passwd": "Pa55-word", "lock_passwd": False}
    assert cfg["ssh_pwauth"] is True
    schema_check(out)
    assert cloud_init_merge(out)["users"]["runner"]["lock_passwd"] is False


def test_static_keypair_leaves_user_data_alone(strategy):
    assert render(strategy, OPERATOR_CONFIG, key=None) == OPERATOR_CONFIG
    assert render(strategy, None, key=None) == "#cloud-config\n"


# --------------------------------------------------------------------------
# Scripts, Jinja and MIME multipart
# --------------------------------------------------------------------------

SCRIPT = '#!/bin/bash\nset -eu\necho "node ${HOSTNAME:-x}" > /etc/motd\n# {{ not.ours }}\n'


def test_shell_script_is_wrapped_untouched(strategy, schema_check, cloud_init_merge):
    out = render(strategy, SCRIPT)
    merged = cloud_init_merge(out)
    assert ["text/x-shellscript", SCRIPT] in merged["parts"]  # byte for byte
    assert merged["users"]["runner"]["ssh_authorized_keys"] == [KEY]
    assert merged["users"]["ubuntu"]["default"] is True
    (ours,) = cloud_config_parts(out)
    schema_check(ours)


def test_jinja_template_is_wrapped_untouched(strategy, cloud_init_merge):
    text = "## template: jinja\n#cloud-config\nruncmd:\n- echo {{ v1.local_hostname }}\n"
    out = render(strategy, text)
    parts = {p.get_content_type(): p.get_payload(decode=True).decode() for p in email.message_from_string(out).walk() if not p.is_multipart()}
    assert parts["text/jinja2"] == text
    assert "ssh_authorized_keys" in parts["text/cloud-config"]


def operator_multipart(*parts: tuple[str, str]) -> str:
    outer = MIMEMultipart()
    for subtype, text in parts:
        outer.attach(MIMEText(text, subtype))
    return outer.as_string()


def test_multipart_gets_an_appending_cloud_config_part(strategy, schema_check, cloud_init_merge):
    theirs = operator_multipart(("cloud-config", OPERATOR_CONFIG), ("x-shellscript", SCRIPT))
    out = render(strategy, theirs)
    merged = cloud_init_merge(out)
    assert set(merged["users"]) == {"ubuntu", "bob", "runner"}  # appended, not replaced
    assert merged["users"]["runner"]["ssh_authorized_keys"] == [KEY]
    assert merged["cfg"]["packages"] == ["docker.io", "jq"]
    assert ["text/x-shellscript", SCRIPT] in merged["parts"]
    theirs_part, ours = cloud_config_parts(out)
    assert theirs_part == OPERATOR_CONFIG  # the operator's part is untouched
    assert "default" not in yaml.safe_load(ours)["users"]  # the operator's list already has it
    schema_check(theirs_part)
    schema_check(ours)


def test_merge_type_header_is_what_keeps_the_operators_users(strategy, cloud_init_merge):
    """Control: without our Merge-Type, cloud-init would replace the users list."""
    theirs = operator_multipart(("cloud-config", OPERATOR_CONFIG))
    out = render(strategy, theirs).replace("Merge-Type: list(append)+dict(no_replace,recurse_list)+str()\n", "")
    assert "bob" not in cloud_init_merge(out)["users"]


def test_multipart_part_that_declares_the_login_user_gets_the_key(strategy, schema_check, cloud_init_merge):
    config = f"#cloud-config\nusers:\n- default\n- name: runner\n  ssh_authorized_keys: ['{OLD_KEY}']\n"
    out = render(strategy, operator_multipart(("cloud-config", config), ("x-shellscript", SCRIPT)))
    (only,) = cloud_config_parts(out)  # no extra part: the key went into the operator's
    schema_check(only)
    assert cloud_init_merge(out)["users"]["runner"]["ssh_authorized_keys"] == [OLD_KEY, KEY]


def test_multipart_without_cloud_config_gets_default_user(strategy, cloud_init_merge):
    out = render(strategy, operator_multipart(("x-shellscript", SCRIPT)))
    users = cloud_init_merge(out)["users"]
    assert set(users) == {"ubuntu", "runner"}


# --------------------------------------------------------------------------
# Init checks and defaults
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "user_data, fragment",
    [
        ("#cloud-config\npackages: [a\nusers: x\n", "invalid YAML at line"),
        ("#cloud-config\n- just\n- a list\n", "must be a mapping"),
        ("#cloud-config\nusers: 5\n", "'users' must be"),
        ("hello world\n", "cloud-init does not recognise"),
        ("#cloud-config\nfinal_message: booted\n", "final_message"),
        (operator_multipart(("cloud-config", "#cloud-config\nusers: [a\n")), "MIME part 1"),
    ],
)
def test_check_reports_unusable_user_data(strategy, user_data, fragment):
    errors = strategy.check(user_data)
    assert errors and any(fragment in e for e in errors), errors


@pytest.mark.parametrize(
    "user_data",
    [None, "", OPERATOR_CONFIG, SCRIPT, "#cloud-config\nfinal_message: 'Cloud-init v. {{version}} finished at {{timestamp}}. ok'\n",
     operator_multipart(("cloud-config", OPERATOR_CONFIG), ("x-shellscript", SCRIPT)), "#cloud-boothook\n#!/bin/sh\necho hi\n"],
)
def test_check_accepts_usable_user_data(strategy, user_data):
    assert strategy.check(user_data) == []


def test_check_rejects_unknown_options_and_bad_key_type(manager):
    errors = manager.strategy("cloud-init").check(None, {"key_typ": "rsa", "key_type": "dsa"})
    assert any("'key_typ' is not known" in e and "key_type" in e for e in errors)
    assert any("'key_type' must be one of" in e for e in errors)
    assert manager.strategy("cloud-init", {"key_type": "rsa"}).check(None) == []


def test_default_username(strategy):
    assert strategy.default_username(ImageInfo("i", os_admin_user="admin", os_distro="ubuntu")) == "admin"
    assert strategy.default_username(ImageInfo("i", os_distro="debian")) == "debian"
    assert strategy.default_username(ImageInfo("i", os_distro="rhel")) == "cloud-user"
    assert strategy.default_username(ImageInfo("i", os_distro="plan9")) is None
    assert strategy.wants_generated_key is True


def test_the_schema_fixture_can_fail(schema_check):
    with pytest.raises(AssertionError, match="users"):
        schema_check("#cloud-config\nusers: 5\n")


def test_malformed_mime_is_a_config_error_but_a_missing_close_boundary_is_tolerated(strategy, cloud_init_merge):
    no_start = 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n\nno boundary here\n'
    assert any("malformed MIME" in e for e in strategy.check(no_start))
    unclosed = 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/x-shellscript\n\n#!/bin/sh\necho hi\n'
    assert strategy.check(unclosed) == []
    assert cloud_init_merge(render(strategy, unclosed))["users"]["runner"]["ssh_authorized_keys"] == [KEY]


def test_jinja_template_declaring_users_gets_no_extra_default(strategy):
    text = "## template: jinja\n#cloud-config\nusers:\n- name: {{ v1.local_hostname }}\n"
    ours = cloud_config_parts(render(strategy, text))[-1]
    assert yaml.safe_load(ours)["users"] == [{"name": "runner", "ssh_authorized_keys": [KEY]}]
