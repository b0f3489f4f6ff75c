"""Tracking numbers: the tracking_number_data test numbers are the oracle for detection."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parcelstream.domain import numbers
from parcelstream.domain.numbers import CARRIERS, Detection, Match, detect, is_valid, normalize

ORACLE = Path(__file__).resolve().parent.parent / "data" / "tracking_number_data"
SHIPPED = Path(numbers.__file__).resolve().parent / "number_formats"
SUPPORTED_FILES = ("ups", "fedex", "usps", "s10", "dhl", "ontrac", "canadapost", "amazon")

# Data-set numbers listed as invalid for one courier that are nonetheless valid for another.
VALID_ELSEWHERE = {
    "000000000000000": ("fedex", "FedEx Ground"),  # an invalid Amazon Logistics number
    "000000000000": ("fedex", "FedEx Express (12)"),  # an invalid Amazon Logistics number
}


def _courier(stem: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ORACLE / "couriers" / f"{stem}.json").read_text("utf-8"))
    return data


def _expected_carriers(stem: str, number: str) -> tuple[str, ...]:
    if stem == "s10":
        # A UPU number issued in the US is tracked through USPS.
        return ("usps",) if normalize(number).endswith("US") else ("s10",)
    return (stem,)


def _oracle(kind: str) -> list[Any]:
    return [
        pytest.param(number, stem, fmt["name"], id=f"{stem}|{fmt['name']}|{number}")
        for stem in SUPPORTED_FILES
        for fmt in _courier(stem)["tracking_numbers"]
        for number in fmt["test_numbers"][kind]
    ]


VALID = _oracle("valid")
INVALID = _oracle("invalid")


def test_the_supported_couriers_are_the_shipped_format_files() -> None:
    assert set(CARRIERS) == set(SUPPORTED_FILES)
    for stem in SUPPORTED_FILES:
        shipped = (SHIPPED / f"{stem}.json").read_bytes()
        assert shipped == (ORACLE / "couriers" / f"{stem}.json").read_bytes(), stem
    assert (SHIPPED / "LICENSE").read_bytes() == (ORACLE / "LICENSE").read_bytes()


@pytest.mark.parametrize(("number", "stem", "format_name"), VALID)
def test_every_valid_data_set_number_is_detected_for_its_carrier_and_format(
    number: str, stem: str, format_name: str
) -> None:
    detection = detect(number)

    assert detection.valid
    for carrier in _expected_carriers(stem, number):
        assert carrier in detection.carriers
        assert is_valid(number, carrier)
    assert format_name in {match.format for match in detection.matches}


@pytest.mark.parametrize(("number", "stem", "format_name"), INVALID)
def test_every_invalid_data_set_number_is_refused_for_its_carrier(
    number: str, stem: str, format_name: str
) -> None:
    detection = detect(number)

    # An invalid S10 number is no good whichever post issued it.
    for carrier in ("s10", "usps") if stem == "s10" else (stem,):
        assert not is_valid(number, carrier)
    assert format_name not in {match.format for match in detection.matches}


@pytest.mark.parametrize(("number", "stem", "format_name"), INVALID)
def test_an_invalid_data_set_number_is_valid_elsewhere_only_where_known(
    number: str, stem: str, format_name: str
) -> None:
    detection = detect(number)

    if normalize(number) in VALID_ELSEWHERE:
        carrier, other_format = VALID_ELSEWHERE[normalize(number)]
        assert detection.matches == (Match(carrier, other_format, None),)
    else:
        assert not detection.valid
        assert not is_valid(number)


def test_whitespace_anywhere_and_lower_case_are_normalised_away() -> None:
    assert normalize(" 1z5r 8939\t0357\n567127 ") == "1Z5R89390357567127"

    detection = detect(" 1z5r 8939\t0357\n567127 ")

    assert detection.number == "1Z5R89390357567127"
    assert detection == detect("1Z5R89390357567127")
    assert detection.carrier == "ups"


@pytest.mark.parametrize("raw", ["", "   ", "not a tracking number!", "1Z5R8939-0357567127", "ÄÖÜ"])
def test_garbage_is_invalid_and_has_no_carrier(raw: str) -> None:
    detection = detect(raw)

    assert not detection.valid
    assert detection.carriers == ()
    assert detection.carrier is None
    assert not detection.ambiguous
    assert not is_valid(raw)


def test_a_number_longer_than_40_characters_is_invalid_even_if_a_pattern_would_take_it() -> None:
    # DHL E-Commerce takes a two-letter prefix and up to 39 more characters.
    assert is_valid("GM" + "1" * 38, "dhl")

    detection = detect("GM" + "1" * 39)

    assert not detection.valid
    assert detection.number == "GM" + "1" * 39


def test_a_number_valid_for_two_carriers_is_reported_as_ambiguous() -> None:
    # In the data set as a USPS IMpb C number; it also passes the FedEx Express (34) check digit.
    number = "4201028200009261290113185417468510"
    assert any(
        number in fmt["test_numbers"]["valid"] for fmt in _courier("usps")["tracking_numbers"]
    )

    detection = detect(number)

    assert detection.valid
    assert detection.ambiguous
    assert detection.carriers == ("fedex", "usps")
    assert detection.carrier is None
    assert is_valid(number, "fedex")
    assert is_valid(number, "usps")
    assert not is_valid(number, "ups")


def test_each_match_names_its_format_and_service() -> None:
    assert detect("9611020987654312345672").matches == (
        Match("fedex", "FedEx Ground 96 (22)", None),
    )
    assert detect("1Z5R89390357567127").matches == (
        Match("ups", "UPS", "UPS United States Ground"),
    )
    assert detect("0307 1790 0005 2348 3741").matches == (
        Match("usps", "USPS 20", "Delivery Confirmation"),
    )
    assert detect("EE123456785GB").matches == (Match("s10", "S10", "EMS"),)


def test_s10_numbers_issued_in_the_us_belong_to_usps() -> None:
    assert detect("RB123456785US").carrier == "usps"
    assert detect("RB123456785GB").carrier == "s10"
    assert is_valid("RB123456785US", "usps")
    assert not is_valid("RB123456785US", "s10")


def test_an_s10_number_needs_a_known_country_code() -> None:
    assert not is_valid("RB123456785XX")


@pytest.mark.parametrize(
    ("serial", "check_digit"),
    [
        ("00000000", "5"),  # weighted sum 0: remainder 0 is written 5
        ("00004000", "0"),  # weighted sum 12: remainder 1 is written 0
    ],
)
def test_s10_writes_the_two_out_of_range_check_values_as_5_and_0(
    serial: str, check_digit: str
) -> None:
    assert is_valid(f"RR{serial}{check_digit}GB", "s10")
    for wrong in sorted(set("0123456789") - {check_digit}):
        assert not is_valid(f"RR{serial}{wrong}GB")


def test_an_unknown_carrier_id_is_an_error_not_a_no() -> None:
    with pytest.raises(ValueError, match="canada_post"):
        is_valid("0073938000549297", "canada_post")


def test_a_reversed_mod10_weights_from_the_right() -> None:
    # Every USPS IMpb serial has an odd length, where reversing changes nothing; show it does
    # for an even one. Reversed 4321 weighs 4*3 + 3 + 2*3 + 1 = 22, so the check digit is 8.
    def mod10(serial: str, check_digit: str, *, reverse: bool) -> bool:
        return numbers._mod10(serial, check_digit, modulo=10, evens=3, odds=1, reverse=reverse)

    assert mod10("1234", "8", reverse=True)
    assert mod10("1234", "2", reverse=False)
    assert not mod10("1234", "2", reverse=True)


def test_luhn_check_digits_follow_the_textbook_example() -> None:
    # No shipped format uses Luhn yet; the data set's Purolator and Old Dominion formats do.
    assert numbers._luhn("7992739871", "3")
    assert not numbers._luhn("7992739871", "4")


@given(st.text(max_size=60))
def test_detect_accepts_any_text_and_reports_it_normalised(raw: str) -> None:
    detection = detect(raw)

    assert isinstance(detection, Detection)
    assert detection.number == normalize(raw)
    assert detection.valid == bool(detection.carriers)
    assert detection.carrier is None or detection.carriers == (detection.carrier,)
