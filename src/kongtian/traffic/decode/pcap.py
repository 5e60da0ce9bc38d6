"""Minimal reader for classic libpcap capture files (not pcapng).

Only what the broadcast decoders need: the link type and, per packet, the capture time
(UTC, nanoseconds since 1970) and the captured bytes. Both byte orders and both the
microsecond (``a1b2c3d4``) and nanosecond (``a1b23c4d``) variants are read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from kongtian.errors import FormatError

LINKTYPE_IEEE802_11 = 105
LINKTYPE_IEEE802_11_RADIOTAP = 127

_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1000),
    b"\xa1\xb2\xc3\xd4": (">", 1000),
    b"\x4d\x3c\xb2\xa1": ("<", 1),
    b"\xa1\xb2\x3c\x4d": (">", 1),
}


@dataclass
class PcapFile:
    """Packets of one capture: ``time_ns`` (UTC ns since 1970) and ``data`` per packet."""

    linktype: int
    time_ns: list[int]
    data: list[bytes]
    truncated_tail: bool  # the last record was cut short (capture killed mid-write)


def read_pcap_file(path: str | Path) -> PcapFile:
    """Read a whole classic pcap file; :class:`FormatError` if it is not one."""
    p = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise FormatError(f"cannot read capture: {exc}", path=p) from exc
    if len(raw) < 24:
        raise FormatError("too short for a pcap global header (24 bytes)", path=p)
    magic = raw[:4]
    if magic == b"\x0a\x0d\x0d\x0a":
        raise FormatError("pcapng is not supported; convert with `editcap -F pcap`", path=p)
    if magic not in _MAGICS:
        raise FormatError(f"not a pcap file (magic {magic.hex()})", path=p)
    endian, frac_ns = _MAGICS[magic]
    linktype = struct.unpack_from(endian + "I", raw, 20)[0] & 0x0FFFFFFF
    times: list[int] = []
    data: list[bytes] = []
    off = 24
    truncated = False
    rec = struct.Struct(endian + "IIII")
    while off < len(raw):
        if off + 16 > len(raw):
            truncated = True
            break
        sec, frac, incl, _orig = rec.unpack_from(raw, off)
        off += 16
        if off + incl > len(raw):
            truncated = True
            break
        times.append(sec * 1_000_000_000 + frac * frac_ns)
        data.append(raw[off : off + incl])
        off += incl
    return PcapFile(linktype, times, data, truncated)
