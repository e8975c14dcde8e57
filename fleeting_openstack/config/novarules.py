"""Nova's own rules for the create request ``server_spec`` makes, run offline after the JSON Schema.

Image/flavor choice, boot from volume, network items, security groups, scheduler hints, tags,
metadata, user_data size after base64, min/max count, the server name template: one small check
per Nova rule, in the order of the Nova API reference they follow. Every rule only adds issues;
:func:`.rules.check` runs them with the cross-field checks.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping

from fleeting_openstack.config.compat import DEPRECATIONS
from fleeting_openstack.config.identity import GROUP_METADATA_KEY, PLUGIN_METADATA
from fleeting_openstack.config.issues import IssueCollector, join_path
from fleeting_openstack.config.model import boots_from_volume, looks_base64_encoded
from fleeting_openstack.config.schema import closest, short_repr
from fleeting_openstack.jsontypes import JSONValue
from fleeting_openstack.userdata_limit import NOVA_USER_DATA_MAX, UserDataTooLarge, check_user_data_size

__all__ = [
    "NOVA_DEFAULT_METADATA_QUOTA",
    "NOVA_MAX_METADATA_KEYS",
    "NOVA_MAX_TAGS",
    "PLUGIN_METADATA_KEYS",
    "check_block_devices",
    "check_image_flavor",
    "check_misc_spec",
    "check_name_template",
    "check_networks",
    "check_scheduler_hints",
    "check_security_groups",
    "check_tags_metadata",
    "is_uuid",
]

#: Nova's limit on tags per server (the plugin adds one: the group name).
NOVA_MAX_TAGS = 50
#: Nova's default ``metadata_items`` quota (the plugin adds one item).
NOVA_DEFAULT_METADATA_QUOTA = 128


_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}(-?[0-9a-fA-F]{4}){3}-?[0-9a-fA-F]{12}$")
_KNOWN_HINTS = (
    "group",
    "different_host",
    "same_host",
    "query",
    "target_cell",
    "different_cell",
    "build_near_host_ip",
    "cidr",
)


def is_uuid(value: object) -> bool:
    return isinstance(value, str) and bool(_UUID_RE.match(value))


def _is_printable_name(text: str) -> bool:
    """Printable (control characters are reported by _check_control_chars, not here)."""
    return all(ch.isprintable() or unicodedata.category(ch) == "Cc" for ch in text)


def check_name_template(spec: Mapping[str, JSONValue], issues: IssueCollector) -> None:
    name = spec.get("name")
    path = "server_spec.name"
    if not isinstance(name, str) or not name:
        return
    if name != name.strip():
        issues.check(path, "must not start or end with whitespace (Nova rejects it)")
    if not _is_printable_name(name):
        issues.check(path, "must contain only printable characters")
    rest = name.replace("%d", "", 1)
    if "%" in rest:
        issues.check(path, f"'%' may appear only as a single %d (the instance index) (got {name!r})")
    elif "%d" not in name:
        issues.warn(
            path,
            'has no %d: the plugin appends "-<index>" to keep names unique; '
            'put %d where the instance index belongs, e.g. "runner-%d"',
        )


def check_image_flavor(spec: Mapping[str, JSONValue], issues: IssueCollector) -> None:
    bfv = boots_from_volume(spec.get("block_device_mapping_v2"))
    has_ref = "imageRef" in spec
    image_ref = spec.get("imageRef")
    has_name = "image_name" in spec
    if bfv:
        if has_ref and image_ref != "" and has_name:
            issues.check("server_spec.image_name", "conflicts with imageRef; set at most one of them")
    else:
        if has_ref and image_ref == "":
            issues.check(
                "server_spec.imageRef",
                "may be empty only when block_device_mapping_v2 boots from a "
                "volume (boot_index 0, destination_type volume)",
            )
        elif has_ref and has_name:
            issues.check("server_spec.image_name", "conflicts with imageRef; set exactly one of them")
        elif not has_ref and not has_name:
            issues.check(
                "server_spec",
                "needs an image: set imageRef (UUID) or image_name, or boot from a volume with block_device_mapping_v2",
            )
    has_fref = "flavorRef" in spec
    has_fname = "flavor_name" in spec
    if has_fref and has_fname:
        issues.check("server_spec.flavor_name", "conflicts with flavorRef; set exactly one of them")
    elif not has_fref and not has_fname:
        issues.check("server_spec", "needs a flavor: set flavorRef (flavor ID) or flavor_name")
    flavor_ref = spec.get("flavorRef")
    if isinstance(flavor_ref, str) and flavor_ref and not flavor_ref.strip():
        issues.check("server_spec.flavorRef", "must not be blank")


def check_networks(
    spec: Mapping[str, JSONValue], mv: tuple[int, int] | None, max_size: int, issues: IssueCollector
) -> None:
    nets = spec.get("networks")
    base = "server_spec.networks"
    if nets is None:
        if mv is not None and mv >= (2, 37):
            issues.check(
                base,
                f"is required by Nova from microversion 2.37 (configured: 2.{mv[1]}): list the "
                'networks, or write "auto" or "none"',
            )
        return
    if isinstance(nets, str):
        if mv is not None and mv < (2, 37):
            issues.check(base, f"{nets!r} needs nova_microversion 2.37 or later (configured: 2.{mv[1]})")
        return
    if not isinstance(nets, list):
        return
    if not nets:
        issues.warn(base, 'is an empty list: write "none" for no network, or list at least one network')
    for i, net in enumerate(nets):
        if not isinstance(net, Mapping):
            continue
        p = f"{base}[{i}]"
        if "uuid" not in net and "port" not in net:
            issues.check(p, "needs uuid (a network) or port (an existing port)")
        if "port" in net and "fixed_ip" in net:
            issues.check(
                f"{p}.fixed_ip", "cannot be combined with port (Nova rejects the pair); set the IP on the port"
            )
        if max_size > 1 and "port" in net:
            issues.warn(
                f"{p}.port",
                f"a Neutron port attaches to one server only, but max_size allows {max_size} "
                "servers: the second create fails",
            )
        if max_size > 1 and "fixed_ip" in net:
            issues.warn(
                f"{p}.fixed_ip",
                f"a fixed IP can be used by one server only, but max_size allows {max_size} "
                "servers: the second create fails",
            )


def check_security_groups(spec: Mapping[str, JSONValue], issues: IssueCollector) -> None:
    groups = spec.get("security_groups")
    if not isinstance(groups, list):
        return
    seen: set[str] = set()
    for i, g in enumerate(groups):
        name = g if isinstance(g, str) else g.get("name") if isinstance(g, Mapping) else None
        if isinstance(name, str):
            if name != name.strip():
                issues.check(f"server_spec.security_groups[{i}]", "must not start or end with whitespace")
            if name in seen:
                issues.warn(f"server_spec.security_groups[{i}]", f"duplicate security group {name!r}")
            seen.add(name)


def check_scheduler_hints(spec: Mapping[str, JSONValue], issues: IssueCollector) -> None:
    hints = spec.get("scheduler_hints")
    base = "server_spec.scheduler_hints"
    if not isinstance(hints, dict):
        return
    deprecated = [d.key for d in DEPRECATIONS if d.section == "server_spec.scheduler_hints" and d.renames]
    for key in list(hints):
        if key in _KNOWN_HINTS or key in deprecated:
            continue
        guess = closest(key, _KNOWN_HINTS, cutoff=0.75)
        if guess is not None:
            issues.check(
                join_path(base, key),
                f"unknown scheduler hint {key!r}; did you mean {guess!r}? "
                "(a misspelt hint is silently ignored by Nova)",
            )
        else:
            issues.warn(
                join_path(base, key),
                f"{key!r} is not a standard Nova scheduler hint; it is passed to the "
                "scheduler verbatim (for custom filters)",
            )
    query = hints.get("query")
    if isinstance(query, str):
        try:
            json.loads(query)
        except ValueError:
            issues.check(f"{base}.query", 'must be a JSON document, e.g. \'[">=", "$free_ram_mb", 1024]\'')
    if "cidr" in hints and "build_near_host_ip" not in hints:
        issues.warn(f"{base}.cidr", "is used only together with build_near_host_ip")


def check_block_devices(spec: Mapping[str, JSONValue], issues: IssueCollector) -> None:
    bdms = spec.get("block_device_mapping_v2")
    if not isinstance(bdms, list):
        return
    boot_zero = []
    for i, bdm in enumerate(bdms):
        if not isinstance(bdm, Mapping):
            continue
        p = f"server_spec.block_device_mapping_v2[{i}]"
        source = bdm.get("source_type")
        dest = bdm.get("destination_type")
        if source in ("image", "volume", "snapshot"):
            if "uuid" not in bdm:
                issues.check(f"{p}.uuid", f"is required with source_type {source!r}")
            elif not is_uuid(bdm.get("uuid")):
                issues.check(f"{p}.uuid", f"must be the UUID of the {source} (got {short_repr(bdm.get('uuid'))})")
        if source == "blank" and "uuid" in bdm:
            issues.check(f"{p}.uuid", "must not be set with source_type 'blank'")
        if source == "volume" and dest == "local":
            issues.check(f"{p}.destination_type", "must be 'volume' with source_type 'volume'")
        if source in ("image", "blank") and dest == "volume" and "volume_size" not in bdm:
            issues.check(f"{p}.volume_size", f"is required to create a volume from source_type {source!r}")
        creates_volume = dest == "volume" and source in ("image", "blank", "snapshot")
        if creates_volume and bdm.get("delete_on_termination") is not True:
            issues.warn(
                f"{p}.delete_on_termination",
                "is not true: the volume created for each server outlives it (leaks); set delete_on_termination = true",
            )
        boot_index = bdm.get("boot_index")
        try:
            index = int(boot_index) if isinstance(boot_index, (str, int, float)) else None
        except (TypeError, ValueError):
            index = None
        if index == 0:
            boot_zero.append(i)
    for i in boot_zero[1:]:
        issues.check(
            f"server_spec.block_device_mapping_v2[{i}].boot_index",
            f"only one device may have boot_index 0 (block_device_mapping_v2[{boot_zero[0]}] has it too)",
        )


#: Nova's hard limit on metadata keys per server (key and value length: the schema, 255).
NOVA_MAX_METADATA_KEYS = 128
#: Metadata items the plugin itself sets (cluster, index, request, key salt, key type, key verifier).
PLUGIN_METADATA_KEYS = len(PLUGIN_METADATA)


def check_tags_metadata(doc: Mapping[str, JSONValue], spec: Mapping[str, JSONValue], issues: IssueCollector) -> None:
    group = doc.get("name") if isinstance(doc.get("name"), str) else None
    tags = spec.get("tags")
    if isinstance(tags, list):
        extra = 0 if group in tags else 1
        if len(tags) + extra > NOVA_MAX_TAGS:
            issues.check(
                "server_spec.tags",
                f"has {len(tags)} tags; Nova allows {NOVA_MAX_TAGS} per server and the plugin adds the group "
                f"name as a tag, so at most {NOVA_MAX_TAGS - 1} may be configured",
            )
    meta = spec.get("metadata")
    if isinstance(meta, dict):
        if GROUP_METADATA_KEY in meta:
            issues.check(
                join_path("server_spec.metadata", GROUP_METADATA_KEY),
                "is reserved: the plugin sets it to the group name to find its servers",
            )
        if len(meta) + PLUGIN_METADATA_KEYS > NOVA_MAX_METADATA_KEYS:
            issues.check(
                "server_spec.metadata",
                f"has {len(meta)} items; Nova accepts at most {NOVA_MAX_METADATA_KEYS} per server and the "
                f"plugin adds up to {PLUGIN_METADATA_KEYS}, so at most "
                f"{NOVA_MAX_METADATA_KEYS - PLUGIN_METADATA_KEYS} may be configured",
            )
        if len(meta) + 1 > NOVA_DEFAULT_METADATA_QUOTA:
            issues.warn(
                "server_spec.metadata",
                f"has {len(meta)} items; with the plugin's own item that exceeds Nova's default quota of "
                f"{NOVA_DEFAULT_METADATA_QUOTA} metadata items per server",
            )


def check_misc_spec(spec: Mapping[str, JSONValue], issues: IssueCollector) -> None:
    ud = spec.get("user_data")
    if isinstance(ud, str) and looks_base64_encoded(ud):
        issues.warn(
            "server_spec.user_data",
            "looks base64-encoded: write the plain text (cloud-config, Ignition "
            "JSON, script...); the plugin encodes it, so it would be encoded twice",
        )
    if isinstance(ud, str):
        try:
            size = check_user_data_size(ud)
        except UserDataTooLarge as exc:
            issues.check(
                "server_spec.user_data",
                f"is {exc.size} bytes after base64 encoding; Nova's limit is {NOVA_USER_DATA_MAX} "
                f"(about {NOVA_USER_DATA_MAX * 3 // 4} bytes of text)",
            )
        except ValueError as exc:
            issues.check("server_spec.user_data", str(exc).split(": ", 1)[1])
            return
        else:
            if size > NOVA_USER_DATA_MAX - 4096:
                issues.warn(
                    "server_spec.user_data",
                    f"is {size} bytes after base64 encoding, close to Nova's limit of {NOVA_USER_DATA_MAX}: "
                    "a boot strategy that adds an SSH key may push it over",
                )
    for key in ("min_count", "max_count"):
        value = spec.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 1:
            issues.check(
                f"server_spec.{key}",
                f"must be 1 (got {value}): the plugin creates one server per request "
                "and tracks each; scale with the runner's [runners.autoscaler] settings",
            )
    mn, mx = spec.get("min_count"), spec.get("max_count")
    if isinstance(mn, int) and isinstance(mx, int) and mn > mx:
        issues.check("server_spec.min_count", f"must not exceed max_count ({mn} > {mx})")
    for key in ("key_name", "availability_zone"):
        value = spec.get(key)
        if isinstance(value, str) and value and (value != value.strip() or not _is_printable_name(value)):
            issues.check(f"server_spec.{key}", "must be printable and not start or end with whitespace")
    desc = spec.get("description")
    if isinstance(desc, str) and not _is_printable_name(desc):
        issues.check("server_spec.description", "must contain only printable characters")
