"""Adapters from the device packages (reader, camera, matcher) to the controller's ports.

Each adapter turns a device's own events and results into flow events (``kiosk.flow``) and applies
the business checks that belong to the kiosk (an expired card is refused here, not in the reader).
"""
