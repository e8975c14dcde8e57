"""Nova microversions in a plugin_config: the effective one, and the keys that need a newer one.

Nova refuses a create request that uses a key its microversion does not know
(``tags`` before 2.52, ``hostname`` before 2.90, ...). The configured
``nova_microversion`` wins, then ``OS_COMPUTE_API_VERSION`` (a ``2.N`` value
only), then :data:`~.model.DEFAULT_NOVA_MICROVERSION`; the keys are checked
against it offline so the mistake shows at ``validate`` rather than at the
first create.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from fleeting_openstack.config.issues import IssueCollector
from fleeting_openstack.config.model import DEFAULT_NOVA_MICROVERSION
from fleeting_openstack.config.units import parse_microversion
from fleeting_openstack.jsontypes import JSONValue

__all__ = ["MICROVERSION_REQUIREMENTS", "MicroversionRule", "check_keys", "resolve"]


@dataclass(frozen=True)
class MicroversionRule:
    """``key`` (in ``where``) needs nova_microversion ``minimum``: ``allowed`` says for which ones."""

    where: str  # section path; "[]" marks list items
    key: str
    minimum: str
    allowed: Callable[[tuple[int, int]], bool]


def _at_least(minor: int) -> Callable[[tuple[int, int]], bool]:
    return lambda mv: mv >= (2, minor)


MICROVERSION_REQUIREMENTS: tuple[MicroversionRule, ...] = (
    MicroversionRule("server_spec", "description", "2.19", _at_least(19)),
    MicroversionRule("server_spec", "tags", "2.52", _at_least(52)),
    MicroversionRule("server_spec", "trusted_image_certificates", "2.63", _at_least(63)),
    MicroversionRule("server_spec", "host", "2.74", _at_least(74)),
    MicroversionRule("server_spec", "hypervisor_hostname", "2.74", _at_least(74)),
    MicroversionRule("server_spec", "hostname", "2.90", _at_least(90)),
    MicroversionRule("server_spec.networks[]", "tag", "2.42", lambda mv: mv >= (2, 42) or (2, 32) <= mv <= (2, 36)),
    MicroversionRule("server_spec.block_device_mapping_v2[]", "tag", "2.42", lambda mv: mv >= (2, 42) or mv == (2, 32)),
    MicroversionRule("server_spec.block_device_mapping_v2[]", "volume_type", "2.67", _at_least(67)),
)


def check_keys(spec: Mapping[str, JSONValue], mv: tuple[int, int] | None, issues: IssueCollector) -> None:
    """An error for each key in ``spec`` that microversion ``mv`` does not know."""
    if mv is None:
        return
    configured = f"2.{mv[1]}"
    for rule in MICROVERSION_REQUIREMENTS:
        if rule.allowed(mv):
            continue
        if rule.where == "server_spec":
            if rule.key in spec:
                issues.check(
                    f"server_spec.{rule.key}",
                    f"needs nova_microversion {rule.minimum} or later (configured: {configured})",
                )
            continue
        list_key = rule.where[len("server_spec.") : -2]
        items = spec.get(list_key)
        if not isinstance(items, list):
            continue
        for i, item in enumerate(items):
            if isinstance(item, Mapping) and rule.key in item:
                issues.check(
                    f"server_spec.{list_key}[{i}].{rule.key}",
                    f"needs nova_microversion {rule.minimum} or later (configured: {configured})",
                )


def resolve(
    doc: Mapping[str, JSONValue], env: Mapping[str, str], issues: IssueCollector
) -> tuple[str, tuple[int, int]] | None:
    """The effective nova_microversion (configured > OS_COMPUTE_API_VERSION > the default), or
    None when the configured one is invalid."""
    value = doc.get("nova_microversion")
    if value is not None:
        if issues.blocked("nova_microversion"):
            return None
        try:
            if not isinstance(value, str):
                raise ValueError(f'{value!r} is not a Nova microversion such as "2.79"')
            return value, parse_microversion(value)
        except ValueError as exc:
            issues.check("nova_microversion", str(exc))
            return None
    from_env = (env.get("OS_COMPUTE_API_VERSION") or "").strip()
    if from_env:
        try:
            mv = parse_microversion(from_env)
        except ValueError:
            issues.warn(
                "nova_microversion",
                f"environment OS_COMPUTE_API_VERSION={from_env!r} is not a 2.N "
                f"microversion; ignored, using {DEFAULT_NOVA_MICROVERSION}",
            )
        else:
            return from_env, mv
    return DEFAULT_NOVA_MICROVERSION, parse_microversion(DEFAULT_NOVA_MICROVERSION)
