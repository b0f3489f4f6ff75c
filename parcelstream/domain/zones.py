"""Time zone of a place, from what addresses and scans carry: country, region, postal code, city.

Carriers report some times as local wall-clock time with no offset, and delivery estimates are
given in the destination's zone, so both need a zone from a location. Most US states lie in one
zone; for the states that straddle a boundary, 3-digit ZIP prefixes and a few large cities pick
the other side. Answers are IANA zone names; callers turn them into `zoneinfo.ZoneInfo`.
"""

from __future__ import annotations

_US_STATES: dict[str, str] = {
    "AL": "America/Chicago",
    "AK": "America/Anchorage",
    "AZ": "America/Phoenix",
    "AR": "America/Chicago",
    "CA": "America/Los_Angeles",
    "CO": "America/Denver",
    "CT": "America/New_York",
    "DE": "America/New_York",
    "DC": "America/New_York",
    "FL": "America/New_York",
    "GA": "America/New_York",
    "HI": "Pacific/Honolulu",
    "ID": "America/Boise",
    "IL": "America/Chicago",
    "IN": "America/Indiana/Indianapolis",
    "IA": "America/Chicago",
    "KS": "America/Chicago",
    "KY": "America/New_York",
    "LA": "America/Chicago",
    "ME": "America/New_York",
    "MD": "America/New_York",
    "MA": "America/New_York",
    "MI": "America/Detroit",
    "MN": "America/Chicago",
    "MS": "America/Chicago",
    "MO": "America/Chicago",
    "MT": "America/Denver",
    "NE": "America/Chicago",
    "NV": "America/Los_Angeles",
    "NH": "America/New_York",
    "NJ": "America/New_York",
    "NM": "America/Denver",
    "NY": "America/New_York",
    "NC": "America/New_York",
    "ND": "America/Chicago",
    "OH": "America/New_York",
    "OK": "America/Chicago",
    "OR": "America/Los_Angeles",
    "PA": "America/New_York",
    "RI": "America/New_York",
    "SC": "America/New_York",
    "SD": "America/Chicago",
    "TN": "America/Chicago",
    "TX": "America/Chicago",
    "UT": "America/Denver",
    "VT": "America/New_York",
    "VA": "America/New_York",
    "WA": "America/Los_Angeles",
    "WV": "America/New_York",
    "WI": "America/Chicago",
    "WY": "America/Denver",
    "PR": "America/Puerto_Rico",
    "VI": "America/St_Thomas",
    "GU": "Pacific/Guam",
    "AS": "Pacific/Pago_Pago",
    "MP": "Pacific/Saipan",
    # Military mail: APO/FPO "states" have no one zone; their gateways are on the coasts.
    "AA": "America/New_York",
    "AE": "America/New_York",
    "AP": "America/Los_Angeles",
}

# The parts of split states that keep the other side's time, by 3-digit ZIP prefix.
_US_ZIP3: dict[str, str] = {
    **dict.fromkeys(("324", "325"), "America/Chicago"),  # Florida panhandle
    **dict.fromkeys(("798", "799", "885"), "America/Denver"),  # El Paso, Texas
    **dict.fromkeys(("370", "371", "372"), "America/Chicago"),  # Nashville (TN default)
    **dict.fromkeys(("373", "374", "376", "377", "378", "379"), "America/New_York"),  # East TN
    **dict.fromkeys(("420", "421", "423", "424", "427"), "America/Chicago"),  # West Kentucky
    **dict.fromkeys(("463", "464", "476", "477"), "America/Chicago"),  # NW and SW Indiana
    **dict.fromkeys(("498", "499"), "America/Menominee"),  # Michigan's western Upper Peninsula
    **dict.fromkeys(("576", "577"), "America/Denver"),  # Western South Dakota
    **dict.fromkeys(("586", "588"), "America/Denver"),  # South-west North Dakota
    **dict.fromkeys(("691", "693"), "America/Denver"),  # Western Nebraska
    **dict.fromkeys(("677",), "America/Denver"),  # North-west Kansas
    **dict.fromkeys(("835", "838"), "America/Los_Angeles"),  # Idaho panhandle
    **dict.fromkeys(("979",), "America/Boise"),  # Malheur County, Oregon
}

# The same splits by city, for locations that carry no postal code.
_US_CITIES: dict[tuple[str, str], str] = {
    ("FL", "PENSACOLA"): "America/Chicago",
    ("FL", "PANAMA CITY"): "America/Chicago",
    ("TX", "EL PASO"): "America/Denver",
    ("TN", "KNOXVILLE"): "America/New_York",
    ("TN", "CHATTANOOGA"): "America/New_York",
    ("TN", "JOHNSON CITY"): "America/New_York",
    ("KY", "PADUCAH"): "America/Chicago",
    ("KY", "BOWLING GREEN"): "America/Chicago",
    ("KY", "OWENSBORO"): "America/Chicago",
    ("IN", "GARY"): "America/Chicago",
    ("IN", "HAMMOND"): "America/Chicago",
    ("IN", "EVANSVILLE"): "America/Chicago",
    ("SD", "RAPID CITY"): "America/Denver",
    ("ND", "DICKINSON"): "America/Denver",
    ("NE", "SCOTTSBLUFF"): "America/Denver",
    ("NE", "NORTH PLATTE"): "America/Chicago",
    ("ID", "COEUR D'ALENE"): "America/Los_Angeles",
    ("ID", "LEWISTON"): "America/Los_Angeles",
    ("OR", "ONTARIO"): "America/Boise",
}

_REGIONS: dict[str, dict[str, str]] = {
    "US": _US_STATES,
    "CA": {
        "AB": "America/Edmonton",
        "BC": "America/Vancouver",
        "MB": "America/Winnipeg",
        "NB": "America/Moncton",
        "NL": "America/St_Johns",
        "NS": "America/Halifax",
        "NT": "America/Yellowknife",
        "NU": "America/Iqaluit",
        "ON": "America/Toronto",
        "PE": "America/Halifax",
        "QC": "America/Toronto",
        "SK": "America/Regina",
        "YT": "America/Whitehorse",
    },
    "AU": {
        "ACT": "Australia/Sydney",
        "NSW": "Australia/Sydney",
        "NT": "Australia/Darwin",
        "QLD": "Australia/Brisbane",
        "SA": "Australia/Adelaide",
        "TAS": "Australia/Hobart",
        "VIC": "Australia/Melbourne",
        "WA": "Australia/Perth",
    },
}

# Countries in one zone, and the zone most of the population keeps in the others.
_COUNTRIES: dict[str, str] = {
    "US": "America/New_York",
    "CA": "America/Toronto",
    "AU": "Australia/Sydney",
    "MX": "America/Mexico_City",
    "BR": "America/Sao_Paulo",
    "PR": "America/Puerto_Rico",
    "GB": "Europe/London",
    "IE": "Europe/Dublin",
    "PT": "Europe/Lisbon",
    "ES": "Europe/Madrid",
    "FR": "Europe/Paris",
    "BE": "Europe/Brussels",
    "NL": "Europe/Amsterdam",
    "LU": "Europe/Luxembourg",
    "DE": "Europe/Berlin",
    "CH": "Europe/Zurich",
    "AT": "Europe/Vienna",
    "IT": "Europe/Rome",
    "DK": "Europe/Copenhagen",
    "NO": "Europe/Oslo",
    "SE": "Europe/Stockholm",
    "FI": "Europe/Helsinki",
    "PL": "Europe/Warsaw",
    "CZ": "Europe/Prague",
    "GR": "Europe/Athens",
    "TR": "Europe/Istanbul",
    "IL": "Asia/Jerusalem",
    "AE": "Asia/Dubai",
    "IN": "Asia/Kolkata",
    "CN": "Asia/Shanghai",
    "HK": "Asia/Hong_Kong",
    "SG": "Asia/Singapore",
    "JP": "Asia/Tokyo",
    "KR": "Asia/Seoul",
    "NZ": "Pacific/Auckland",
    "ZA": "Africa/Johannesburg",
}


def zone_name(
    country: str | None,
    region: str | None = None,
    postal_code: str | None = None,
    city: str | None = None,
) -> str | None:
    """The IANA zone of a place, or None when nothing given identifies one.

    A missing country with a US state or a 5-digit ZIP is taken as the US, as US carriers
    often leave the country out.
    """
    country = (country or "").strip().upper() or None
    region = (region or "").strip().upper() or None
    if country is None and (region in _US_STATES or _is_zip(postal_code)):
        country = "US"
    if country == "US":
        if postal_code and _is_zip(postal_code):
            split = _US_ZIP3.get(postal_code.strip()[:3])
            if split:
                return split
        if region and city:
            by_city = _US_CITIES.get((region, city.strip().upper()))
            if by_city:
                return by_city
    if country is None:
        return None
    regions = _REGIONS.get(country)
    if regions and region and region in regions:
        return regions[region]
    return _COUNTRIES.get(country)


def _is_zip(postal_code: str | None) -> bool:
    code = (postal_code or "").strip()
    return len(code) >= 5 and code[:5].isdigit()
