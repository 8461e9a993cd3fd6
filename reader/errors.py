"""Errors of the reader package: one base, :class:`ReaderError`, and every reason code it can carry.

The ``reader`` package knows nothing of the kiosk: it raises these, and the kiosk wraps them at the
boundary (``kiosk.errors.from_device_error`` keeps ``.code``). Codes are flat snake_case and stable;
only ``ui/`` turns them into words. The text of an exception is for technicians and logs: it never
contains a name, an ID number, an address or card bytes.
"""

from __future__ import annotations

from enum import StrEnum

from reader.idnumber import IdNumberProblem


class ReaderReason(StrEnum):
    """Every reason code the reader package reports (see ``docs/reader.md`` for each one)."""

    # The port and the module.
    READER_UNAVAILABLE = "reader_unavailable"            # port cannot be opened / unplugged / I/O error
    READER_TIMEOUT = "reader_timeout"                    # no complete answer within command_timeout_s
    READER_URL_INVALID = "reader_url_invalid"            # the configured URL cannot name a reader
    READER_TRANSMIT_FAILED = "reader_transmit_failed"    # vendor library: transmit error (host code 03)
    SAM_NOT_READY = "sam_not_ready"                      # SW3 60: SAM self-test failed
    SAM_NOT_AUTHORISED = "sam_not_authorised"            # SW3 66: SAM not authorised
    # Frames the host received.
    FRAME_CHECKSUM = "frame_checksum"                    # XOR checksum of an answer is wrong
    FRAME_LENGTH = "frame_length"                        # length field impossible or inconsistent
    FRAME_UNEXPECTED = "frame_unexpected"                # a well-formed answer that fits no command
    # Frames the SAM rejected (it says what was wrong with ours).
    COMMAND_CHECKSUM_REJECTED = "command_checksum_rejected"  # SW3 10
    COMMAND_LENGTH_REJECTED = "command_length_rejected"      # SW3 11
    COMMAND_REJECTED = "command_rejected"                    # SW3 21: bad command or parameter
    OPERATION_NOT_PERMITTED = "operation_not_permitted"      # SW3 23
    SAM_UNKNOWN_ERROR = "sam_unknown_error"                  # SW3 24
    SAM_STATUS_UNKNOWN = "sam_status_unknown"                # an SW3 missing from the protocol table
    # The card.
    NO_CARD = "no_card"                                  # SW3 80: find card failed
    CARD_SELECT_FAILED = "card_select_failed"            # SW3 81
    CARD_READ_FAILED = "card_read_failed"                # SW3 41: remove the card and place it again
    CARD_UNRECOGNISED = "card_unrecognised"              # SW3 40: not an ID card / wrong card
    CARD_AUTHENTICATION_FAILED = "card_authentication_failed"  # SW3 31/32: card and SAM disagree
    CARD_VERIFICATION_FAILED = "card_verification_failed"      # SW3 33: information verification
    CARD_RANDOM_FAILED = "card_random_failed"            # SW3 47: get-random failed
    CARD_ITEM_EMPTY = "card_item_empty"                  # SW3 91: e.g. no appended address
    CARD_TYPE_UNSUPPORTED = "card_type_unsupported"      # type flag at byte 248 is not ' ', I, J, Y
    CARD_TEXT_INVALID = "card_text_invalid"              # a code, date or length in the text is wrong
    CARD_FIELDS_INCONSISTENT = "card_fields_inconsistent"  # birth date / gender disagree with the number
    ID_NUMBER_FORMAT = IdNumberProblem.FORMAT.value
    ID_NUMBER_CHECK_DIGIT = IdNumberProblem.CHECK_DIGIT.value
    ID_NUMBER_BIRTH_DATE = IdNumberProblem.BIRTH_DATE.value
    ID_NUMBER_REGION = IdNumberProblem.REGION.value
    # The photo decoder and vendor libraries.
    WLT_DECODER_UNAVAILABLE = "wlt_decoder_unavailable"  # configured library missing or unusable
    WLT_DECODE_FAILED = "wlt_decode_failed"              # the library refused this photo
    VENDOR_LIBRARY_UNAVAILABLE = "vendor_library_unavailable"  # SDK .so missing or lacks a symbol
    # The simulator.
    SIM_CARD_INVALID = "sim_card_invalid"                # a simulator card file cannot be used


class ReaderError(Exception):
    """Base of every error the reader package raises; ``code`` is a :class:`ReaderReason` value.

    ``detail`` is a technician-facing English sentence without personal data.
    """

    def __init__(self, code: ReaderReason | str, detail: str = "") -> None:
        self.code = str(code)
        self.detail = detail or self.code
        super().__init__(self.detail if self.detail == self.code else f"{self.code}: {self.detail}")


class ReaderUnavailable(ReaderError):
    """The port or library cannot be opened, or it failed mid-conversation (unplugged)."""

    def __init__(self, detail: str = "", code: ReaderReason = ReaderReason.READER_UNAVAILABLE) -> None:
        super().__init__(code, detail)


class ReaderTimeout(ReaderError):
    """No complete answer arrived within the command timeout."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(ReaderReason.READER_TIMEOUT, detail)


class FrameError(ReaderError):
    """A received frame is corrupt: bad checksum, impossible length, or an answer to nothing.

    The frame parser *yields* these (it never raises them); the client raises the one that stands
    in place of the answer it waited for.
    """


class StatusError(ReaderError):
    """The SAM answered with a failure status word; ``sw3`` is the raw byte."""

    def __init__(self, code: ReaderReason, sw3: int, detail: str = "") -> None:
        self.sw3 = sw3
        super().__init__(code, detail or f"SAM status SW3=0x{sw3:02X}")


class CardDataError(ReaderError):
    """The card was read but its contents are not a valid card (text, type flag, ID number)."""


class UrlError(ReaderError):
    """A reader URL or a simulator card file cannot be used."""


# Device-level faults: the port or module is gone or deaf. The service reconnects on these; any
# other ReaderError during a read is a card-level failure reported for that placement only.
DEVICE_REASONS = frozenset(
    {
        ReaderReason.READER_UNAVAILABLE,
        ReaderReason.READER_TIMEOUT,
        ReaderReason.READER_TRANSMIT_FAILED,
        ReaderReason.SAM_NOT_READY,
        ReaderReason.SAM_NOT_AUTHORISED,
        ReaderReason.VENDOR_LIBRARY_UNAVAILABLE,
        ReaderReason.READER_URL_INVALID,
        ReaderReason.SIM_CARD_INVALID,
    }
)


def is_device_fault(error: ReaderError) -> bool:
    """True when ``error`` means the reader itself is unusable (reconnect), not just this card."""
    return error.code in DEVICE_REASONS
