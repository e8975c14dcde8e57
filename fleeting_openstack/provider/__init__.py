"""The OpenStack instance group: decides and acts on servers through the openstack adapter,
behind the contract's InstanceGroup interface (``group.OpenStackProvider``, the orchestrator;
``states.assess``, the pure decision; see ``group``'s docstring for the other modules)."""
