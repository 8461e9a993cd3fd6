"""Technician mode: the PIN pad, and the panel with the device, camera, reader, settings, sync,
statistics, enrolment, log and system pages. Every technician action is audited."""
