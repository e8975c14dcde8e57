"""Pieces shared by the built-in strategies: console markers and options."""

from __future__ import annotations

import re
from collections.abc import Mapping

from fleeting_openstack.plugin import KEY_TYPES, Observation, ReadinessResult, StrategyOptions, hookimpl

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


# cloud-init's final-message module renders the operator's ``final_message`` with these values
# (cc_final_message: lower- and upper-case keys; templater.BASIC_MATCHER finds ``$name``/``${name}``).
FINAL_MESSAGE_VALUES = {
    "uptime": r"[0-9]+(?:\.[0-9]+)?",
    "timestamp": r"\S.*?",  # util.time_rfc2822(): "Wed, 10 Jan 2024 12:00:00 +0000"
    "version": r"\S+",
    "datasource": r"\S+?(?: (?:\[[^\]]*\])+)?",  # str(datasource): "DataSourceNoCloud [seed=..][dsmode=net]"
}
_BASIC = re.compile(r"\$\{([A-Za-z0-9_.]+)\}|\$([A-Za-z0-9_.]+)")
_JINJA = re.compile(r"\{\{-?\s*([A-Za-z0-9_.]+)\s*-?\}\}")
_TEMPLATE_HEADER = re.compile(r"^##\s*template:\s*(\w+)\s*$", re.I)
_FLEETING_PLACEHOLDER = re.compile(r"\{\{\s*fleeting\.[A-Za-z_]+\s*\}\}")
#: least fixed text a final_message line needs for readiness to recognise it on the console
MIN_FIXED_TEXT = 4


class FinalMessage:
    """The operator's cloud-init ``final_message`` as the line readiness waits for.

    ``pattern`` matches the rendered line (anywhere in a console line: any prefix);
    ``errors`` says why cloud-init would print nothing (an unknown ``$name``, ``$NAME.``,
    which cloud-init reads as a sub-key) or the line cannot be recognised."""

    def __init__(self, message: str) -> None:
        self.message = message
        self.errors: list[str] = []
        self.pattern: re.Pattern[str] | None = None
        text = message.strip()
        kind = "basic"
        first, _, rest = text.partition("\n")
        header = _TEMPLATE_HEADER.match(first)
        if header:
            kind, text = header.group(1).lower(), rest.strip()
        if kind == "jinja" and re.search(r"\{%", text):
            self.errors.append(
                "a Jinja final_message with {% ... %} blocks cannot be predicted; use $VERSION-style values"
            )
            return
        best: tuple[int, str] | None = None
        for line in text.splitlines():
            regex, fixed = self._line(line.strip(), kind)
            if regex is not None and (best is None or fixed > best[0]):
                best = (fixed, regex)
        if self.errors:
            return
        if best is None or best[0] < MIN_FIXED_TEXT:
            self.errors.append(
                f"final_message {message.strip()[:60]!r} has too little fixed text for readiness to recognise "
                f"its line on the console; write at least {MIN_FIXED_TEXT} characters of your own"
            )
            return
        self.pattern = re.compile(best[1])

    def _line(self, line: str, kind: str) -> tuple[str | None, int]:
        if not line:
            return None, 0
        out, fixed, pos = [], 0, 0
        named_datasource = False  # the first $DATASOURCE is captured (DataSourceNone: the boot failed)
        finder = _JINJA if kind == "jinja" else _BASIC
        tokens = sorted(
            [(m.start(), m.end(), None) for m in _FLEETING_PLACEHOLDER.finditer(line)]
            + [(m.start(), m.end(), m.group(1) or m.group(2) or "") for m in finder.finditer(line)],
        )
        for start, end, name in tokens:
            if start < pos:
                continue  # inside a {{fleeting.*}} placeholder
            literal = line[pos:start]
            out.append(re.escape(literal))
            fixed += len(literal.strip())
            pos = end
            if name is None:  # {{fleeting.*}}: replaced per instance before Nova gets it
                out.append(r".+?")
            elif name.lower() in FINAL_MESSAGE_VALUES:
                value = FINAL_MESSAGE_VALUES[name.lower()]
                named = name.lower() == "datasource" and not named_datasource
                named_datasource = named_datasource or named
                out.append(f"(?P<datasource>{value})" if named else f"(?:{value})")
            elif "." in name and name.split(".")[0].lower() in FINAL_MESSAGE_VALUES:
                self.errors.append(
                    f"final_message: cloud-init reads '${name}' as the sub-key {name.split('.', 1)[1]!r} of "
                    f"{name.split('.')[0]} and prints nothing; write '${{{name.split('.')[0]}}}.'"
                )
            else:
                known = ", ".join(f"${k.upper()}" for k in FINAL_MESSAGE_VALUES)
                self.errors.append(
                    f"final_message: cloud-init knows no value '{name}' (it would print nothing); use {known}"
                )
        literal = line[pos:]
        out.append(re.escape(literal))
        fixed += len(literal.strip())
        return "".join(out), fixed


def cloud_init_readiness(obs: Observation, final: FinalMessage | None = None) -> ReadinessResult:
    """READY at cloud-init's "finished" line (or the operator's own ``final`` message, which
    replaces it), FAILED if a module failed or no datasource."""
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
        m = (final.pattern if final is not None and final.pattern is not None else CLOUD_INIT_FINISHED).search(line)
        if m:
            finished = m
    if emergency:
        return ReadinessResult.failed("the boot dropped to emergency mode")
    if failed:
        return ReadinessResult.failed("cloud-init module(s) failed: " + ", ".join(failed))
    groups = finished.groupdict() if finished is not None else {}
    ds = groups.get("datasource") or "unknown datasource"
    if finished is not None and ds.split(" ")[0] == "DataSourceNone":
        return ReadinessResult.failed(
            f"cloud-init {groups.get('version') or ''} finished without a datasource "
            "(DataSourceNone): user_data and the login key were not applied".replace("  ", " ")
        )
    if finished is not None and final is not None and final.pattern is not None:
        return ReadinessResult.ready(f"cloud-init finished: the operator's final_message {finished.group(0)[:80]!r}")
    if finished is not None:
        return ReadinessResult.ready(f"cloud-init {finished.group('version')} finished ({ds})")
    if final is not None and final.pattern is not None:
        return _not_ready_yet(obs, f"the operator's final_message {final.message.strip()[:60]!r}")
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


def option_errors(options: StrategyOptions, known: Mapping[str, str], strategy: str) -> list[str]:
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
    def fleeting_key_type(self, options: StrategyOptions) -> str | None:
        key_type = options.get("key_type")
        return key_type if isinstance(key_type, str) else None

    @hookimpl
    def fleeting_wants_generated_key(self) -> bool:
        return True

    def known_option_errors(self, options: StrategyOptions) -> list[str]:
        return option_errors(options, self.options_help, self.name)
