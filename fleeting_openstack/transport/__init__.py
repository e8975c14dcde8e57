"""go-plugin transport: handshake, socket, AutoMTLS, go-plugin's own services, hclog logging.

Knows nothing of fleeting or OpenStack.
"""
