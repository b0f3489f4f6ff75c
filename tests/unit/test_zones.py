from zoneinfo import ZoneInfo, available_timezones

import pytest

from parcelstream.domain.zones import _COUNTRIES, _REGIONS, _US_CITIES, _US_ZIP3, zone_name


def test_every_zone_named_exists_in_the_tz_database() -> None:
    names = {*_COUNTRIES.values(), *_US_ZIP3.values(), *_US_CITIES.values()}
    names |= {zone for regions in _REGIONS.values() for zone in regions.values()}
    missing = names - available_timezones()
    assert not missing
    for name in names:
        ZoneInfo(name)


@pytest.mark.parametrize(
    ("country", "region", "postal_code", "city", "zone"),
    [
        ("US", "GA", "30336", "Atlanta", "America/New_York"),
        ("US", "TX", "75201", "Dallas", "America/Chicago"),
        ("US", "TX", "79901", None, "America/Denver"),
        ("US", "TX", None, "El Paso", "America/Denver"),
        ("US", "FL", "32501", None, "America/Chicago"),
        ("US", "FL", "33101", None, "America/New_York"),
        ("US", "TN", "37902", None, "America/New_York"),
        ("US", "AZ", None, None, "America/Phoenix"),
        (None, "CA", "90210", None, "America/Los_Angeles"),
        (None, None, "10001", None, "America/New_York"),
        ("us", "ca", None, None, "America/Los_Angeles"),
        ("CA", "BC", "V6B 1A1", "Vancouver", "America/Vancouver"),
        ("DE", None, "10115", "Berlin", "Europe/Berlin"),
    ],
)
def test_zone_of_a_place(
    country: str | None, region: str | None, postal_code: str | None, city: str | None, zone: str
) -> None:
    assert zone_name(country, region, postal_code, city) == zone


def test_nothing_identifying_gives_no_zone() -> None:
    assert zone_name(None) is None
    assert zone_name(None, "Bavaria") is None
    assert zone_name("ZZ") is None
