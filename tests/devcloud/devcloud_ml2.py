"""Agentless ML2 mechanism driver for the devcloud (loaded by neutron-server).

Binds every port on every host at once (vif_type ``ovs``, status ACTIVE), so
Nova's fake virt driver gets real Neutron ports with real fixed IPs without
any L2 agent, Open vSwitch or OVN.  Nothing is plugged anywhere: the IPs
exist only in Neutron's database.

start copies this file to $DEVCLOUD_STATE/lib/ next to a hand-made
``devcloud_ml2-1.0.dist-info`` whose entry point registers it as
``neutron.ml2.mechanism_drivers: devcloud_noop`` (stevedore finds drivers
only through entry points).
"""
from neutron_lib import constants
from neutron_lib.api.definitions import portbindings
from neutron_lib.plugins.ml2 import api


class NoopBindMechanismDriver(api.MechanismDriver):
    """Bind each port to its first segment; no agent, no host check."""

    def initialize(self):
        pass

    @property
    def connectivity(self):
        return portbindings.CONNECTIVITY_L2

    def bind_port(self, context):
        for segment in context.segments_to_bind:
            context.set_binding(
                segment[api.ID],
                portbindings.VIF_TYPE_OVS,
                {portbindings.CAP_PORT_FILTER: True,
                 portbindings.OVS_HYBRID_PLUG: False},
                status=constants.PORT_STATUS_ACTIVE)
            return
