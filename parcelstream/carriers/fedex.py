"""FedEx: Track API responses and AIV webhook pushes (the same track-result shape), parsed into our
scans (pure, no I/O).

Times carry their offset. Mapping is on `eventType` only (an `OD` scan can carry derived class
`IT`), with `derivedStatusCode` as the class for codes our table does not know (SPEC.md §3.5).
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import Any

from parcelstream.carriers.fedex_codes import outcome_of
from parcelstream.carriers.updates import (
    BadField,
    CarrierBodyError,
    CarrierUpdate,
    Parsed,
    Rejected,
    as_list,
    as_object,
    carrier_detail,
    decode_json,
    facility_id,
    join,
    micros_of,
    offset_minutes,
    or_rejected,
    parse_aware,
    place_zone,
    text,
    tracking_number_of,
    with_window,
)
from parcelstream.domain.proof import DeliveryWindow, Proof
from parcelstream.domain.scans import Location, Scan, ScanCode

CARRIER = "fedex"


def parse_tracking(body: bytes) -> Parsed:
    """`POST /track/v1/trackingnumbers` 200 body -> one update per tracking number."""
    return _parse(body)


def parse_push(body: bytes) -> Parsed:
    """An AIV webhook body: `{"output": {"completeTrackResults": […]}}` or a flat
    `{"trackResults": […]}`, each carrying the package's full history."""
    return _parse(body)


def _parse(body: bytes) -> Parsed:
    root = decode_json(body)
    if not isinstance(root, dict):
        raise CarrierBodyError(None, "expected a JSON object")
    parsed = Parsed(updates=[])
    try:
        if "trackResults" in root and "output" not in root:
            _group("", None, as_list(root["trackResults"], "trackResults"), parsed)
            return parsed
        output = root.get("output")
        if output is None and root.get("errors"):
            raise CarrierBodyError("errors", f"FedEx refused the request: {root['errors']}")
        complete = as_list(
            as_object(output, "output").get("completeTrackResults"),
            "output.completeTrackResults",
        )
    except BadField as exc:
        raise CarrierBodyError(exc.field, exc.reason) from None
    for index, raw in enumerate(complete):
        c_path = f"output.completeTrackResults[{index}]"
        try:
            entry = as_object(raw, c_path)
            number = text(entry, "trackingNumber", c_path)
            results = as_list(entry.get("trackResults"), join(c_path, "trackResults"))
        except BadField as exc:
            parsed.rejected.append(Rejected(c_path, exc.field, exc.reason))
            continue
        _group(c_path, number, results, parsed)
    return parsed


def _group(path: str, number: str | None, results: list[Any], parsed: Parsed) -> None:
    """One number's track results: several when FedEx reuses a number; the latest one wins."""
    found: list[CarrierUpdate] = []
    for index, raw in enumerate(results):
        r_path = join(path, f"trackResults[{index}]")
        try:
            result = as_object(raw, r_path)
            error = result.get("error")
            if isinstance(error, dict) and not result.get("scanEvents"):
                code = str(error.get("code") or "")
                info = result.get("trackingNumberInfo") or {}
                missing = number or (info.get("trackingNumber") if isinstance(info, dict) else None)
                if "NOTFOUND" in code.replace(".", "").replace("_", "") and missing:
                    parsed.not_found.append(str(missing))
                else:
                    reason = str(error.get("message") or code or "FedEx reported an error")
                    parsed.rejected.append(Rejected(r_path, join(r_path, "error"), reason))
                continue
            found.append(_result(result, r_path, number, parsed.rejected))
        except BadField as exc:
            parsed.rejected.append(Rejected(r_path, exc.field, exc.reason))
    if found:
        parsed.updates.append(
            max(found, key=lambda u: max((s.occurred_at for s in u.scans), default=-1))
        )


def _result(
    result: dict[str, Any], path: str, number: str | None, rejected: list[Rejected]
) -> CarrierUpdate:
    info = as_object(result.get("trackingNumberInfo") or {}, join(path, "trackingNumberInfo"))
    raw_number = text(info, "trackingNumber", join(path, "trackingNumberInfo")) or number
    if raw_number is None:
        raise BadField(join(path, "trackingNumberInfo.trackingNumber"), "is required")
    tracking_number = tracking_number_of(
        raw_number, join(path, "trackingNumberInfo.trackingNumber")
    )
    shipper = result.get("shipperInformation")
    shipper_zone = or_rejected(lambda: _address_zone(shipper, "address"), path, rejected)
    proof = or_rejected(lambda: _proof(result, path), path, rejected)
    scans: list[Scan] = []
    unknown: list[str] = []
    for index, raw in enumerate(as_list(result.get("scanEvents"), join(path, "scanEvents"))):
        e_path = f"{path}.scanEvents[{index}]"
        try:
            scan, code = _scan(tracking_number, as_object(raw, e_path), e_path, shipper_zone, proof)
        except BadField as exc:
            rejected.append(Rejected(e_path, exc.field, exc.reason))
            continue
        if code is not None:
            unknown.append(code)
        if scan is not None:
            scans.append(scan)
    window = or_rejected(lambda: _window(result, path), path, rejected)
    return CarrierUpdate(tracking_number, CARRIER, with_window(scans, window), unknown, window)


def _scan(
    number: str, event: dict[str, Any], path: str, shipper_zone: tzinfo | None, proof: Proof | None
) -> tuple[Scan | None, str | None]:
    raw_date = text(event, "date", path, required=True) or ""
    moment = parse_aware(raw_date, join(path, "date"))
    event_type = text(event, "eventType", path)
    derived = text(event, "derivedStatusCode", path)
    if event_type is None and derived is None:
        raise BadField(join(path, "eventType"), "is required")
    description = text(event, "eventDescription", path)
    exception_code = text(event, "exceptionCode", path)
    exception_words = text(event, "exceptionDescription", path)
    delay = event.get("delayDetail")
    delay_type = text(delay, "type", join(path, "delayDetail")) if isinstance(delay, dict) else None
    words = ": ".join(w for w in (description, exception_words) if w)
    outcome, unknown = outcome_of(event_type, derived, words, delay_type)
    raw_code = " ".join(c for c in (event_type or derived, exception_code) if c)
    if outcome is None:
        return None, None
    place = _place(event.get("scanLocation"), join(path, "scanLocation"))
    offset = offset_minutes(moment)
    if place.city is None and shipper_zone is not None:
        # A scan with no place (the label scan) is stamped in FedEx's system zone, not the
        # shipper's; the instant is right, so only the local time shown changes.
        shift = moment.astimezone(shipper_zone).utcoffset()
        offset = int(shift.total_seconds()) // 60 if shift is not None else offset
    scan = Scan(
        tracking_number=number,
        facility_id=facility_id(CARRIER, place.city, place.region, place.country),
        occurred_at=micros_of(moment),
        utc_offset=offset,
        status_code=outcome.code,
        exception_code=outcome.exception,
        location=place if (place.city or place.region or place.country) else None,
        proof=proof if outcome.code is ScanCode.DELIVERED else None,
        detail=carrier_detail(words, raw_code),
    )
    return scan, (raw_code if unknown else None)


def _place(raw: Any, path: str) -> Location:
    if not isinstance(raw, dict):
        return Location()
    return Location(
        city=text(raw, "city", path),
        region=text(raw, "stateOrProvinceCode", path),
        postal_code=text(raw, "postalCode", path),
        country=text(raw, "countryCode", path),
    )


def _address_zone(holder: Any, key: str) -> tzinfo | None:
    if not isinstance(holder, dict):
        return None
    place = _place(holder.get(key), key)
    return place_zone(place.country, place.region, place.postal_code, place.city)


def _proof(result: dict[str, Any], path: str) -> Proof | None:
    details = result.get("deliveryDetails")
    if not isinstance(details, dict):
        return None
    d_path = join(path, "deliveryDetails")
    signed_by = text(details, "signedByName", d_path) or text(details, "receivedByName", d_path)
    left_at = text(details, "locationDescription", d_path)
    return Proof(signed_by=signed_by, left_at=left_at) if signed_by or left_at else None


def _window(result: dict[str, Any], path: str) -> DeliveryWindow | None:
    """The estimated window, else the estimated delivery date; none once delivered."""
    estimated_day: datetime | None = None
    for index, raw in enumerate(as_list(result.get("dateAndTimes"), join(path, "dateAndTimes"))):
        entry = as_object(raw, f"{path}.dateAndTimes[{index}]")
        kind = entry.get("type")
        if kind == "ACTUAL_DELIVERY":
            return None
        raw_moment = text(entry, "dateTime", f"{path}.dateAndTimes[{index}]")
        if kind == "ESTIMATED_DELIVERY" and raw_moment:
            estimated_day = parse_aware(raw_moment, f"{path}.dateAndTimes[{index}].dateTime")
    holder = result.get("estimatedDeliveryTimeWindow")
    window = holder.get("window") if isinstance(holder, dict) else None
    if isinstance(window, dict):
        w_path = join(path, "estimatedDeliveryTimeWindow.window")
        begins = text(window, "begins", w_path)
        ends = text(window, "ends", w_path)
        if begins and ends:
            earliest = micros_of(parse_aware(begins, join(w_path, "begins")))
            latest = micros_of(parse_aware(ends, join(w_path, "ends")))
            return DeliveryWindow(min(earliest, latest), max(earliest, latest))
    if estimated_day is not None:
        # "…T00:00:00-07:00" is a date in the destination's offset, not an instant.
        start = estimated_day.replace(hour=0, minute=0, second=0, microsecond=0)
        return DeliveryWindow(micros_of(start), micros_of(start + timedelta(days=1)) - 1)
    return None
