"""Pieces shared by the built-in strategies: console markers and options."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fleeting_openstack.plugin import KEY_TYPES, Observation, ReadinessResult, hookimpl

# --------------------------------------------------------------------------
# Console
# --------------------------------------------------------------------------

# CSI (colours, cursor moves), charset selection, keypad modes.
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>78cDEHM]")


def console_lines(text: str) -> list[str]:
    """Lines of a serial console log: ANSI escapes removed, any of \\r\\n, \\r, \\n ends a line."""
    return re.split(r"\r\n|\r|\n", _ANSI.sub("", text))


# "Cloud-init v. 23.4.4-0ubuntu0~22.04.1 finished at Wed, 10 Jan 2024 ... Datasource
# DataSourceOpenStackLocal [net,ver=2].  Up 25.36 seconds" anywhere in a line, so that
# "[   25.123456] cloud-init[1234]: " and "ci-info: " style prefixes do not matter.
CLOUD_INIT_FINISHED = re.compile(
    r"Cloud-init v\. (?P<version>\S+) finished at (?P<when>.*?)\."
    r"(?: Datasource (?P<datasource>\S+?)(?:\.| \[))?"
)
CLOUD_INIT_RUNNING = re.compile(r"Cloud-init v\. (?P<version>\S+) running '(?P<stage>[^']+)'")
# util.logexc(LOG, "Running module %s (%s) failed", ...) and cc_scripts_user's warning.
CLOUD_INIT_MODULE_FAILED = re.compile(
    r"Running module (?P<m1>[\w-]+) \(.*\) failed|Failed to run module (?P<m2>[\w-]+)"
)
# "SSH host key: SHA256:... (ED25519)" as printed by /etc/issue on Flatcar / Fedora CoreOS.
SSH_HOST_KEY = re.compile(r"SSH host key: SHA256:\S+ \((?P<type>[A-Z0-9-]+)\)")
# agetty's prompt: "<hostname> login: " at the start of a line (maybe an autologin).
# ("Last login: ..." after a console login is not a prompt.)
LOGIN_PROMPT = re.compile(r"^(?!Last login:)(?P<host>[A-Za-z0-9][A-Za-z0-9._-]*) login: ?")
# Boot dropped to an emergency shell (initrd/Ignition failures, broken fstab ...).
EMERGENCY = re.compile(r"Entering emergency mode|You are in emergency mode")
IGNITION_FAILED = re.compile(r"Ignition failed|Failed to start ignition-\S+")


def _not_ready_yet(obs: Observation, what: str) -> ReadinessResult:
    if obs.boot_time_seconds is None:
        return ReadinessResult.ready(f"boot_time is not set; not waiting for {what}")
    if obs.console_tail is None:
        return ReadinessResult.waiting(f"console log not available yet; waiting for {what}")
    return ReadinessResult.waiting(f"{what} not seen yet (age {obs.age_seconds:.0f}s)")


def cloud_init_readiness(obs: Observation) -> ReadinessResult:
    """READY at cloud-init's "finished" line, FAILED if a module failed or no datasource."""
    failed: list[str] = []
    finished = None
    emergency = False
    for line in console_lines(obs.console_tail or ""):
        m = CLOUD_INIT_MODULE_FAILED.search(line)
        if m:
            module = m.group("m1") or m.group("m2")
            if module not in failed:
                failed.append(module)
        if EMERGENCY.search(line):
            emergency = True
        m = CLOUD_INIT_FINISHED.search(line)
        if m:
            finished = m
    if emergency:
        return ReadinessResult.failed("the boot dropped to emergency mode")
    if failed:
        return ReadinessResult.failed("cloud-init module(s) failed: " + ", ".join(failed))
    if finished is not None:
        ds = finished.group("datasource") or "unknown datasource"
        if ds == "DataSourceNone":
            return ReadinessResult.failed(
                f"cloud-init {finished.group('version')} finished without a datasource "
                "(DataSourceNone): user_data and the login key were not applied"
            )
        return ReadinessResult.ready(f"cloud-init {finished.group('version')} finished ({ds})")
    return _not_ready_yet(obs, "cloud-init's 'finished' line")


def login_prompt_readiness(obs: Observation) -> ReadinessResult:
    """READY at an "SSH host key: ..." line followed by a "<hostname> login:" prompt."""
    host_key_seen = False
    for line in console_lines(obs.console_tail or ""):
        if EMERGENCY.search(line):
            return ReadinessResult.failed("the boot dropped to emergency mode")
        if IGNITION_FAILED.search(line):
            return ReadinessResult.failed("Ignition failed: " + line.strip()[:200])
        if SSH_HOST_KEY.search(line):
            host_key_seen = True
            continue
        m = LOGIN_PROMPT.match(line)
        if m and host_key_seen:
            return ReadinessResult.ready(f"SSH host keys and login prompt of {m.group('host')} seen")
    return _not_ready_yet(obs, "SSH host keys followed by a login prompt")


# --------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------


def option_errors(options: Mapping[str, Any], known: Mapping[str, str], strategy: str) -> list[str]:
    """Unknown keys (typos must not pass silently) and the common ``key_type``."""
    errors = []
    for key in options:
        if key not in known:
            listed = ", ".join(sorted(known)) or "none"
            errors.append(f"option {key!r} is not known to strategy {strategy!r} (known: {listed})")
    if "key_type" in known and "key_type" in options and options["key_type"] not in KEY_TYPES:
        errors.append(f"option 'key_type' must be one of {', '.join(KEY_TYPES)}, got {options['key_type']!r}")
    return errors


def first_line(text: str) -> str:
    return text.lstrip().split("\n", 1)[0].rstrip("\r")


class GeneratedKeyStrategy:
    """Base of the built-ins that put a generated key into the instance."""

    name = ""
    #: option -> one-line description (unknown options are errors)
    options_help: Mapping[str, str] = {"key_type": "'ed25519' (default) or 'rsa'"}

    @hookimpl
    def fleeting_key_type(self, options: Mapping[str, Any]) -> str | None:
        return options.get("key_type")

    @hookimpl
    def fleeting_wants_generated_key(self) -> bool:
        return True

    def known_option_errors(self, options: Mapping[str, Any]) -> list[str]:
        return option_errors(options, self.options_help, self.name)
