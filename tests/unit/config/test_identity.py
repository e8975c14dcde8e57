"""The group's identity (fleeting_openstack.config.identity): values operators and old clouds depend on."""

from __future__ import annotations

from fleeting_openstack.config import identity


def test_metadata_keys_are_those_the_go_plugin_and_older_releases_wrote():
    assert identity.META_CLUSTER == identity.GROUP_METADATA_KEY == "fleeting-cluster"
    assert identity.PLUGIN_METADATA == ("fleeting-cluster", "fleeting-index", "fleeting-request",
                                        "fleeting-key-salt", "fleeting-key-type", "fleeting-key-check",
                                        "fleeting-suspend")
    assert identity.META_SUSPEND == "fleeting-suspend"


def test_group_tag_fits_novas_limit_and_stays_distinct():
    assert identity.group_tag("ci") == "fleeting:ci"
    long_a, long_b = "a" * 80, "a" * 79 + "b"
    assert len(identity.group_tag(long_a)) <= 60
    assert identity.group_tag(long_a).startswith("fleeting:" + "a" * 34 + "~")
    assert identity.group_tag(long_a) != identity.group_tag(long_b)


def test_server_names_and_the_pattern_that_recognises_them():
    assert identity.server_name("ci-%d.workers", 7) == "ci-7.workers"
    assert identity.server_name("ci", 7) == "ci-7"
    assert identity.render_name("a%db%d", 3) == "a3b%d"
    for template in ("ci-%d.workers", "ci", "x.y-%d"):
        pattern = identity.name_pattern(template)
        assert pattern.fullmatch(identity.server_name(template, 12))
        assert not pattern.fullmatch(identity.server_name(template, 12) + "x")
        assert identity.server_name(template, 5).startswith(identity.name_prefix(template))
    assert not identity.name_pattern("ci-%d.workers").fullmatch("ci-1Xworkers")
    assert identity.keypair_name("ci") == "fleeting-ci"
