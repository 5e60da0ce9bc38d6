"""OMM (CCSDS) reading and writing, checked against CelesTrak's files and python-sgp4.

Truth: 500 Starlink GP records in CelesTrak's JSON exactly as served (tests/data), the
MARIO element set in CelesTrak's XML, CSV and TLE shapes (from python-sgp4's tests),
and python-sgp4's own ``sgp4.omm.initialize`` / ``parse_csv`` / ``parse_xml``.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from sgp4 import omm as sgp4_omm
from sgp4.api import Satrec, SatrecArray

from kongtian.errors import ConfigError, FormatError
from kongtian.space.catalog import Catalog, load_catalog, save_catalog
from kongtian.space.omm import detect_format, format_omm, parse_omm
from kongtian.space.tle import parse_tle

from ..conftest import DATA

STARLINK_JSON = DATA / "starlink_omm_2024-05-20_starperf_first500.json"
MARIO = DATA / "celestrak_gp_55123_mario"
_SATREC_ATTRS = [
    a for a in dir(Satrec()) if not a.startswith("_") and not callable(getattr(Satrec(), a))
]
_ARRAYS = (
    "name", "norad_id", "epoch_utc", "inclination_deg", "raan_deg", "eccentricity",
    "arg_perigee_deg", "mean_anomaly_deg", "mean_motion_rev_day", "bstar_per_earth_radii",
    "ndot_rev_day2", "nddot_rev_day3", "intl_designator", "classification",
    "element_set_no", "rev_at_epoch",
)  # fmt: skip


def satrec_diff(a: Satrec, b: Satrec) -> list[str]:
    out = []
    for name in _SATREC_ATTRS:
        x, y = getattr(a, name), getattr(b, name)
        if x != y and not (isinstance(x, float) and math.isnan(x) and math.isnan(y)):
            out.append(f"{name}: {x!r} != {y!r}")
    return out


def oracle(fields: dict) -> Satrec:
    sat = Satrec()
    sgp4_omm.initialize(sat, fields)
    return sat


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return json.loads(STARLINK_JSON.read_text())


@pytest.fixture(scope="module")
def starlink() -> Catalog:
    return parse_omm(STARLINK_JSON.read_text(), path=str(STARLINK_JSON), group="starlink")


def assert_same_catalog(a: Catalog, b: Catalog) -> None:
    for f in _ARRAYS:
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)
    for x, y in zip(a.satrecs, b.satrecs, strict=True):
        assert satrec_diff(x, y) == []


# ----------------------------------------------------------------------------- JSON
def test_json_satrecs_equal_sgp4_initialize(records: list[dict], starlink: Catalog) -> None:
    assert len(starlink) == len(records) == 500
    for rec, sat in zip(records, starlink.satrecs, strict=True):
        assert satrec_diff(sat, oracle(rec)) == [], rec["OBJECT_NAME"]


def test_json_positions_equal_sgp4_initialize(records: list[dict], starlink: Catalog) -> None:
    jd = 2460450.5 + np.array([0.0, 0.0, 1.0, 3.0, -2.0])
    fr = np.array([0.1, 0.73, 0.5, 0.25, 0.9])
    # SatrecArray propagates copies, so the shared fixture's satrecs keep their state.
    e1, r1, v1 = SatrecArray(starlink.satrecs).sgp4(jd, fr)
    e2, r2, v2 = SatrecArray([oracle(rec) for rec in records]).sgp4(jd, fr)
    assert not e1.any()
    np.testing.assert_array_equal(e1, e2)
    np.testing.assert_array_equal(r1, r2)
    np.testing.assert_array_equal(v1, v2)


def test_json_values_and_epochs_as_written(records: list[dict], starlink: Catalog) -> None:
    assert starlink.name.tolist() == [r["OBJECT_NAME"] for r in records]
    assert starlink.norad_id.tolist() == [r["NORAD_CAT_ID"] for r in records]
    np.testing.assert_array_equal(starlink.mean_motion_rev_day, [r["MEAN_MOTION"] for r in records])
    np.testing.assert_array_equal(starlink.inclination_deg, [r["INCLINATION"] for r in records])
    np.testing.assert_array_equal(starlink.ndot_rev_day2, [r["MEAN_MOTION_DOT"] for r in records])
    # numpy's own ISO parser keeps the microseconds python-sgp4 reads.
    ref = np.array([r["EPOCH"] for r in records], dtype="datetime64[ns]")
    np.testing.assert_array_equal(starlink.epoch_utc, ref)
    assert starlink.epoch_utc[0] == np.datetime64("2024-05-20T13:33:20.193984")
    assert starlink.intl_designator.tolist() == [s.intldesg for s in starlink.satrecs]
    assert starlink.intl_designator[0] == "19074A"
    assert set(starlink.group.tolist()) == {"starlink"}


def test_json_written_exactly_as_celestrak_serves_it(starlink: Catalog) -> None:
    assert format_omm(starlink, "json").rstrip("\n") == STARLINK_JSON.read_text().rstrip("\n")


# ----------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("fmt", ["json", "csv", "xml", "kvn"])
def test_written_omm_reads_back_identically(starlink: Catalog, fmt: str) -> None:
    text = format_omm(starlink, fmt)  # type: ignore[arg-type]
    assert detect_format(text) == fmt
    assert_same_catalog(parse_omm(text), starlink)


def test_python_sgp4_reads_our_csv(starlink: Catalog) -> None:
    rows = list(sgp4_omm.parse_csv(io.StringIO(format_omm(starlink, "csv"))))
    assert len(rows) == 500
    for row, sat, name in zip(rows, starlink.satrecs, starlink.name, strict=True):
        assert row["OBJECT_NAME"] == name
        assert satrec_diff(oracle(row), sat) == []


def test_python_sgp4_reads_our_xml(starlink: Catalog) -> None:
    segments = list(sgp4_omm.parse_xml(io.StringIO(format_omm(starlink, "xml"))))
    assert len(segments) == 500
    for fields, sat in zip(segments, starlink.satrecs, strict=True):
        assert fields["REF_FRAME"] == "TEME" and fields["MEAN_ELEMENT_THEORY"] == "SGP4"
        assert satrec_diff(oracle(fields), sat) == []


def test_tle_catalog_written_as_omm_matches_twoline2rv() -> None:
    # TLE -> OMM -> catalog: the satrecs must still be the TLE's (MARIO has every field
    # non-zero, which is why python-sgp4 chose it).
    _, l1, l2 = MARIO.with_suffix(".tle").read_text().splitlines()
    tle_cat = parse_tle(MARIO.with_suffix(".tle").read_text())
    for fmt in ("json", "csv", "xml", "kvn"):
        back = parse_omm(format_omm(tle_cat, fmt))  # type: ignore[arg-type]
        assert back.intl_designator[0] == "98067UQ"
        assert satrec_diff(back.satrecs[0], Satrec.twoline2rv(l1, l2)) == [], fmt


# ----------------------------------------------------------------------------- CelesTrak XML/CSV
@pytest.mark.parametrize("ext", [".xml", ".csv"])
def test_celestrak_xml_and_csv_match_their_tle(ext: str) -> None:
    _, l1, l2 = MARIO.with_suffix(".tle").read_text().splitlines()
    path = MARIO.with_suffix(ext)
    cat = load_catalog(path)
    assert cat.name.tolist() == ["MARIO"] and cat.norad_id.tolist() == [55123]
    assert cat.bstar_per_earth_radii[0] == 0.1568e-2  # written '.1568E-2'
    assert satrec_diff(cat.satrecs[0], Satrec.twoline2rv(l1, l2)) == []
    parser = sgp4_omm.parse_xml if ext == ".xml" else sgp4_omm.parse_csv
    with path.open() as fh:
        assert satrec_diff(cat.satrecs[0], oracle(next(iter(parser(fh))))) == []


def test_namespaced_xml_and_dayofyear_epoch() -> None:
    text = MARIO.with_suffix(".xml").read_text()
    text = text.replace("<ndm ", '<ndm xmlns="urn:ccsds:schema:ndmxml" ')
    text = text.replace("2023-04-25T10:45:30.642912", "2023-115T10:45:30.642912Z")
    cat = parse_omm(text)
    assert cat.epoch_utc[0] == np.datetime64("2023-04-25T10:45:30.642912")
    assert satrec_diff(cat.satrecs[0], load_catalog(MARIO.with_suffix(".xml")).satrecs[0]) == []


def test_string_numbers_and_large_catalog_numbers(records: list[dict]) -> None:
    # Space-Track serves every value as a string; 9-digit catalog numbers exist in OMM.
    rec = {k: str(v) for k, v in records[0].items()}
    rec["NORAD_CAT_ID"] = "400000"
    cat = parse_omm(json.dumps([rec]))
    assert cat.norad_id[0] == 400000 and cat.satrecs[0].satnum == 0
    back = parse_omm(format_omm(cat, "json"))
    assert back.norad_id[0] == 400000
    ref = oracle({**records[0], "NORAD_CAT_ID": 0})
    assert satrec_diff(cat.satrecs[0], ref) == []


# ----------------------------------------------------------------------------- errors
def test_missing_mean_motion_json_names_field_and_record(records: list[dict]) -> None:
    bad = [dict(r) for r in records[:5]]
    del bad[3]["MEAN_MOTION"]
    with pytest.raises(FormatError) as exc:
        parse_omm(json.dumps(bad), path="gp.json")
    msg = str(exc.value)
    assert msg.startswith("gp.json: ")
    assert "JSON record [3]" in msg and "MEAN_MOTION is missing" in msg
    assert records[3]["OBJECT_NAME"] in msg


def test_non_numeric_json_value(records: list[dict]) -> None:
    bad = [dict(r) for r in records[:2]]
    bad[1]["ECCENTRICITY"] = "0.000l2"
    with pytest.raises(FormatError, match=r"JSON record \[1\].*ECCENTRICITY is not a number"):
        parse_omm(json.dumps(bad))


def test_missing_mean_motion_csv_names_file_and_line(starlink: Catalog, tmp_path: Path) -> None:
    lines = format_omm(starlink[:4], "csv").splitlines()
    col = lines[0].split(",").index("MEAN_MOTION")
    cells = lines[3].split(",")
    cells[col] = ""
    lines[3] = ",".join(cells)
    p = tmp_path / "gp.csv"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(FormatError) as exc:
        load_catalog(p)
    assert f"{p}:4:" in str(exc.value) and "MEAN_MOTION is missing" in str(exc.value)
    assert exc.value.line == 4


def test_csv_without_a_required_column(starlink: Catalog) -> None:
    text = format_omm(starlink[:2], "csv").replace("BSTAR", "B_STAR", 1)
    with pytest.raises(FormatError, match=r"gp.csv:1: CSV header has no BSTAR column"):
        parse_omm(text, path="gp.csv")


def test_missing_mean_motion_xml_names_segment_and_line(starlink: Catalog) -> None:
    text = format_omm(starlink[:3], "xml")
    seg2 = text.index("<segment>", text.index("<segment>") + 1)
    start = text.index("<MEAN_MOTION>", seg2)
    stop = text.index("</MEAN_MOTION>", start) + len("</MEAN_MOTION>")
    text = text[:start] + text[stop:]
    line = text.count("\n", 0, seg2) + 1
    with pytest.raises(FormatError) as exc:
        parse_omm(text, path="gp.xml")
    msg = str(exc.value)
    assert f"gp.xml:{line}: XML segment 2" in msg and "MEAN_MOTION is missing" in msg


def test_xml_field_errors_point_at_the_field_line() -> None:
    text = MARIO.with_suffix(".xml").read_text()
    text = text.replace(
        "<INCLINATION>51.6242</INCLINATION>", "\n<INCLINATION>51.6x42</INCLINATION>"
    )
    with pytest.raises(FormatError) as exc:
        parse_omm(text, path="mario.xml")
    assert exc.value.line == text[: text.index("<INCLINATION>")].count("\n") + 1
    assert "INCLINATION is not a number" in str(exc.value)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"EPOCH": "2024-05-20 13:33"}, "EPOCH is not a UTC time"),
        ({"EPOCH": "2024-02-30T00:00:00.000000"}, "EPOCH is not a UTC time"),
        ({"EPHEMERIS_TYPE": 4}, "SGP4-XP"),
        ({"MEAN_ELEMENT_THEORY": "DSST"}, "only SGP4"),
        ({"TIME_SYSTEM": "TAI"}, "only UTC"),
        ({"NORAD_CAT_ID": 44713.5}, "NORAD_CAT_ID is not an integer"),
        ({"INCLINATION": "nan"}, "INCLINATION is not finite"),
    ],
)
def test_bad_values_are_named(records: list[dict], change: dict, words: str) -> None:
    with pytest.raises(FormatError, match=words):
        parse_omm(json.dumps([{**records[0], **change}]))


def test_malformed_documents_name_the_line() -> None:
    with pytest.raises(FormatError) as exc:
        parse_omm('[\n  {"OBJECT_NAME": "X",\n  }\n]', path="a.json")
    assert exc.value.line == 3
    with pytest.raises(FormatError) as exc:
        parse_omm("<ndm>\n<omm>\n</ndm>", path="a.xml")
    assert exc.value.line == 3
    with pytest.raises(FormatError, match="not OMM"):
        parse_omm("hello, world", path="a.txt")


# ----------------------------------------------------------------------------- files
@pytest.mark.parametrize("ext", [".json", ".xml", ".csv", ".kvn"])
def test_save_and_load_catalog_by_extension(starlink: Catalog, tmp_path: Path, ext: str) -> None:
    p = save_catalog(starlink[:50], tmp_path / f"gp{ext}")
    assert_same_catalog(load_catalog(p), starlink[:50])


@pytest.mark.parametrize(
    ("ext", "lines_per_sat"), [(".tle", 3), (".txt", 3), (".3le", 3), (".2le", 2)]
)
def test_save_catalog_as_tle(
    starlink: Catalog, tmp_path: Path, ext: str, lines_per_sat: int
) -> None:
    p = save_catalog(starlink[:20], tmp_path / f"gp{ext}")
    assert len(p.read_text().splitlines()) == 20 * lines_per_sat
    back = load_catalog(p)
    np.testing.assert_array_equal(back.norad_id, starlink.norad_id[:20])
    # OMM epochs are microseconds; a TLE keeps 1e-8 day (0.864 ms).
    dt_ns = np.abs((back.epoch_utc - starlink.epoch_utc[:20]).astype(np.int64))
    assert dt_ns.max() <= 432_000


def test_save_catalog_rejects_unknown_extension(starlink: Catalog, tmp_path: Path) -> None:
    target = tmp_path / "gp.dat"
    with pytest.raises(ConfigError) as exc:
        save_catalog(starlink[:2], target)
    assert str(target) in str(exc.value)
    assert not target.exists()


def test_load_catalog_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="no such file"):
        load_catalog(tmp_path / "nope.json")


def test_kvn_errors_name_message_and_line(starlink: Catalog) -> None:
    text = format_omm(starlink[:2], "kvn")
    lines = text.splitlines()
    second = [i for i, ln in enumerate(lines) if ln.startswith("CCSDS_OMM_VERS")][1]
    mm = next(i for i in range(second, len(lines)) if lines[i].startswith("MEAN_MOTION ="))
    lines[mm] = "MEAN_MOTION = 15.06x [rev/day]"
    with pytest.raises(FormatError) as exc:
        parse_omm("\n".join(lines), path="gp.kvn")
    assert exc.value.line == mm + 1
    assert "KVN message 2" in str(exc.value) and "MEAN_MOTION is not a number" in str(exc.value)
    lines[mm] = "MEAN_MOTION = 15.06394683 [rev/day]"  # units are allowed
    assert parse_omm("\n".join(lines)).mean_motion_rev_day[1] == 15.06394683


def test_format_omm_rejects_unknown_format(starlink: Catalog) -> None:
    with pytest.raises(ConfigError, match="fmt"):
        format_omm(starlink[:1], "yaml")  # type: ignore[arg-type]
