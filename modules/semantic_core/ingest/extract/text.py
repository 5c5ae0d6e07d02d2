"""Decoding bytes to text: UTF-8 first, then charset detection for legacy encodings."""

from __future__ import annotations

import codecs
import re
import unicodedata

from modules.semantic_core.ingest.extract.base import UnsupportedFile

SNIFF_BYTES = 8192
# Share of control characters above which decoded "text" is really binary.
MAX_CONTROL_SHARE = 0.02
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_text(data: bytes | bytearray, strict_binary_check: bool = False) -> str:
    """Text from ``data``; ``UnsupportedFile`` if it is empty or binary. A ``bytearray``
    is emptied once decoded: the caller hands it over."""
    text = _decode(data, strict_binary_check)
    if isinstance(data, bytearray):
        data.clear()
    return text


def _decode(data: bytes | bytearray, strict_binary_check: bool) -> str:
    if not data.strip():
        raise UnsupportedFile("empty file")
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _normalise(data.decode(encoding, errors="replace"))
    if b"\x00" in data[:SNIFF_BYTES]:
        raise UnsupportedFile("binary file (contains NUL bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = _detect_and_decode(data)
    text = _without_terminal_formatting(text)
    if _looks_binary(text, strict_binary_check):
        raise UnsupportedFile("binary file (mostly control characters)")
    return _normalise(text)


# Encodings that real documents use. On short texts several code pages decode
# equally cleanly, and the detector may rank an exotic one first (hp_roman8 for
# German, say); among equally clean candidates, a common one wins.
_COMMON_ENCODINGS = frozenset(
    {
        "cp1252",
        "latin_1",
        "iso8859_15",
        "cp1250",
        "cp1251",
        "cp1253",
        "cp1254",
        "cp1255",
        "cp1256",
        "cp1257",
        "iso8859_2",
        "iso8859_5",
        "iso8859_7",
        "iso8859_9",
        "koi8_r",
        "koi8_u",
        "shift_jis",
        "cp932",
        "euc_jp",
        "iso2022_jp",
        "gb2312",
        "gbk",
        "gb18030",
        "big5",
        "euc_kr",
        "cp949",
        "utf_16",
        "utf_32",
        "mac_roman",
        "tis_620",
        "cp874",
    }
)
_CHAOS_TIE = 0.01


def _detect_and_decode(data: bytes) -> str:
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data))
    if not matches:
        raise UnsupportedFile("binary file (no text encoding fits)")
    cleanest = min(m.chaos for m in matches)
    tied = [m for m in matches if m.chaos <= cleanest + _CHAOS_TIE]
    common = [m for m in tied if m.encoding in _COMMON_ENCODINGS]
    return str((common or tied)[0])


# C0 and C1 control characters other than tab, newlines and form feed, surrogates,
# private use: what a decoder produces when it is fed binary data.
_CONTROL = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ud800-\udfff\ue000-\uf8ff]")


# Bold and underline as a terminal draws them: a character, a backspace, the character
# again (or ``_``, backspace, the character), and SGR colour codes. A man page saved with
# ``nroff -man`` or ``MAN_KEEP_FORMATTING`` is full of them; they would make it binary.
_OVERSTRUCK = re.compile("([^\n\x08])\x08(?=\\1)|_\x08(?=[^\n\x08])")
_SGR = re.compile("\x1b\\[[0-9;]*m")


def _without_terminal_formatting(text: str) -> str:
    """The text as a terminal shows it: overstrikes and colour codes taken out, lines
    unchanged."""
    if "\x08" in text:
        text = _OVERSTRUCK.sub("", text)
    if "\x1b[" in text:
        text = _SGR.sub("", text)
    return text


def _looks_binary(text: str, strict: bool) -> bool:
    sample = text[:SNIFF_BYTES]
    if not sample:
        return False
    controls = len(_CONTROL.findall(sample))
    limit = MAX_CONTROL_SHARE / 2 if strict else MAX_CONTROL_SHARE
    return controls / len(sample) > limit


def _normalise(text: str) -> str:
    """Unix newlines and composed characters, so offsets and matching are stable."""
    return unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
