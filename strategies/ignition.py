"""Built-in strategy ``ignition``: Fedora CoreOS, Flatcar and other Ignition images.

The operator's user_data must be an Ignition config of spec 3.0.0 - 3.4.0
(JSON). The login user gets the key in ``passwd.users[].sshAuthorizedKeys``:
added to the existing entry of that name, or a new entry is appended.

Spec version: the operator's version is **kept** (not converted to 3.4.0).
Every field this strategy writes (``passwd.users[].name``,
``sshAuthorizedKeys``, ``storage.files[]`` with ``contents.source``,
``overwrite`` and ``mode``) exists unchanged since 3.0.0, so no conversion is
needed, and keeping the version means an image whose Ignition predates 3.4
(Flatcar before 2024, Ignition < 2.15) still boots the operator's 3.x config.

An empty user_data becomes a minimal config of spec **3.3.0**: the newest
version that Ignition 2.14 (Debian 12's ``ignition-validate``, and the
Ignition of Flatcar/Fedora CoreOS images of 2022-2023) accepts; 3.4.0 adds
nothing this minimal config uses. Set a 3.4.0 version yourself when you need
its features.

Spec 2.x, JSON errors and a non-object are configuration errors reported at
Init. A plain password cannot be set (Ignition only takes ``passwordHash``).

Readiness: an ``SSH host key: SHA256:... (<type>)`` line followed by a
``<hostname> login:`` prompt (printed by /etc/issue on Flatcar and Fedora
CoreOS); "Ignition failed" or an emergency shell are FAILED.
"""

from __future__ import annotations

import json
import re

from fleeting_openstack.plugin import (
    ImageInfo,
    InstanceContext,
    InstanceCredentials,
    JSONObject,
    JSONValue,
    Observation,
    ReadinessResult,
    StrategyOptions,
    StrategyRegistry,
    UserDataError,
    hookimpl,
)

from ._common import GeneratedKeyStrategy, login_prompt_readiness

NAME = "ignition"
MINIMAL_VERSION = "3.3.0"
SUPPORTED = re.compile(r"3\.[0-4]\.0")
DEFAULT_USER = "core"


def parse(text: str | None) -> JSONObject:
    """The Ignition config in ``text`` (a minimal one when empty); UserDataError if unusable."""
    if text is None or not text.strip():
        return {"ignition": {"version": MINIMAL_VERSION}}
    try:
        cfg: JSONValue = json.loads(text)
    except json.JSONDecodeError as exc:
        hint = ""
        if text.lstrip().startswith(("#cloud-config", "#!", "variant:")):
            hint = " (this looks like cloud-init user_data or Butane YAML, not an Ignition config)"
        raise UserDataError(
            f"user_data is not valid JSON (Ignition configs are JSON) at line {exc.lineno}, "
            f"column {exc.colno}: {exc.msg}{hint}"
        ) from exc
    if not isinstance(cfg, dict):
        raise UserDataError(f"user_data: an Ignition config is a JSON object, not {type(cfg).__name__}")
    ign = cfg.get("ignition")
    version = ign.get("version") if isinstance(ign, dict) else None
    if not isinstance(version, str):
        raise UserDataError("user_data: missing 'ignition.version' (an Ignition config needs one, e.g. \"3.3.0\")")
    if version.startswith(("1.", "2.")):
        raise UserDataError(
            f"user_data: Ignition spec {version} is not supported; write a spec 3.x config "
            "(e.g. with Butane) for an Ignition v2 image"
        )
    if not SUPPORTED.fullmatch(version):
        raise UserDataError(f"user_data: Ignition spec {version!r} is not supported (3.0.0 - 3.4.0)")
    errors = structure_errors(cfg)
    if errors:
        raise UserDataError("; ".join(errors))
    return cfg


def structure_errors(cfg: JSONObject) -> list[str]:
    """The parts of the config this strategy edits must have their spec types."""
    errors = []
    passwd = cfg.get("passwd")
    if passwd is not None:
        if not isinstance(passwd, dict):
            errors.append("user_data: 'passwd' must be an object")
        else:
            users = passwd.get("users")
            if users is not None and not isinstance(users, list):
                errors.append("user_data: 'passwd.users' must be an array")
            for i, user in enumerate(users if isinstance(users, list) else []):
                if not isinstance(user, dict) or not isinstance(user.get("name"), str):
                    errors.append(f"user_data: 'passwd.users[{i}]' must be an object with a string 'name'")
                elif not isinstance(user.get("sshAuthorizedKeys", []), list):
                    errors.append(f"user_data: 'passwd.users[{i}].sshAuthorizedKeys' must be an array")
    storage = cfg.get("storage")
    if storage is not None:
        if not isinstance(storage, dict):
            errors.append("user_data: 'storage' must be an object")
        elif not isinstance(storage.get("files", []), list):
            errors.append("user_data: 'storage.files' must be an array")
    return errors


def dump(cfg: JSONObject) -> str:
    return json.dumps(cfg, separators=(",", ":"), ensure_ascii=False)


def object_at(parent: JSONObject, key: str) -> JSONObject:
    """``parent[key]``, an empty object put there when absent (:func:`parse` checked its type)."""
    value = parent.setdefault(key, {})
    if not isinstance(value, dict):
        raise UserDataError(f"user_data: {key!r} must be an object")
    return value


def array_at(parent: JSONObject, key: str) -> list[JSONValue]:
    """``parent[key]``, an empty array put there when absent (:func:`parse` checked its type)."""
    value = parent.setdefault(key, [])
    if not isinstance(value, list):
        raise UserDataError(f"user_data: {key!r} must be an array")
    return value


def add_login(cfg: JSONObject, creds: InstanceCredentials) -> JSONObject:
    if creds.password:
        raise UserDataError(
            "the ignition strategy cannot set a plain password (Ignition only accepts passwordHash); "
            "use a key, or put passwordHash into your Ignition config"
        )
    if not creds.public_key_openssh:
        return cfg
    users = array_at(object_at(cfg, "passwd"), "users")
    for user in users:
        if isinstance(user, dict) and user.get("name") == creds.username:
            keys = array_at(user, "sshAuthorizedKeys")
            if creds.public_key_openssh not in keys:
                keys.append(creds.public_key_openssh)
            return cfg
    users.append({"name": creds.username, "sshAuthorizedKeys": [creds.public_key_openssh]})
    return cfg


def file_paths(cfg: JSONObject) -> set[str]:
    storage = cfg.get("storage")
    files = storage.get("files") if isinstance(storage, dict) else None
    if not isinstance(files, list):
        return set()
    return {path for f in files if isinstance(f, dict) and isinstance(path := f.get("path"), str)}


class IgnitionStrategy(GeneratedKeyStrategy):
    name = NAME

    def check_user_data(self, user_data: str | None) -> list[str]:
        try:
            parse(user_data)
        except UserDataError as exc:
            return [str(exc)]
        return []

    @hookimpl
    def fleeting_check_config(self, user_data: str | None, options: StrategyOptions) -> list[str]:
        return self.known_option_errors(options) + self.check_user_data(user_data)

    @hookimpl
    def fleeting_default_username(self, image: ImageInfo) -> str:
        return image.os_admin_user or DEFAULT_USER

    def base_config(self, ctx: InstanceContext) -> JSONObject:
        return parse(ctx.user_data)

    @hookimpl
    def fleeting_build_user_data(self, ctx: InstanceContext) -> str:
        return dump(self.base_config(ctx))

    @hookimpl
    def fleeting_inject_credentials(self, user_data: str | None, credentials: InstanceCredentials) -> str:
        return dump(add_login(parse(user_data), credentials))

    @hookimpl
    def fleeting_readiness(self, observation: Observation) -> ReadinessResult:
        return login_prompt_readiness(observation)


@hookimpl
def fleeting_register_strategies(registry: StrategyRegistry) -> None:
    registry.add(NAME, IgnitionStrategy())
