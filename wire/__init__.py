"""The wire contract between a terminal and the provincial centre, in the one place both sides import.

``docs/sync-protocol.yaml`` is the normative text; these modules are its executable form, used by
the terminal (``kiosk/sync/``) and the reference centre (``center/``) alike, so that the two cannot
disagree on a field, a limit, a byte of a signature or a row of a roster file:

* :mod:`wire.api`: paths, limits, the device id rule;
* :mod:`wire.codes`: the reason-code shape and the codes the centre answers with;
* :mod:`wire.canonical`: canonical JSON (what a record signature covers);
* :mod:`wire.signing`: request HMACs and Ed25519 record signatures;
* :mod:`wire.template_codec`: reference templates on the wire (128 x float32, base64);
* :mod:`wire.result_record`: the certification result record, its batch and receipts;
* :mod:`wire.schemas`: enrolment, roster pages, heartbeats, error bodies;
* :mod:`wire.roster_csv`: the roster file format (``id_number,name,last_certified,photo``).

This package imports nothing of the project (no ``kiosk``, ``center``, ``ui``, ``camera`` or
``reader``; ``tests/test_architecture.py`` checks it): where a rule lives elsewhere, it is handed
in (the ID number rule of :mod:`reader.idnumber`, see :func:`wire.roster_csv.parse_roster`).
Submodules are imported explicitly; importing ``wire`` itself loads nothing.
"""
