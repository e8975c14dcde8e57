"""{{fleeting.*}} placeholders: syntax, non-collision, errors at Init."""

from __future__ import annotations

import pytest

from fleeting_openstack.plugin import templating
from fleeting_openstack.plugin.types import ImageInfo, InstanceContext, UserDataError

VALUES = {
    "instance_name": "runner-7",
    "group": "ci",
    "index": "7",
    "cloud": "prod",
    "region": "RegionOne",
    "username": "core",
}


def test_every_variable_renders():
    text = " ".join(f"{{{{fleeting.{v}}}}}" for v in templating.VARIABLES)
    assert templating.render(text, VALUES) == "runner-7 ci 7 prod RegionOne core"


def test_spaces_inside_braces_are_allowed():
    assert templating.render("{{ fleeting.index }}/{{fleeting.group  }}", VALUES) == "7/ci"


def test_shell_jinja_and_ignition_syntax_are_untouched():
    text = (
        '#!/bin/sh\necho "${HOME} $USER ${fleeting}"\n'
        "## cloud-init jinja: {{ v1.instance_id }} {{ ds.meta_data.name }} {% if x %}{% endif %}\n"
        '{"ignition": {"version": "3.3.0"}}\n'
        "{{ '{{' }}fleeting.index}}\n"  # Jinja escape producing a literal: not ours
        "{{fleeting_like}} {{fleetingx.y}}\n"
    )
    assert templating.find_errors(text) == []
    assert templating.render(text, VALUES) is text


def test_unknown_name_is_reported_with_line_and_known_names():
    errors = templating.find_errors("line one\nhost={{fleeting.instance}}\n")
    assert len(errors) == 1
    assert "line 2" in errors[0]
    assert "fleeting.instance" in errors[0]
    assert "fleeting.instance_name" in errors[0]  # the list of known names


@pytest.mark.parametrize(
    "bad",
    ["{{ fleeting.index | int }}", "{{fleeting}}", "{{fleeting.}}", "{{ fleeting.a.b }}", "{{fleeting.index"],
)
def test_malformed_placeholders_are_errors(bad):
    assert templating.find_errors(f"x: {bad}\n"), bad


def test_strict_render_raises_user_data_error():
    with pytest.raises(UserDataError) as err:
        templating.render("{{fleeting.nope}}", VALUES)
    assert "fleeting.nope" in str(err.value)


def test_lenient_render_leaves_unknown_placeholders():
    out = templating.render("{{fleeting.nope}} {{fleeting.index}}", VALUES, strict=False)
    assert out == "{{fleeting.nope}} 7"


def test_values_for_context():
    ctx = InstanceContext(
        name="runner-3", group="ci", index=3, cloud="prod", region="", image=ImageInfo("i"),
        user_data=None, username="ubuntu",
    )
    assert templating.values_for(ctx) == {
        "instance_name": "runner-3", "group": "ci", "index": "3", "cloud": "prod", "region": "", "username": "ubuntu",
    }


def test_sample_values_cover_every_variable():
    assert set(templating.SAMPLE_VALUES) == set(templating.VARIABLES)
