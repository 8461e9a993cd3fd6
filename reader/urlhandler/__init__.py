"""pyserial URL handlers of the reader package (``sim://``); registered by :mod:`reader.transport`.

pyserial looks up ``<package>.protocol_<scheme>`` in ``serial.protocol_handler_packages``.
"""
