"""The OpenStack instance group: decides and acts on servers through the openstack adapter, behind the contract's InstanceGroup interface."""
