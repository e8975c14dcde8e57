"""fleeting-plugin-openstack: a GitLab fleeting plugin for OpenStack."""

__version__ = "0.1.0"
