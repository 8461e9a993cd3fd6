"""Vendor libraries through ctypes: SDT_* and CVR_* readers and the WLT photo decoder, tested against
a tiny fake shared library compiled here with the system C compiler."""

from __future__ import annotations

import ctypes
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from reader.errors import ReaderError, ReaderReason, StatusError
from reader.layouts import encode_text
from reader.card import CardType
from reader.samples import sample_card_path
from reader.transport import open_reader
from reader.wlt import HEIGHT_PX, RAW_SIZE, WIDTH_PX, WltDecoder, load_wlt_decoder

FAKE_C = r"""
#include <string.h>
static unsigned char text[256], photo[1024];
static int present = 0, sam = 0x90, opened = 0, read_status = 0x90;
void fake_set_card(const unsigned char *t, const unsigned char *p) { memcpy(text, t, 256); memcpy(photo, p, 1024); }
void fake_set(int card_present, int sam_status, int read_result) { present = card_present; sam = sam_status; read_status = read_result; }
int fake_opened(void) { return opened; }
/* standard SDT API: return value = SW3 */
int SDT_OpenPort(int port) { if (port != 1001) return 0x01; opened = 1; return 0x90; }
int SDT_ClosePort(int port) { opened = 0; return 0x90; }
int SDT_GetSAMStatus(int port, int ifopen) { return sam; }
int SDT_StartFindIDCard(int port, unsigned char *iin, int ifopen) { memset(iin, 0, 4); return present ? 0x9F : 0x80; }
int SDT_SelectIDCard(int port, unsigned char *sn, int ifopen) { memset(sn, 0, 8); return present ? 0x90 : 0x81; }
int SDT_ReadBaseMsg(int port, unsigned char *ch, unsigned int *chlen, unsigned char *ph, unsigned int *phlen, int ifopen) {
    if (read_status != 0x90) return read_status;
    memcpy(ch, text, 256); *chlen = 256; memcpy(ph, photo, 1024); *phlen = 1024; return 0x90; }
/* ChinaVision CVR API: 1 = success */
int CVR_InitComm(int port) { if (port != 1) return 0; opened = 1; return 1; }
int CVR_CloseComm(void) { opened = 0; return 1; }
int CVR_Authenticate(void) { return present ? 1 : 2; }
int CVR_GetSAMID(char *buf) { strcpy(buf, "05.01-20101025-0012345678-1234567890"); return sam == 0x90 ? 1 : 0; }
int CVR_ReadBaseMsg(unsigned char *ch, unsigned int *chlen, unsigned char *ph, unsigned int *phlen,
                    unsigned char *fp, unsigned int *fplen, int mode) {
    if (read_status != 0x90) return 0;
    memcpy(ch, text, 256); *chlen = 256; memcpy(ph, photo, 1024); *phlen = 1024; *fplen = 0; return 1; }
/* libwlt2bmp: 102 x 126 BGR, bottom row first; pixel (row r from the top, column c) = (r, c, wlt[0]) as RGB */
int wlt2bmp(const unsigned char *wlt, unsigned char *dst, int mode) {
    if (wlt[0] == 0xEE) return -4;
    for (int r = 0; r < 126; r++) for (int c = 0; c < 102; c++) {
        unsigned char *px = dst + ((125 - r) * 102 + c) * 3;
        px[0] = wlt[0]; px[1] = (unsigned char)c; px[2] = (unsigned char)r; }
    return 1; }
"""


@pytest.fixture(scope="module")
def fake_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build the fake vendor library")
    folder = tmp_path_factory.mktemp("fake-sdk")
    source, library = folder / "fake.c", folder / "libfakereader.so"
    source.write_text(FAKE_C)
    subprocess.run([compiler, "-shared", "-fPIC", "-O1", "-o", str(library), str(source)], check=True)
    return library


@pytest.fixture
def control(fake_library: Path) -> ctypes.CDLL:
    lib = ctypes.CDLL(str(fake_library))  # the same handle the backends get: shared static state
    fields = json.loads(sample_card_path("hk_mo_tw_permit").read_text(encoding="utf-8"))
    text = encode_text(CardType.HK_MO_TW_PERMIT, fields)
    lib.fake_set_card(text, bytes(range(256)) * 4)
    lib.fake_set(1, 0x90, 0x90)
    return lib


@pytest.mark.parametrize("url", ["sdtapi://{lib}?port=1001", "termb://{lib}?port=1"])
def test_vendor_backend_reads_the_card(url: str, fake_library: Path, control: ctypes.CDLL) -> None:
    reader = open_reader(url.format(lib=fake_library))
    try:
        reader.sam_status()
        assert reader.find_card() is True
        card = reader.read_card(find=False)
        assert card.card_type is CardType.HK_MO_TW_PERMIT and card.id_number == "810000195502140040"
        assert card.photo_wlt == bytes(range(256)) * 4
        control.fake_set(0, 0x90, 0x90)
        assert reader.find_card() is False
        with pytest.raises(StatusError) as info:
            reader.read_card()
        assert info.value.code == ReaderReason.NO_CARD
    finally:
        reader.close()
        reader.close()
    assert control.fake_opened() == 0


def test_sdt_status_words_map_to_reasons(fake_library: Path, control: ctypes.CDLL) -> None:
    reader = open_reader(f"sdtapi://{fake_library}?port=1001")
    try:
        control.fake_set(1, 0x90, 0x41)
        with pytest.raises(StatusError) as info:
            reader.read_card()
        assert info.value.code == ReaderReason.CARD_READ_FAILED
        control.fake_set(1, 0x90, 0x02)  # host-only code: timeout
        with pytest.raises(ReaderError) as info:
            reader.read_card()
        assert info.value.code == ReaderReason.READER_TIMEOUT
        control.fake_set(1, 0x60, 0x90)
        with pytest.raises(StatusError) as info:
            reader.sam_status()
        assert info.value.code == ReaderReason.SAM_NOT_READY
    finally:
        reader.close()


def test_bad_port_missing_library_and_missing_symbol(fake_library: Path, tmp_path: Path) -> None:
    with pytest.raises(ReaderError) as info:
        open_reader(f"sdtapi://{fake_library}?port=7")
    assert info.value.code == ReaderReason.READER_UNAVAILABLE
    with pytest.raises(ReaderError) as info:
        open_reader(f"termb://{tmp_path}/nope.so")
    assert info.value.code == ReaderReason.VENDOR_LIBRARY_UNAVAILABLE
    with pytest.raises(ReaderError) as info:
        open_reader("sdtapi://?port=1")
    assert info.value.code == ReaderReason.READER_URL_INVALID
    with pytest.raises(ReaderError) as info:
        open_reader(f"sdtapi://{fake_library}?port=x")
    assert info.value.code == ReaderReason.READER_URL_INVALID
    with pytest.raises(ReaderError) as info:
        WltDecoder(tmp_path / "missing.so")
    assert info.value.code == ReaderReason.WLT_DECODER_UNAVAILABLE


def test_library_without_the_api_is_refused(tmp_path: Path) -> None:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler")
    (tmp_path / "other.c").write_text("int something_else(void) { return 0; }\n")
    library = tmp_path / "libother.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-o", str(library), str(tmp_path / "other.c")], check=True)
    for url in (f"sdtapi://{library}", f"termb://{library}"):
        with pytest.raises(ReaderError) as info:
            open_reader(url)
        assert info.value.code == ReaderReason.VENDOR_LIBRARY_UNAVAILABLE
    with pytest.raises(ReaderError) as info:
        WltDecoder(library)
    assert info.value.code == ReaderReason.WLT_DECODER_UNAVAILABLE


def test_wlt_decoder_returns_rgb_top_down(fake_library: Path) -> None:
    decoder = load_wlt_decoder(str(fake_library))
    assert decoder is not None
    image = decoder.decode(bytes([7]) + bytes(1023))
    assert image.shape == (HEIGHT_PX, WIDTH_PX, 3) and image.dtype == np.uint8 and image.nbytes == RAW_SIZE
    assert tuple(image[0, 0]) == (0, 0, 7)        # top-left: row 0, column 0, blue = wlt[0]
    assert tuple(image[125, 101]) == (125, 101, 7)  # bottom-right: red = row, green = column


def test_wlt_decoder_errors(fake_library: Path) -> None:
    assert load_wlt_decoder("") is None and load_wlt_decoder("   ") is None
    decoder = WltDecoder(fake_library)
    for blob in (bytes(1000), bytes([0xEE]) + bytes(1023)):
        with pytest.raises(ReaderError) as info:
            decoder.decode(blob)
        assert info.value.code == ReaderReason.WLT_DECODE_FAILED
    with pytest.raises(ReaderError) as info:
        load_wlt_decoder(str(fake_library.parent / "fake.c"))  # exists, not a library
    assert info.value.code == ReaderReason.WLT_DECODER_UNAVAILABLE
