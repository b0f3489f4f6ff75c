"""UPS: the Track API response and Track Alert pushes, parsed into our scans (pure, no I/O).

Times: UPS gives the UTC date/time (`gmtTime` sometimes unpadded, "55104") and an offset written
"-06:00" by the Track API and "-05.00" by Track Alert; without them, local time plus the zone of
the place. Mapping: the 3-digit status code first, then the 2-letter activity code, then the class
(`type`), as SPEC.md §2.5 lays out.
"""

from __future__ import annotations

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
    parse_compact_date,
    parse_compact_time,
    parse_offset,
    place_zone,
    text,
    tracking_number_of,
    with_window,
)
from parcelstream.carriers.ups_codes import outcome_of
from parcelstream.domain.proof import DeliveryWindow, Proof
from parcelstream.domain.scans import Location, Scan, ScanCode

CARRIER = "ups"


# --- Track API -----------------------------------------------------------------------------------


def parse_tracking(body: bytes) -> Parsed:
    """`GET /api/track/v1/details/{n}` 200 body -> one update per package."""
    root = decode_json(body)
    try:
        shipments = as_list(
            as_object(as_object(root, "").get("trackResponse"), "trackResponse").get("shipment"),
            "trackResponse.shipment",
        )
    except BadField as exc:
        raise CarrierBodyError(exc.field or None, exc.reason) from None
    parsed = Parsed(updates=[])
    for s_index, raw_shipment in enumerate(shipments):
        s_path = f"trackResponse.shipment[{s_index}]"
        try:
            shipment = as_object(raw_shipment, s_path)
            packages = as_list(shipment.get("package"), join(s_path, "package"))
        except BadField as exc:
            parsed.rejected.append(Rejected(s_path, exc.field, exc.reason))
            continue
        if not packages:
            inquiry = text(shipment, "inquiryNumber", s_path)
            if inquiry:
                parsed.not_found.append(inquiry)
            continue
        for p_index, raw_package in enumerate(packages):
            p_path = f"{s_path}.package[{p_index}]"
            try:
                update = _package(as_object(raw_package, p_path), p_path, parsed.rejected)
            except BadField as exc:
                parsed.rejected.append(Rejected(p_path, exc.field, exc.reason))
                continue
            parsed.updates.append(update)
    return parsed


def _package(package: dict[str, Any], path: str, rejected: list[Rejected]) -> CarrierUpdate:
    number = tracking_number_of(
        text(package, "trackingNumber", path, required=True) or "",
        join(path, "trackingNumber"),
    )
    destination = or_rejected(lambda: _destination_zone(package, path), path, rejected)
    proof = or_rejected(lambda: _proof(package, path), path, rejected)
    scans: list[Scan] = []
    unknown: list[str] = []
    for index, raw in enumerate(as_list(package.get("activity"), join(path, "activity"))):
        a_path = f"{path}.activity[{index}]"
        try:
            activity = as_object(raw, a_path)
            status = as_object(activity.get("status"), join(a_path, "status"))
            location = as_object(activity.get("location") or {}, join(a_path, "location"))
            address = as_object(location.get("address") or {}, join(a_path, "location.address"))
            scan, code = _scan(
                number,
                status=status,
                status_path=join(a_path, "status"),
                place=_place(address, join(a_path, "location.address")),
                gmt=(activity, "gmtDate", "gmtTime", "gmtOffset"),
                local=(activity, "date", "time"),
                path=a_path,
                proof=proof,
            )
        except BadField as exc:
            rejected.append(Rejected(a_path, exc.field, exc.reason))
            continue
        if code is not None:
            unknown.append(code)
        if scan is not None:
            scans.append(scan)
    window = or_rejected(lambda: _track_window(package, path, destination), path, rejected)
    return CarrierUpdate(number, CARRIER, with_window(scans, window), unknown, window)


def _destination_zone(package: dict[str, Any], path: str) -> tzinfo | None:
    for index, raw in enumerate(
        as_list(package.get("packageAddress"), join(path, "packageAddress"))
    ):
        entry = as_object(raw, f"{path}.packageAddress[{index}]")
        if entry.get("type") == "DESTINATION":
            address = as_object(
                entry.get("address") or {}, f"{path}.packageAddress[{index}].address"
            )
            place = _place(address, f"{path}.packageAddress[{index}].address")
            return place_zone(place.country, place.region, place.postal_code, place.city)
    return None


def _proof(package: dict[str, Any], path: str) -> Proof | None:
    info = package.get("deliveryInformation")
    if not isinstance(info, dict):
        return None
    signed_by = text(info, "receivedBy", join(path, "deliveryInformation"))
    left_at = text(info, "location", join(path, "deliveryInformation"))
    return Proof(signed_by=signed_by, left_at=left_at) if signed_by or left_at else None


_WINDOW_TYPES = {"EDW", "CDW", "IDW"}
_BY_TIME_TYPES = {"CMT", "EOD"}


def _track_window(package: dict[str, Any], path: str, zone: tzinfo | None) -> DeliveryWindow | None:
    """Scheduled (SDD) or rescheduled (RDD) date, narrowed by a window or a commit time."""
    if zone is None:
        return None
    day = None
    for index, raw in enumerate(as_list(package.get("deliveryDate"), join(path, "deliveryDate"))):
        entry = as_object(raw, f"{path}.deliveryDate[{index}]")
        kind = entry.get("type")
        raw_date = text(entry, "date", f"{path}.deliveryDate[{index}]")
        if kind == "DEL":
            return None
        if kind in ("SDD", "RDD") and raw_date and (day is None or kind == "RDD"):
            day = parse_compact_date(raw_date, f"{path}.deliveryDate[{index}].date")
    if day is None:
        return None
    timing = package.get("deliveryTime")
    start = end = None
    if isinstance(timing, dict):
        t_path = join(path, "deliveryTime")
        kind = timing.get("type")
        raw_start = text(timing, "startTime", t_path)
        raw_end = text(timing, "endTime", t_path)
        if kind in _WINDOW_TYPES and raw_start:
            start = parse_compact_time(raw_start, join(t_path, "startTime"))
        if kind in _WINDOW_TYPES | _BY_TIME_TYPES and raw_end:
            end = parse_compact_time(raw_end, join(t_path, "endTime"))
    return day_window(day, zone, start, end)


# --- Track Alert ---------------------------------------------------------------------------------


def parse_push(body: bytes) -> Parsed:
    """One Track Alert event (UPS sends one per request). A bad event is a bad body."""
    root = decode_json(body)
    try:
        event = as_object(root, "")
        number = tracking_number_of(
            text(event, "trackingNumber", "", required=True) or "", "trackingNumber"
        )
        status = as_object(event.get("activityStatus"), "activityStatus")
        location = as_object(event.get("activityLocation") or {}, "activityLocation")
        received_by = text(event, "receivedBy", "")
        scan, code = _scan(
            number,
            status=status,
            status_path="activityStatus",
            place=_place(location, "activityLocation"),
            gmt=(event, "gmtActivityDate", "gmtActivityTime", "gmtOffset"),
            local=(event, "localActivityDate", "localActivityTime"),
            path="",
            proof=Proof(signed_by=received_by) if received_by else None,
        )
        window = _push_window(event, scan)
    except BadField as exc:
        raise CarrierBodyError(exc.field or None, exc.reason) from None
    scans = [scan] if scan is not None else []
    unknown = [code] if code is not None else []
    return Parsed([CarrierUpdate(number, CARRIER, with_window(scans, window), unknown, window)])


def _push_window(event: dict[str, Any], scan: Scan | None) -> DeliveryWindow | None:
    raw_date = text(event, "scheduledDeliveryDate", "")
    if raw_date is None or text(event, "actualDeliveryDate", ""):
        return None
    day = parse_compact_date(raw_date, "scheduledDeliveryDate")
    location = event.get("activityLocation") or {}
    place = _place(location, "activityLocation")
    # Pushes carry no destination; the event's own place (or offset) is the best zone known.
    zone = place_zone(place.country, place.region, place.postal_code, place.city)
    if zone is None and scan is not None:
        zone = fixed_zone(scan.utc_offset)
    if zone is None:
        return None
    raw_start = text(event, "deliveryStartTime", "")
    raw_end = text(event, "deliveryEndTime", "")
    start = parse_compact_time(raw_start, "deliveryStartTime") if raw_start else None
    end = parse_compact_time(raw_end, "deliveryEndTime") if raw_end else None
    return day_window(day, zone, start, end)


# --- shared by both paths ------------------------------------------------------------------------


def _place(address: dict[str, Any], path: str) -> Location:
    return Location(
        city=text(address, "city", path),
        region=text(address, "stateProvince", path),
        postal_code=text(address, "postalCode", path),
        country=(text(address, "countryCode", path) or text(address, "country", path)),
    )


def _scan(
    number: str,
    *,
    status: dict[str, Any],
    status_path: str,
    place: Location,
    gmt: tuple[dict[str, Any], str, str, str],
    local: tuple[dict[str, Any], str, str],
    path: str,
    proof: Proof | None,
) -> tuple[Scan | None, str | None]:
    """The event as a scan (None when informational) and its code when our tables miss it."""
    kind = text(status, "type", status_path)
    code = text(status, "code", status_path)
    status_code = text(status, "statusCode", status_path) or text(
        status, "descriptionCode", status_path
    )
    if kind is None and code is None and status_code is None:
        raise BadField(join(status_path, "type"), "the event has no type or code")
    occurred_at, offset = _instant(place, gmt, local, path)
    outcome, unknown = outcome_of(kind, code, status_code)
    raw_code = "/".join(c for c in (code, status_code) if c) or kind
    if outcome is None:
        return None, None
    words = text(status, "description", status_path)
    scan = Scan(
        tracking_number=number,
        facility_id=facility_id(CARRIER, place.city, place.region, place.country),
        occurred_at=occurred_at,
        utc_offset=offset,
        status_code=outcome.code,
        exception_code=outcome.exception,
        location=place if (place.city or place.region or place.country) else None,
        proof=proof if outcome.code is ScanCode.DELIVERED else None,
        detail=carrier_detail(words, raw_code),
    )
    return scan, (f"{kind or '-'}/{raw_code}" if unknown else None)


def _instant(
    place: Location,
    gmt: tuple[dict[str, Any], str, str, str],
    local: tuple[dict[str, Any], str, str],
    path: str,
) -> tuple[int, int]:
    """UTC fields first; else local time with the offset; else local time in the place's zone."""
    source, date_key, time_key, offset_key = gmt
    raw_offset = text(source, offset_key, path)
    offset = parse_offset(raw_offset, join(path, offset_key)) if raw_offset else None
    local_source, local_date_key, local_time_key = local
    local_date = text(local_source, local_date_key, path)
    local_time = text(local_source, local_time_key, path)
    wall = None
    if local_date and local_time:
        wall = datetime.combine(
            parse_compact_date(local_date, join(path, local_date_key)),
            parse_compact_time(local_time, join(path, local_time_key)),
        )
    gmt_date = text(source, date_key, path)
    gmt_time = text(source, time_key, path)
    if gmt_date and gmt_time:
        moment = datetime.combine(
            parse_compact_date(gmt_date, join(path, date_key)),
            parse_compact_time(gmt_time, join(path, time_key)),
            tzinfo=UTC,
        )
        if offset is None and wall is not None:
            offset = round((wall - moment.replace(tzinfo=None)).total_seconds() / 900) * 15
        if offset is None:
            here = place_zone(place.country, place.region, place.postal_code, place.city)
            shift = moment.astimezone(here).utcoffset() if here is not None else None
            offset = int(shift.total_seconds()) // 60 if shift is not None else 0
        return micros_of(moment), offset
    if wall is None:
        raise BadField(join(path, date_key), "the event has no time (neither GMT nor local)")
    zone: tzinfo | None = fixed_zone(offset) if offset is not None else None
    if zone is None:
        zone = place_zone(place.country, place.region, place.postal_code, place.city)
    if zone is None:
        raise BadField(
            join(path, offset_key), "a local time with no offset and no place to say its zone"
        )
    moment = localize(wall, zone)
    delta = moment.utcoffset()
    return micros_of(moment), int(delta.total_seconds()) // 60 if delta else 0
