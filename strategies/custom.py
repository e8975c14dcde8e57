"""Built-in strategy ``custom``: the operator's user_data, untouched.

For images this plugin knows nothing about. The user_data is passed to Nova as
written (only ``{{fleeting.*}}`` placeholders are replaced), no key is
generated (``fleeting_wants_generated_key`` is false), so the runner uses the
operator's static credentials: a Nova keypair (``server_spec.key_name``) with
the connector's ``key_path``, or a password.

Option ``readiness`` chooses how an ACTIVE server is judged booted:
``"none"`` (default: ACTIVE is ready), ``"cloud-init"`` (cloud-init's
"finished" line) or ``"login-prompt"`` (SSH host keys then a login prompt).
"""

from __future__ import annotations

from fleeting_openstack.plugin import (
    ImageInfo,
    Observation,
    ReadinessResult,
    StrategyOptions,
    StrategyRegistry,
    hookimpl,
)

from ._common import cloud_init_readiness, login_prompt_readiness, option_errors
from .cloud_init import final_message_of

NAME = "custom"
READINESS = {
    "none": None,
    "cloud-init": cloud_init_readiness,
    "login-prompt": login_prompt_readiness,
}
OPTIONS = {"readiness": "'none' (default), 'cloud-init' or 'login-prompt'"}


class CustomStrategy:
    name = NAME

    @hookimpl
    def fleeting_check_config(self, options: StrategyOptions) -> list[str]:
        errors = option_errors(options, OPTIONS, NAME)
        if options.get("readiness", "none") not in READINESS:
            errors.append(f"option 'readiness' must be one of {', '.join(READINESS)}, got {options['readiness']!r}")
        return errors

    @hookimpl
    def fleeting_default_username(self, image: ImageInfo) -> str | None:
        return image.os_admin_user

    @hookimpl
    def fleeting_wants_generated_key(self) -> bool:
        return False

    @hookimpl
    def fleeting_readiness(
        self, observation: Observation, options: StrategyOptions, user_data: str | None
    ) -> ReadinessResult | None:
        mode = options.get("readiness", "none")
        if mode == "cloud-init":  # the operator's own final_message, when the user_data sets one
            return cloud_init_readiness(observation, final_message_of(user_data))
        decide = READINESS.get(mode) if isinstance(mode, str) else None
        return decide(observation) if decide else None


@hookimpl
def fleeting_register_strategies(registry: StrategyRegistry) -> None:
    registry.add(NAME, CustomStrategy())
