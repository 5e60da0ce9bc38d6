"""Read any supported feed file into report batches, and write batches out.

Formats: ``avr``, ``beast``, ``modes-csv`` (ADS-B / Mode S), ``remoteid`` (a ``.pcap``
Wi-Fi capture, a ``.json`` F3411 ``/flights`` response, or text with one hex message or
message pack per line), ``ais`` (NMEA text), ``jt808`` (a binary TCP capture, or text
with one hex frame per line).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa

from kongtian.errors import ConfigError, FormatError
from kongtian.model.report import DecodeErrors


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise FormatError("no such file", path=str(path)) from None
    except IsADirectoryError:
        raise FormatError("is a directory", path=str(path)) from None


def _text(path: Path) -> str:
    data = _read_bytes(path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FormatError("not a text file", path=str(path)) from None


def _hex_lines(path: Path, errors: DecodeErrors, kind: str) -> list[bytes]:
    out = []
    first_bad = None
    for i, line in enumerate(_text(path).splitlines(), 1):
        s = line.strip().replace(" ", "")
        if not s or s.startswith("#"):
            continue
        try:
            out.append(bytes.fromhex(s))
        except ValueError:
            first_bad = first_bad or i
            errors.add(kind, "line is not hex", f"{path}:{i}: {line[:200]}")
    if not out and first_bad is not None:
        # Nothing at all decoded: the file is not this format, which is a file error.
        raise FormatError(
            f"expected one hex {kind} message per line", path=str(path), line=first_bad
        )
    return out


def decode_file(
    path: str | Path,
    fmt: str,
    *,
    ref: tuple[float, float] | None = None,
    ref_time_utc: Any = None,
    strict: bool = True,
) -> tuple[pa.Table, DecodeErrors]:
    """Decode ``path`` as ``fmt``; malformed messages are counted, unreadable files raise."""
    p = Path(path)
    if fmt in ("avr", "beast", "modes-csv"):
        from kongtian.traffic.decode import adsb

        if fmt == "avr":
            return adsb.read_avr(_text(p), ref_time_utc=ref_time_utc, ref=ref)
        if fmt == "beast":
            return adsb.read_beast(_read_bytes(p), ref_time_utc=ref_time_utc, ref=ref)
        _read_bytes(p)
        return adsb.read_modes_csv(p, ref=ref)
    if fmt == "ais":
        from kongtian.traffic.decode import ais

        return ais.read_nmea_file(p, ref_time_utc=ref_time_utc)
    if fmt == "remoteid":
        from kongtian.traffic.decode import remoteid

        if p.suffix.lower() in (".pcap", ".cap"):
            table, errors, _packs = remoteid.read_pcap(p, ref_time_utc=ref_time_utc)
            return table, errors
        if p.suffix.lower() == ".json":
            try:
                obj = json.loads(_text(p))
            except json.JSONDecodeError as exc:
                raise FormatError(f"not JSON: {exc.msg}", path=str(p), line=exc.lineno) from None
            return remoteid.read_network_flights(obj, now_utc=ref_time_utc)
        errors = DecodeErrors()
        msgs = _hex_lines(p, errors, "remoteid")
        if ref_time_utc is None:
            raise ConfigError(
                "hex Remote ID messages carry no date: give --ref-time", option="--ref-time"
            )
        table, errs = remoteid.read_messages(msgs, ref_time_utc=ref_time_utc)
        errors.merge(errs)
        return table, errors
    if fmt == "jt808":
        from kongtian.traffic.decode import jt808

        data = _read_bytes(p)
        errors = DecodeErrors()
        if data[:1] == b"\x7e":
            frames, leftover = jt808.split_frames(data)
            if leftover:
                errors.add("jt808", "incomplete frame at end of file", leftover[:64])
        else:
            frames = _hex_lines(p, errors, "jt808")
        table, errs, _msgs = jt808.read_frames(frames, strict=strict)
        errors.merge(errs)
        return table, errors
    raise ConfigError(f"unknown format {fmt!r}", option="--format")


def write_reports(table: pa.Table, path: str | Path) -> None:
    """Write reports as JSON Lines (times ISO-8601 Z) or Parquet, by extension."""
    p = Path(path)
    if p.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, p, compression="zstd")
        return
    import pyarrow.compute as pc

    cols = {name: table.column(name) for name in table.column_names}
    t = pc.strftime(cols["time_utc"], format="%Y-%m-%dT%H:%M:%SZ", locale="C")
    rows = table.set_column(table.column_names.index("time_utc"), "time_utc", t).to_pylist()
    with p.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, default=_default, ensure_ascii=False) + "\n")


def _default(x: Any) -> Any:
    if isinstance(x, bytes):
        return x.hex()
    return str(x)
