"""An operator's ``final_message`` as the real cloud-init prints it (issue 20 item 6).

The user_data the cloud-init strategy renders for an instance goes through cloud-init's own
user-data processing and part merging; cloud-init's final-message module (cc_final_message,
Debian's cloud-init) then prints the merged ``final_message`` with its own values — real uptime,
time, version and a real datasource object. Readiness must take exactly that line as the boot
sign, and cloud-init's default line must not count while the operator set their own.

Needs the Debian package ``cloud-init``; fails, never skips, without it.
"""

from __future__ import annotations

import json
import subprocess
import textwrap

import pytest

from cloud_init_samples import operator_multipart, render, strategy  # noqa: F401 - strategy: the fixture
from fleeting_openstack.plugin.types import Observation, ReadinessState
from strategy_kit import load_manager

# Under cloud-init's Python: merge the user_data as cloud-init does, then run cc_final_message.handle
# with a real NoCloud datasource; what it prints on stderr is what reaches the console.
FINAL_SCRIPT = textwrap.dedent('''
    import io, json, sys, tempfile, contextlib, logging
    from cloudinit import helpers, util
    from cloudinit import user_data as ud
    from cloudinit.cloud import Cloud
    from cloudinit.config import cc_final_message
    from cloudinit.handlers.cloud_config import CloudConfigPartHandler
    from cloudinit.sources.DataSourceNoCloud import DataSourceNoCloud

    tmp = tempfile.mkdtemp()
    paths = helpers.Paths({"cloud_dir": tmp, "run_dir": tmp})
    msg = ud.UserDataProcessor(paths).process(sys.stdin.read())
    handler = CloudConfigPartHandler(paths)
    handler.cloud_buf = {}
    for part in msg.walk():
        if not part.is_multipart() and part.get_content_type() == "text/cloud-config":
            handler._merge_part(util.fully_decoded_payload(part), dict(part))
    cfg = handler.cloud_buf or {}
    ds = DataSourceNoCloud(sys_cfg={}, distro=None, paths=paths)
    ds.seed = "/dev/vdb"
    cloud = Cloud(ds, paths, {}, None, None)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        cc_final_message.handle("final_message", cfg, cloud, logging.getLogger("x"), [])
    print(json.dumps({"final_message": cfg.get("final_message"), "printed": err.getvalue()}))
''')


def cloud_init_prints(user_data: str) -> dict:
    proc = subprocess.run(["/usr/bin/python3", "-c", FINAL_SCRIPT], input=user_data, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def observe(console: str) -> Observation:
    return Observation(status="ACTIVE", age_seconds=30, boot_time_seconds=600, console_tail=console)


@pytest.mark.parametrize("operator", [
    "#cloud-config\nfinal_message: 'fleeting ready: up $UPTIME s, cloud-init $VERSION, $DATASOURCE at ${TIMESTAMP}'\n",
    "#cloud-config\nfinal_message: |\n  {{fleeting.instance_name}} is up\n  after $uptime seconds ($datasource)\n",
    operator_multipart(("cloud-config", "#cloud-config\nfinal_message: 'ci worker $VERSION done'\n"),
                       ("x-shellscript", "#!/bin/sh\necho hi\n")),
])
def test_readiness_takes_the_line_cloud_init_prints(strategy, operator):
    assert strategy.check(operator) == []
    rendered = render(strategy, operator)  # what Nova gets: templated, our login part merged in
    done = cloud_init_prints(rendered)
    assert done["final_message"], done  # the operator's message survived cloud-init's merge
    printed = done["printed"]
    assert printed.strip() and "Cloud-init v." not in printed, printed
    s = load_manager().strategy("cloud-init", {}, operator)
    boot = "[  OK  ] Started ssh.service\n"
    assert s.readiness(observe(boot)).state is ReadinessState.WAITING
    console = boot + "".join(f"[   31.5] cloud-init[911]: {line}\n" for line in printed.splitlines())
    result = s.readiness(observe(console))
    assert result.state is ReadinessState.READY, (result, printed)


def test_the_default_line_is_what_readiness_takes_without_one(strategy):
    printed = cloud_init_prints(render(strategy, "#cloud-config\nhostname: x\n"))["printed"]
    assert printed.startswith("Cloud-init v. ")
    s = load_manager().strategy("cloud-init", {}, "#cloud-config\nhostname: x\n")
    assert s.readiness(observe(printed)).state is ReadinessState.READY
