"""The roster of pensioners and their face references (templates), kept apart from each other.

A pensioner row holds identity data and a random ``person_key``; a reference row holds only that
key, where the template came from, and the template encrypted with the device key (associated data
``ref:<ref_id>:<person_key>``, so a template cannot be moved to another person unnoticed).
"""

from __future__ import annotations

import logging
import re
import secrets
from datetime import date, timedelta

import numpy as np

from kiosk.errors import KeyUnavailableError, StorageError
from kiosk.reasons import Outcome
from kiosk.store.base import StoreBase, day_or_none, utc_text
from kiosk.store.models import REFERENCE_SOURCES, Pensioner, RefId, UpsertResult
from kiosk.store.models import new_record_id as _new_uuid

log = logging.getLogger(__name__)

MAX_TEMPLATE_DIMS = 4096  # dlib descriptors have 128; anything far larger is a caller's mistake
MAX_REFERENCES_PER_PERSON = 16  # bounds the 1:1 comparison time per session
ROSTER_DERIVED_SOURCES = frozenset({"roster_photo", "center", "live_refresh"})
"""References that stand or fall with the roster photo: the template built from it here, the one the
centre built from its copy, and live captures of people certified against it. When the photo is
corrected (it may have shown somebody else) they all go; a chip photo or a staff enrolment stays."""
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def _template_bytes(template: np.ndarray) -> tuple[bytes, int]:
    array = np.asarray(template, dtype="<f8")
    if array.ndim != 1 or not 1 <= array.size <= MAX_TEMPLATE_DIMS:
        raise ValueError(f"a template is a 1-D vector of 1-{MAX_TEMPLATE_DIMS} numbers")
    if not np.all(np.isfinite(array)):
        raise ValueError("a template must contain finite numbers only")
    return array.tobytes(), int(array.size)


def _aad(ref_id: str, person_key: str) -> bytes:
    return f"ref:{ref_id}:{person_key}".encode()


class PensionersMixin(StoreBase):
    """Pensioners and face references (part of :class:`kiosk.store.Store`)."""

    # -- pensioners ---------------------------------------------------------------------------

    def upsert_pensioner(self, pensioner: Pensioner) -> UpsertResult:
        """Inserts or updates one roster entry; returns what happened.

        ``last_certified`` never moves backwards here: a roster exported before this terminal
        certified the person must not undo that certification (use :meth:`set_last_certified` to
        correct a date on purpose). A ``photo_path`` of None keeps the stored one.
        Raises StorageError / StorageFullError.
        """
        with self.transaction():
            row = self._one(
                "SELECT name, region_code, last_certified, photo_path FROM pensioners WHERE id_number = ?",
                (pensioner.id_number,),
            )
            if row is None:
                self._db.execute(
                    "INSERT INTO pensioners (id_number, name, region_code, last_certified, photo_path, person_key, "
                    "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (pensioner.id_number, pensioner.name, pensioner.region_code, _iso(pensioner.last_certified),
                     pensioner.photo_path, secrets.token_hex(16), self._now_text()),
                )
                return "inserted"
            stored_last = day_or_none(row[2])
            last = max(filter(None, (stored_last, pensioner.last_certified)), default=None)
            photo = pensioner.photo_path if pensioner.photo_path is not None else row[3]
            new = (pensioner.name, pensioner.region_code, _iso(last), photo)
            if new == tuple(row):
                return "unchanged"
            self._db.execute(
                "UPDATE pensioners SET name = ?, region_code = ?, last_certified = ?, photo_path = ?, updated_at = ? "
                "WHERE id_number = ?",
                (*new, self._now_text(), pensioner.id_number),
            )
            return "updated"

    def get_pensioner(self, id_number: str) -> Pensioner | None:
        """The roster entry for ``id_number`` (normalised to upper case), None when not in the roster."""
        row = self._one(
            "SELECT id_number, name, region_code, last_certified, photo_path FROM pensioners WHERE id_number = ?",
            (id_number.strip().upper(),),
        )
        if row is None:
            return None
        return Pensioner(row[0], row[1], row[2], day_or_none(row[3]), row[4])

    def remove_pensioner(self, id_number: str) -> bool:
        """Removes a roster entry and its face references (biometrics never outlive the entry).

        Certification records are kept (they are the audit trail). Returns False when not found.
        """
        with self.transaction():
            key = self._person_key(id_number)
            if key is None:
                return False
            self._db.execute("DELETE FROM face_references WHERE person_key = ?", (key,))
            self._db.execute("DELETE FROM pensioners WHERE person_key = ?", (key,))
            return True

    def set_last_certified(self, id_number: str, day: date | None) -> bool:
        """Sets the last certification date exactly (may move it back). Returns False when not found."""
        with self.transaction():
            cursor = self._db.execute(
                "UPDATE pensioners SET last_certified = ?, updated_at = ? WHERE id_number = ?",
                (_iso(day), self._now_text(), id_number.strip().upper()),
            )
            return cursor.rowcount > 0

    def pensioner_count(self) -> int:
        """How many people the roster holds."""
        row = self._one("SELECT count(*) FROM pensioners")
        return int(row[0]) if row else 0

    def _person_key(self, id_number: str) -> str | None:
        row = self._one("SELECT person_key FROM pensioners WHERE id_number = ?", (id_number.strip().upper(),))
        return row[0] if row else None

    def _require_person_key(self, id_number: str) -> str:
        key = self._person_key(id_number)
        if key is None:
            # Same code as the flow's outcome: it is the same fact (the number is not in the roster).
            raise StorageError("a face reference was given for a number not in the roster", code=Outcome.NOT_IN_ROSTER)
        return key

    # -- face references ----------------------------------------------------------------------

    def add_reference(self, id_number: str, template: np.ndarray, source: str) -> RefId:
        """Stores one encrypted face template for a pensioner; returns its reference id.

        ``template``: 1-D float vector (dlib: 128 numbers), stored as float64. ``source``: one of
        :data:`~kiosk.store.models.REFERENCE_SOURCES`. Raises ValueError for a bad template or
        source, StorageError (code ``not_in_roster``) for an unknown number,
        KeyUnavailableError without a device key, StorageError / StorageFullError on write failure.
        """
        if source not in REFERENCE_SOURCES:
            raise ValueError(f"source must be one of {sorted(REFERENCE_SOURCES)}")
        plain, dims = _template_bytes(template)
        key = self._require_key()
        with self.transaction():
            person_key = self._require_person_key(id_number)
            count = self._one("SELECT count(*) FROM face_references WHERE person_key = ?", (person_key,))
            if count and count[0] >= MAX_REFERENCES_PER_PERSON:
                raise ValueError(f"at most {MAX_REFERENCES_PER_PERSON} references per person; replace them instead")
            ref_id = RefId(_new_uuid())
            self._db.execute(
                "INSERT INTO face_references (ref_id, person_key, source, created_at, key_id, dims, ciphertext) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (ref_id, person_key, source, self._now_text(), key.key_id, dims,
                 key.seal(plain, _aad(ref_id, person_key))),
            )
        log.info("reference %s stored (source %s)", ref_id, source)
        return ref_id

    def references(self, id_number: str) -> list[np.ndarray]:
        """The decrypted face templates of a pensioner, oldest first ([] when none or not in the roster).

        Templates sealed with another key (the key was lost and replaced) are skipped; when none
        of the stored ones opens, raises :class:`KeyUnavailableError`: the person needs re-enrolment.
        The arrays are fresh float64 copies; do not log them.
        """
        person_key = self._person_key(id_number)
        if person_key is None:
            return []
        rows = self._all(
            "SELECT ref_id, ciphertext FROM face_references WHERE person_key = ? ORDER BY created_at, rowid",
            (person_key,),
        )
        if not rows:
            return []
        key = self._require_key()
        templates: list[np.ndarray] = []
        for ref_id, blob in rows:
            try:
                templates.append(np.frombuffer(key.open(blob, _aad(ref_id, person_key)), dtype="<f8").copy())
            except KeyUnavailableError:
                log.warning("reference %s does not open with the device key", ref_id)
        if not templates:
            raise KeyUnavailableError(
                "no stored face reference of this person opens with the device key; re-enrol the person"
            )
        return templates

    def replace_references(self, id_number: str, templates: list[np.ndarray], source: str) -> list[RefId]:
        """Replaces all references of a pensioner with ``templates`` in one transaction.

        An empty list removes them. Raises as :meth:`add_reference`; on error nothing changes.
        """
        with self.transaction():
            self._db.execute(
                "DELETE FROM face_references WHERE person_key = ?", (self._require_person_key(id_number),)
            )
            return [self.add_reference(id_number, template, source) for template in templates]

    def sourced_references(self, id_number: str) -> list[tuple[str, np.ndarray]]:
        """(source, decrypted template) of each reference of a pensioner, oldest first; as
        :meth:`references` (skips templates sealed with another key, raises
        :class:`KeyUnavailableError` when none opens). The order is the matcher's order."""
        person_key = self._person_key(id_number)
        if person_key is None:
            return []
        rows = self._all(
            "SELECT ref_id, source, ciphertext FROM face_references WHERE person_key = ? ORDER BY created_at, rowid",
            (person_key,),
        )
        if not rows:
            return []
        key = self._require_key()
        found: list[tuple[str, np.ndarray]] = []
        for ref_id, source, blob in rows:
            try:
                found.append((source, np.frombuffer(key.open(blob, _aad(ref_id, person_key)), dtype="<f8").copy()))
            except KeyUnavailableError:
                log.warning("reference %s does not open with the device key", ref_id)
        if not found:
            raise KeyUnavailableError(
                "no stored face reference of this person opens with the device key; re-enrol the person"
            )
        return found

    def expire_live_references(self, id_number: str, max_age_days: int) -> int:
        """Deletes the person's ``live_refresh`` references older than ``max_age_days``; returns
        how many went (0 for a number not in the roster). Official references never expire here."""
        cutoff = utc_text(self._clock.now() - timedelta(days=max_age_days))
        with self.transaction():
            person_key = self._person_key(id_number)
            if person_key is None:
                return 0
            return self._db.execute(
                "DELETE FROM face_references WHERE person_key = ? AND source = 'live_refresh' AND created_at < ?",
                (person_key, cutoff),
            ).rowcount

    def refresh_live_reference(self, id_number: str, template: np.ndarray, *, max_live: int = 1) -> RefId:
        """Keeps ``template`` (the live face of a successful certification) as a ``live_refresh``
        reference of the person; beyond ``max_live`` of them the oldest go. Official references stay.

        Faces age between cycles: a recent capture beside the roster or chip photo keeps genuine
        pensioners matching. Whether a certification earns one is decided by
        :mod:`kiosk.live_references`. Raises as :meth:`add_reference`, ValueError for
        ``max_live`` < 1; on error nothing changes.
        """
        if max_live < 1:
            raise ValueError("max_live must be at least 1")
        with self.transaction():
            person_key = self._require_person_key(id_number)
            live = self._all(
                "SELECT ref_id FROM face_references WHERE person_key = ? AND source = 'live_refresh' "
                "ORDER BY created_at, rowid", (person_key,))
            for (ref_id,) in live[:max(0, len(live) - (max_live - 1))]:
                self._db.execute("DELETE FROM face_references WHERE ref_id = ?", (ref_id,))
            return self.add_reference(id_number, template, "live_refresh")

    def remove_references(self, id_number: str, *, source: str | None = None) -> int:
        """Deletes the references of a pensioner (only those from ``source`` when given); returns
        how many there were (0 for a number not in the roster)."""
        with self.transaction():
            person_key = self._person_key(id_number)
            if person_key is None:
                return 0
            if source is None:
                return self._db.execute("DELETE FROM face_references WHERE person_key = ?", (person_key,)).rowcount
            return self._db.execute("DELETE FROM face_references WHERE person_key = ? AND source = ?",
                                    (person_key, source)).rowcount

    def roster_photo_sha256(self, id_number: str) -> str | None:
        """The SHA-256 (hex) of the roster photo the person's roster reference was built from; None
        when there is none, or it was built before hashes were kept (schema 0002)."""
        row = self._one("SELECT roster_photo_sha256 FROM pensioners WHERE id_number = ?",
                        (id_number.strip().upper(),))
        return row[0] if row else None

    def set_roster_reference(self, id_number: str, template: np.ndarray, photo_sha256: str) -> RefId:
        """Makes ``template`` (built from the roster photo whose content hashes to ``photo_sha256``)
        the person's roster reference, in one transaction.

        Every reference derived from an earlier roster photo goes with it (see
        :data:`ROSTER_DERIVED_SOURCES`); a chip photo or a staff enrolment stays. Raises as
        :meth:`add_reference`, ValueError for a hash that is not 64 hex digits; on error nothing changes.
        """
        if not _SHA256_HEX.match(photo_sha256):
            raise ValueError("photo_sha256 must be 64 lower-case hex digits")
        with self.transaction():
            self._drop_roster_derived(id_number)
            ref_id = self.add_reference(id_number, template, "roster_photo")
            self._db.execute("UPDATE pensioners SET roster_photo_sha256 = ? WHERE id_number = ?",
                             (photo_sha256, id_number.strip().upper()))
            return ref_id

    def drop_roster_references(self, id_number: str) -> int:
        """Deletes every reference derived from the person's roster photo and forgets its hash (the
        photo changed, or can no longer give a template); returns how many references went."""
        with self.transaction():
            dropped = self._drop_roster_derived(id_number)
            self._db.execute("UPDATE pensioners SET roster_photo_sha256 = NULL WHERE id_number = ?",
                             (id_number.strip().upper(),))
        if dropped:
            log.info("%d references derived from an outdated roster photo removed", dropped)
        return dropped

    def _drop_roster_derived(self, id_number: str) -> int:
        person_key = self._require_person_key(id_number)
        marks = ", ".join("?" for _ in ROSTER_DERIVED_SOURCES)
        return self._db.execute(f"DELETE FROM face_references WHERE person_key = ? AND source IN ({marks})",
                                (person_key, *sorted(ROSTER_DERIVED_SOURCES))).rowcount

    def has_reference(self, id_number: str) -> bool:
        """True when the person has a reference this terminal can use, decided without decryption.

        Only references sealed with the current device key count (compared by key fingerprint): after
        a key loss the answer is False, so the flow asks for staff enrolment before the person goes
        through the liveness check, instead of failing at the match.
        """
        if self._key is None:
            return False
        row = self._one(
            "SELECT 1 FROM face_references r JOIN pensioners p ON p.person_key = r.person_key "
            "WHERE p.id_number = ? AND r.key_id = ? LIMIT 1",
            (id_number.strip().upper(), self._key.key_id),
        )
        return row is not None

    def reference_count(self, id_number: str) -> dict[str, int]:
        """A person's references: ``total`` and how many are ``unreadable`` with the current key."""
        row = self._one(
            "SELECT count(*), sum(r.key_id IS NOT ?) FROM face_references r "
            "JOIN pensioners p ON p.person_key = r.person_key WHERE p.id_number = ?",
            (self.key_id, id_number.strip().upper()),
        )
        return {"total": int(row[0]) if row else 0, "unreadable": int(row[1] or 0) if row else 0}

    def verify_references(self, sample: int) -> int:
        """Decrypts up to ``sample`` templates sealed with the current key; returns how many opened.

        For the doctor: proves the key really opens the data (a matching fingerprint alone does
        not catch altered rows). Raises KeyUnavailableError when one does not open.
        """
        key = self._require_key()
        rows = self._all(
            "SELECT ref_id, person_key, ciphertext FROM face_references WHERE key_id = ? ORDER BY rowid LIMIT ?",
            (key.key_id, sample),
        )
        for ref_id, person_key, blob in rows:
            key.open(blob, _aad(ref_id, person_key))
        return len(rows)

    def reference_counts(self) -> dict[str, int]:
        """``total`` references and how many are ``unreadable`` with the current key (for the doctor)."""
        total = self._one("SELECT count(*) FROM face_references")
        readable = self._one("SELECT count(*) FROM face_references WHERE key_id = ?", (self.key_id or "",))
        total_n = int(total[0]) if total else 0
        return {"total": total_n, "unreadable": total_n - (int(readable[0]) if readable else 0)}


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None
