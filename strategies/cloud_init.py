"""Built-in strategy ``cloud-init``: images that run cloud-init.

The login user and its key are merged into the operator's user_data:

* ``#cloud-config`` (or none): parsed and re-written with the user added to
  ``users`` (an existing entry of that name gets the key appended; without a
  ``users`` key the list becomes ``[default, <user>]`` so the image's default
  user is kept). Everything else the operator wrote stays as it was (YAML
  comments do not survive re-serialisation).
* MIME multipart: if a ``text/cloud-config`` part already lists the user, the
  key is added there; otherwise a ``text/cloud-config`` part is appended with
  ``Merge-Type: list(append)+dict(no_replace,recurse_list)+str()`` so that
  cloud-init appends our user to the operator's ``users`` instead of replacing
  the list (its default for later parts).
* Anything else cloud-init understands (``#!`` scripts, ``## template: jinja``,
  ``#cloud-boothook``, ``#include`` ...): wrapped into a multipart with the
  operator's content as its own, untouched part and our cloud-config part.

Readiness: cloud-init's final message, ``Cloud-init v. <version> finished at
...``, in the console tail (any prefix); when the operator's cloud-config sets its own
``final_message``, that line instead (cloud-init's ``$UPTIME``, ``$TIMESTAMP``, ``$VERSION``,
``$DATASOURCE`` matched as the values cloud-init prints). A failed cloud-init module, a finish
without datasource (``DataSourceNone``: the key was never applied) or an
emergency shell are FAILED.
"""

from __future__ import annotations

import email
import email.errors
import email.policy
import re
from collections.abc import Mapping
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import yaml

from fleeting_openstack.plugin import (
    ImageInfo,
    InstanceContext,
    InstanceCredentials,
    Observation,
    ReadinessResult,
    StrategyOptions,
    StrategyRegistry,
    UserDataError,
    hookimpl,
)

from ._common import FinalMessage, GeneratedKeyStrategy, cloud_init_readiness, first_line

NAME = "cloud-init"
CLOUD_CONFIG = "#cloud-config"
MERGE_TYPE = "list(append)+dict(no_replace,recurse_list)+str()"

# cloud-init's handlers.INCLUSION_TYPES_MAP: first line -> MIME type of the part.
INCLUSION_TYPES = {
    "#include-once": "text/x-include-once-url",
    "#include": "text/x-include-url",
    "#!": "text/x-shellscript",
    "#cloud-config-archive": "text/cloud-config-archive",
    "#cloud-config-jsonp": "text/cloud-config-jsonp",
    "#cloud-config": "text/cloud-config",
    "#part-handler": "text/part-handler",
    "#cloud-boothook": "text/cloud-boothook",
    "## template: jinja": "text/jinja2",
}
_PREFIXES = sorted(INCLUSION_TYPES, key=len, reverse=True)  # longest first, like cloud-init

# Default login user of the distributions' cloud images, by Glance os_distro.
DISTRO_USERS = {
    "ubuntu": "ubuntu",
    "debian": "debian",
    "fedora": "fedora",
    "rocky": "rocky",
    "almalinux": "almalinux",
    "rhel": "cloud-user",
    "arch": "arch",
    "alpine": "alpine",
}


def _content_type(text: str) -> str | None:
    stripped = text.lstrip()
    for prefix in _PREFIXES:
        if stripped.startswith(prefix):
            if prefix == CLOUD_CONFIG and first_line(text) != CLOUD_CONFIG:
                continue  # e.g. "#cloud-configX"
            return INCLUSION_TYPES[prefix]
    return None


def _is_mime(text: str) -> bool:
    # cloud-init's own test (user_data.convert_string)
    return "mime-version:" in text[:4096].lower()


def _is_empty(text: str | None) -> bool:
    return text is None or not text.strip()


def _load_cloud_config(text: str, where: str) -> dict[str, object]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise UserDataError(f"{where}: invalid YAML{at}: {problem}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserDataError(f"{where}: a cloud-config must be a mapping, not a {type(data).__name__}")
    return data


class _Dumper(yaml.SafeDumper):
    """SafeDumper writing multi-line strings (scripts, files) as ``|`` blocks."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def _dump_cloud_config(cfg: Mapping[str, object]) -> str:
    body = yaml.dump(
        dict(cfg), Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=4096
    )
    return f"{CLOUD_CONFIG}\n{body}" if cfg else f"{CLOUD_CONFIG}\n"


def _users_errors(cfg: Mapping[str, object], where: str) -> list[str]:
    users = cfg.get("users")
    if users is None or isinstance(users, (str, list, dict)):
        return []
    return [f"{where}: 'users' must be a list, a mapping or a string, not {type(users).__name__}"]


def _final_message_errors(cfg: Mapping[str, object], where: str) -> list[str]:
    """An operator's final_message is fine (readiness then waits for that line), unless cloud-init
    would print nothing for it or its line cannot be recognised (:class:`FinalMessage`)."""
    msg = cfg.get("final_message")
    if msg is None or not str(msg).strip():
        return []
    return [f"{where}: {e}" for e in FinalMessage(str(msg)).errors]


_PLACEHOLDER_TOKEN = re.compile(r"\{\{\s*fleeting\.([A-Za-z_]+)\s*\}\}")


def final_message_of(user_data: str | None) -> FinalMessage | None:
    """The operator's own ``final_message`` in ``user_data`` (a #cloud-config, or the last
    text/cloud-config MIME part that sets one, as cloud-init's merge keeps the last), or None:
    cloud-init prints its default line. ``{{fleeting.*}}`` placeholders stay wildcards."""
    if _is_empty(user_data):
        return None
    assert user_data is not None
    text = _PLACEHOLDER_TOKEN.sub(lambda m: f"@@fleeting.{m.group(1)}@@", user_data)
    try:
        if _is_mime(text):
            configs = [cfg for _, cfg, _ in _mime_cloud_configs(_parse_mime(text))]
        elif _content_type(text) == "text/cloud-config":
            configs = [_load_cloud_config(text, "user_data")]
        else:
            return None
    except UserDataError:
        return None
    messages = [str(c["final_message"]) for c in configs if str(c.get("final_message") or "").strip()]
    if not messages:
        return None
    final = FinalMessage(re.sub(r"@@fleeting\.([A-Za-z_]+)@@", r"{{fleeting.\1}}", messages[-1]))
    return final if final.pattern is not None else None


def _key_field(entry: dict[str, object]) -> str:
    return "ssh-authorized-keys" if "ssh-authorized-keys" in entry else "ssh_authorized_keys"


def _add_credentials(entry: dict[str, object], creds: InstanceCredentials) -> dict[str, object]:
    if creds.public_key_openssh:
        field = _key_field(entry)
        given = entry.get(field)
        keys: list[object]
        if given is None:
            keys = []
        elif isinstance(given, str):
            keys = [given]
        elif isinstance(given, list):
            keys = list(given)
        else:
            raise UserDataError(
                f"cloud-config user {entry.get('name', creds.username)!r}: {field!r} must be a list or a string, "
                f"not {type(given).__name__}"
            )
        if creds.public_key_openssh not in keys:
            keys.append(creds.public_key_openssh)
        entry[field] = keys
    if creds.password:
        entry["plain_text_passwd"] = creds.password
        entry["lock_passwd"] = False
    return entry


def _new_entry(creds: InstanceCredentials) -> dict[str, object]:
    return _add_credentials({"name": creds.username}, creds)


def _has_user(cfg: Mapping[str, object], name: str) -> bool:
    users = cfg.get("users")
    if isinstance(users, list):
        return any(isinstance(u, dict) and u.get("name") == name for u in users)
    if isinstance(users, dict):
        return isinstance(users.get(name), dict)
    return False


def add_login(cfg: dict[str, object], creds: InstanceCredentials, *, add_default: bool = True) -> dict[str, object]:
    """``cfg`` with the login user and its credentials (changed in place)."""
    users = cfg.get("users")
    name = creds.username
    if users is None:
        cfg["users"] = (["default"] if add_default else []) + [_new_entry(creds)]
    elif isinstance(users, str):  # "default, bob": cloud-init's comma-separated form
        cfg["users"] = [u.strip() for u in users.split(",") if u.strip()] + [_new_entry(creds)]
    elif isinstance(users, list):
        for entry in users:
            if isinstance(entry, dict) and entry.get("name") == name:
                _add_credentials(entry, creds)
                break
        else:
            users.append(_new_entry(creds))
    elif isinstance(users, dict):
        entry = users.get(name)
        if isinstance(entry, dict):
            _add_credentials(entry, creds)
        else:
            users[name] = _add_credentials({}, creds)
    else:
        raise UserDataError(f"cloud-config 'users' must be a list, a mapping or a string, not {type(users).__name__}")
    if creds.password:
        cfg.setdefault("ssh_pwauth", True)
    return cfg


def _text_part(text: str, mime_type: str) -> MIMEText:
    subtype = mime_type.split("/", 1)[1]
    return MIMEText(text, subtype, "us-ascii" if text.isascii() else "utf-8")


def _our_part(creds: InstanceCredentials, add_default: bool) -> MIMEText:
    part = _text_part(_dump_cloud_config(add_login({}, creds, add_default=add_default)), "text/cloud-config")
    part["Content-Disposition"] = 'attachment; filename="fleeting-login.cfg"'
    part["Merge-Type"] = MERGE_TYPE
    return part


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):  # None: no body (decode=True never gives a Message for a leaf part)
        return ""
    return payload.decode(part.get_content_charset() or "utf-8", errors="replace")


def _part_type(part: Message) -> str | None:
    ctype = part.get_content_type()
    if ctype in ("text/plain", "text/x-not-multipart"):  # cloud-init sniffs these
        return _content_type(_part_text(part)) or ctype
    return ctype


# Defects that leave no usable parts (a missing closing boundary is tolerated, as by cloud-init).
_FATAL_MIME_DEFECTS = (
    email.errors.NoBoundaryInMultipartDefect,
    email.errors.StartBoundaryNotFoundDefect,
    email.errors.MultipartInvariantViolationDefect,
)


def _parse_mime(text: str) -> Message:
    msg = email.message_from_string(text, policy=email.policy.compat32)
    fatal = [d for d in msg.defects if isinstance(d, _FATAL_MIME_DEFECTS)]
    if fatal:
        raise UserDataError(f"user_data: malformed MIME message: {type(fatal[0]).__name__}")
    return msg


def _leaf_parts(msg: Message) -> list[Message]:
    return [p for p in msg.walk() if not p.is_multipart()]


def _mime_cloud_configs(msg: Message) -> list[tuple[Message, dict[str, object], str]]:
    found = []
    for i, part in enumerate(_leaf_parts(msg), 1):
        if _part_type(part) == "text/cloud-config":
            where = f"user_data MIME part {i} (text/cloud-config)"
            found.append((part, _load_cloud_config(_part_text(part), where), where))
    return found


def _declares_users(text: str) -> bool:
    """Best effort for a Jinja template, which cannot be parsed as YAML before rendering."""
    return re.search(r"(?m)^users\s*:", text) is not None


def inject_mime(text: str, creds: InstanceCredentials) -> str:
    msg = _parse_mime(text)
    configs = _mime_cloud_configs(msg)
    for part, cfg, _ in configs:
        if _has_user(cfg, creds.username):
            # The operator's part already declares the user: add the key right there.
            new = _dump_cloud_config(add_login(cfg, creds))
            del part["Content-Transfer-Encoding"]
            part.set_payload(new, "us-ascii" if new.isascii() else "utf-8")
            return msg.as_string()
    add_default = not any("users" in cfg for _, cfg, _ in configs) and not any(
        _part_type(p) == "text/jinja2" and _declares_users(_part_text(p)) for p in _leaf_parts(msg)
    )
    if not msg.is_multipart():  # a single MIME part: make it one of a multipart
        outer = MIMEMultipart()
        outer.attach(msg)
        msg = outer
    msg.attach(_our_part(creds, add_default))
    return msg.as_string()


def wrap_other(text: str, mime_type: str, creds: InstanceCredentials) -> str:
    """The operator's non-cloud-config user_data as its own untouched part, plus ours."""
    outer = MIMEMultipart()
    theirs = _text_part(text, mime_type)
    theirs["Content-Disposition"] = 'attachment; filename="operator-user-data"'
    outer.attach(theirs)
    add_default = not (mime_type == "text/jinja2" and _declares_users(text))
    outer.attach(_our_part(creds, add_default))
    return outer.as_string()


def user_data_errors(text: str | None) -> list[str]:
    """What in ``text`` cloud-init (or the injection) cannot use."""
    if _is_empty(text):
        return []
    assert text is not None
    try:
        if _is_mime(text):
            msg = _parse_mime(text)
            errors = []
            for _, cfg, where in _mime_cloud_configs(msg):
                errors += _users_errors(cfg, where) + _final_message_errors(cfg, where)
            return errors
        ctype = _content_type(text)
        if ctype == "text/cloud-config":
            cfg = _load_cloud_config(text, "user_data (#cloud-config)")
            return _users_errors(cfg, "user_data") + _final_message_errors(cfg, "user_data")
        if ctype is None:
            return [
                f"user_data starts with {first_line(text)[:40]!r}, which cloud-init does not recognise; "
                "start it with '#cloud-config', '#!' (a script), '## template: jinja' or use MIME multipart"
            ]
    except UserDataError as exc:
        return [str(exc)]
    return []


class CloudInitStrategy(GeneratedKeyStrategy):
    name = NAME

    @hookimpl
    def fleeting_check_config(self, user_data: str | None, options: StrategyOptions) -> list[str]:
        return self.known_option_errors(options) + user_data_errors(user_data)

    @hookimpl
    def fleeting_default_username(self, image: ImageInfo) -> str | None:
        if image.os_admin_user:
            return image.os_admin_user
        return DISTRO_USERS.get((image.os_distro or "").lower())

    @hookimpl
    def fleeting_build_user_data(self, ctx: InstanceContext) -> str:
        if ctx.user_data is None or _is_empty(ctx.user_data):
            return f"{CLOUD_CONFIG}\n"
        return ctx.user_data

    @hookimpl
    def fleeting_inject_credentials(self, user_data: str | None, credentials: InstanceCredentials) -> str | None:
        if not credentials.public_key_openssh and not credentials.password:
            return None  # static Nova keypair: nothing to add
        if _is_empty(user_data):
            return _dump_cloud_config(add_login({}, credentials))
        assert user_data is not None
        if _is_mime(user_data):
            return inject_mime(user_data, credentials)
        ctype = _content_type(user_data)
        if ctype == "text/cloud-config":
            cfg = _load_cloud_config(user_data, "user_data (#cloud-config)")
            return _dump_cloud_config(add_login(cfg, credentials))
        if ctype is None:
            raise UserDataError(f"user_data starts with {first_line(user_data)[:40]!r}, not a cloud-init format")
        return wrap_other(user_data, ctype, credentials)

    @hookimpl
    def fleeting_readiness(self, observation: Observation, user_data: str | None) -> ReadinessResult:
        return cloud_init_readiness(observation, final_message_of(user_data))


@hookimpl
def fleeting_register_strategies(registry: StrategyRegistry) -> None:
    registry.add(NAME, CloudInitStrategy())
