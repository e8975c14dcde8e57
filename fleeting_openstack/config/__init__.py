"""Plugin configuration: parse, normalise and validate ``plugin_config``.

``load_plugin_config(raw)`` turns the ``[runners.autoscaler.plugin_config]``
table into a frozen :class:`PluginConfig`, or raises :class:`ConfigError`
listing *every* problem at once, each with its JSON path. The modules, in the
order a document goes through them (:mod:`.load` runs the pipeline):

* :mod:`.sources`: read a plugin_config JSON file or a runner ``config.toml`` once
  (:mod:`.connector`: the runner's connector_config table in plain values);
* :mod:`.compat`: the Go plugin's spellings and every other normalisation;
* :mod:`.schema`: the JSON Schema, its errors in plain words;
* :mod:`.rules` (with :mod:`.novarules` and :mod:`.microversions`): Nova's own rules and the
  cross-field checks, check-only;
* :mod:`.model`: the frozen dataclasses and their defaults;
* :mod:`.issues`: the issue type, the collector, JSON paths;
* :mod:`.units`: Nova microversions (Go durations: the leaf :mod:`fleeting_openstack.godurations`);
* :mod:`.identity`: how the group's servers are marked and named in the cloud.

It imports neither ``openstack`` nor ``contract`` (docs/architecture.md). This package
re-exports the public names, so ``from fleeting_openstack.config
import load_plugin_config, PluginConfig, ConfigError`` is all a caller needs.
"""

from __future__ import annotations

from fleeting_openstack.config.compat import DEPRECATIONS, Deprecation
from fleeting_openstack.config.identity import GROUP_METADATA_KEY
from fleeting_openstack.config.issues import ConfigError, ConfigIssue, IssueCollector, format_path, join_path
from fleeting_openstack.config.load import load_plugin_config
from fleeting_openstack.config.microversions import MICROVERSION_REQUIREMENTS
from fleeting_openstack.config.model import (
    DEFAULT_NOVA_MICROVERSION,
    AddressConfig,
    CredentialsConfig,
    LoadedConfig,
    PluginConfig,
    ReadinessConfig,
    ServerSpec,
    default_state_dir,
)
from fleeting_openstack.config.novarules import NOVA_MAX_TAGS
from fleeting_openstack.config.schema import schema
from fleeting_openstack.config.units import parse_microversion
from fleeting_openstack.godurations import parse_duration

__all__ = [
    "DEFAULT_NOVA_MICROVERSION",
    "DEPRECATIONS",
    "GROUP_METADATA_KEY",
    "MICROVERSION_REQUIREMENTS",
    "NOVA_MAX_TAGS",
    "AddressConfig",
    "ConfigError",
    "ConfigIssue",
    "CredentialsConfig",
    "Deprecation",
    "IssueCollector",
    "LoadedConfig",
    "PluginConfig",
    "ReadinessConfig",
    "ServerSpec",
    "default_state_dir",
    "format_path",
    "join_path",
    "load_plugin_config",
    "parse_duration",
    "parse_microversion",
    "schema",
]
