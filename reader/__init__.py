"""The ID card reader: the SAM_V serial protocol, card layouts, transports, a simulator, a service.

Knows nothing of the kiosk or Qt. Protocol code is bytes in, typed values out; I/O lives apart.
"""
