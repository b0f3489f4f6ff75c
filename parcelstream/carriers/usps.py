"""USPS: Tracking v3 DETAIL responses and Subscriptions-Tracking pushes, parsed into our scans
(pure, no I/O).

Times: `eventTimestamp` is local wall-clock time whatever it ends with (a trailing Z is a lie), so
the instant comes from `GMTTimestamp`, else `eventTimestamp` + `GMTOffset`, else the zone of
`eventZIP`/`eventState`, of a "… XX DISTRIBUTION CENTER" name, or of the destination. Instants are
kept to the minute: `eventTimestamp` has no seconds and `GMTTimestamp` does, and the same event must
have the same dedup key whichever of the two a response carried.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, tzinfo
from typing import Any

from parcelstream.carriers.updates import (
    BadField,
    CarrierBodyError,
    CarrierUpdate,
    Parsed,
    Rejected,
    as_list,
    as_object,
    carrier_detail,
    day_window,
    decode_json,
    facility_id,
    fixed_zone,
    join,
    localize,
    micros_of,
    or_rejected,
    parse_clock,
    parse_local,
    parse_offset,
    place_zone,
    text,
    tracking_number_of,
    with_window,
)
from parcelstream.carriers.usps_codes import outcome_of
from parcelstream.domain.proof import DeliveryWindow, Proof
from parcelstream.domain.scans import Location, Scan, ScanCode

CARRIER = "usps"

_DISTRIBUTION_CENTER = re.compile(r"\b([A-Z]{2})\s+(?:NETWORK\s+)?DISTRIBUTION\s+CENTER$")


def parse_tracking(body: bytes) -> Parsed:
    """`GET /tracking/v3/tracking/{n}?expand=DETAIL` (one object) or the v3r2 batch (an array)."""
    root = decode_json(body)
    parsed = Parsed(updates=[])
    if isinstance(root, list):
        for index, item in enumerate(root):
            _details_into(item, f"[{index}]", parsed)
        return parsed
    if not isinstance(root, dict):
        raise CarrierBodyError(None, "expected a JSON object or array")
    if "trackingNumber" not in root:
        raise CarrierBodyError("trackingNumber", "is required")
    _details_into(root, "", parsed)
    return parsed


def parse_push(body: bytes) -> Parsed:
    """The subscription envelope `{"subscriptionId", "timestamp", "payload": "<JSON string>"}`
    (its `payload` decoded a second time), or a bare TrackingDetails object."""
    root = decode_json(body)
    if not isinstance(root, dict):
        raise CarrierBodyError(None, "expected a JSON object")
    payload = root.get("payload")
    if payload is None:
        return parse_tracking(body)
    if isinstance(payload, str):
        try:
            details = decode_json(payload)
        except CarrierBodyError as exc:
            raise CarrierBodyError("payload", exc.reason) from None
    else:
        details = payload
    if not isinstance(details, dict) or "trackingNumber" not in details:
        raise CarrierBodyError("payload.trackingNumber", "is required")
    parsed = Parsed(updates=[])
    _details_into(details, "payload", parsed)
    return parsed


def _details_into(raw: Any, path: str, parsed: Parsed) -> None:
    try:
        details = as_object(raw, path or "$")
        error = details.get("error")
        if isinstance(error, dict) and "trackingEvents" not in details:
            number = text(details, "trackingNumber", path)
            if str(error.get("code")) == "404" and number:
                parsed.not_found.append(number)
            else:
                reason = str(error.get("message") or "USPS reported an error")
                parsed.rejected.append(Rejected(path, join(path, "error"), reason))
            return
        parsed.updates.append(_details(details, path, parsed.rejected))
    except BadField as exc:
        parsed.rejected.append(Rejected(path, exc.field, exc.reason))


def _details(details: dict[str, Any], path: str, rejected: list[Rejected]) -> CarrierUpdate:
    raw_number = text(details, "trackingNumber", path, required=True) or ""
    number = tracking_number_of(raw_number, join(path, "trackingNumber"))
    destination = or_rejected(lambda: _destination_zone(details, path), path, rejected)
    scans: list[Scan] = []
    unknown: list[str] = []
    events = as_list(details.get("trackingEvents"), join(path, "trackingEvents"))
    for index, raw in enumerate(events):
        e_path = join(path, f"trackingEvents[{index}]")
        try:
            scan, code = _scan(number, as_object(raw, e_path), e_path, destination)
        except BadField as exc:
            rejected.append(Rejected(e_path, exc.field, exc.reason))
            continue
        if code is not None:
            unknown.append(code)
        scans.append(scan)
    window = or_rejected(lambda: _window(details, path, destination), path, rejected)
    return CarrierUpdate(number, CARRIER, with_window(scans, window), unknown, window)


def _destination_zone(details: dict[str, Any], path: str) -> tzinfo | None:
    return place_zone(
        text(details, "destinationCountryCode", path) or "US",
        text(details, "destinationState", path),
        text(details, "destinationZIP", path),
        text(details, "destinationCity", path),
    )


def _scan(
    number: str, event: dict[str, Any], path: str, destination: tzinfo | None
) -> tuple[Scan, str | None]:
    code = text(event, "eventCode", path)
    words = text(event, "eventType", path)
    if code is None and words is None:
        raise BadField(join(path, "eventCode"), "is required")
    place = Location(
        city=text(event, "eventCity", path),
        region=text(event, "eventState", path),
        postal_code=text(event, "eventZIP", path),
        country=text(event, "eventCountry", path),
    )
    if place.country is None and place.region is not None:
        place = replace(place, country="US")  # USPS leaves the country out of domestic events
    occurred_at, offset = _instant(event, path, place, destination)
    outcome, unknown = outcome_of(code, words)
    proof = None
    if outcome.code is ScanCode.DELIVERED:
        signed_by = text(event, "name", path)
        firm = text(event, "firm", path)
        if signed_by or firm:
            proof = Proof(signed_by=signed_by or firm)
    scan = Scan(
        tracking_number=number,
        facility_id=facility_id(CARRIER, place.city, place.region, place.country),
        occurred_at=occurred_at,
        utc_offset=offset,
        status_code=outcome.code,
        exception_code=outcome.exception,
        location=place if (place.city or place.region or place.country) else None,
        proof=proof,
        detail=carrier_detail(words, code),
    )
    return scan, (code or words if unknown else None)


def _instant(
    event: dict[str, Any], path: str, place: Location, destination: tzinfo | None
) -> tuple[int, int]:
    raw_local = text(event, "eventTimestamp", path)
    wall = parse_local(raw_local, join(path, "eventTimestamp")) if raw_local else None
    raw_offset = text(event, "GMTOffset", path)
    offset = parse_offset(raw_offset, join(path, "GMTOffset")) if raw_offset else None
    raw_gmt = text(event, "GMTTimestamp", path)
    if raw_gmt:
        moment = _gmt(raw_gmt, join(path, "GMTTimestamp"))
        if offset is None and wall is not None:
            offset = round((wall - moment.replace(tzinfo=None)).total_seconds() / 900) * 15
        if offset is None:
            zone = _zone(place, destination)
            shift = moment.astimezone(zone).utcoffset() if zone is not None else None
            offset = int(shift.total_seconds()) // 60 if shift else 0
        return _to_minute(micros_of(moment)), offset
    if wall is None:
        raise BadField(join(path, "eventTimestamp"), "is required")
    zone = fixed_zone(offset) if offset is not None else _zone(place, destination)
    if zone is None:
        raise BadField(join(path, "eventTimestamp"), "a local time with no offset and no place")
    moment = localize(wall, zone)
    shift = moment.utcoffset()
    return _to_minute(micros_of(moment)), int(shift.total_seconds()) // 60 if shift else 0


def _gmt(raw: str, path: str) -> datetime:
    """GMTTimestamp is UTC whether or not it ends in Z."""
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise BadField(path, f"{raw!r} is not a date-time such as 2026-11-22T23:17:26Z") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _zone(place: Location, destination: tzinfo | None) -> tzinfo | None:
    """The event's ZIP and state, else a "… XX DISTRIBUTION CENTER" name, else the destination."""
    country = place.country or "US"
    zone = (
        place_zone(country, place.region, place.postal_code, place.city) if place.region else None
    )
    if zone is None:
        suffix = _DISTRIBUTION_CENTER.search((place.city or "").upper())
        zone = place_zone(country, suffix.group(1), None, None) if suffix else None
    return zone or destination


def _to_minute(micros: int) -> int:
    return micros - micros % 60_000_000


def _window(details: dict[str, Any], path: str, zone: tzinfo | None) -> DeliveryWindow | None:
    """The predicted date and window, else the expected delivery date (its Z is not UTC)."""
    if zone is None:
        return None
    raw_day = text(details, "predictedDeliveryDate", path) or text(
        details, "expectedDeliveryTimeStamp", path
    )
    if raw_day is None:
        return None
    day = parse_local(raw_day[:10], join(path, "predictedDeliveryDate")).date()
    raw_start = text(details, "predictedDeliveryWindowStartTime", path)
    raw_end = text(details, "predictedDeliveryWindowEndTime", path)
    start = end = None
    if raw_start and raw_end and text(details, "predictedDeliveryDate", path):
        start = parse_clock(raw_start, join(path, "predictedDeliveryWindowStartTime"))
        end = parse_clock(raw_end, join(path, "predictedDeliveryWindowEndTime"))
    return day_window(day, zone, start, end)
