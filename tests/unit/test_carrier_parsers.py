"""The UPS, FedEx and USPS parsers on the SPEC's example bodies and on the edge cases it lists."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from parcelstream.carriers import fedex, ups, usps
from parcelstream.carriers.updates import CarrierBodyError, Parsed
from parcelstream.domain.proof import Proof
from parcelstream.domain.scans import Scan, ScanCode
from parcelstream.domain.status import Status, derive_status, describe
from parcelstream.domain.times import format_instant, parse_instant

DATA = Path(__file__).parents[1] / "data" / "carriers"


def example(name: str) -> bytes:
    return (DATA / name).read_bytes()


def local(scan: Scan) -> str:
    return format_instant(scan.occurred_at, scan.utc_offset)


def utc(text: str) -> int:
    return parse_instant(text)[0]


def only(parsed: Parsed) -> list[Scan]:
    assert len(parsed.updates) == 1, parsed
    return sorted(parsed.updates[0].scans, key=lambda s: s.occurred_at)


# --- UPS -----------------------------------------------------------------------------------------


def test_ups_track_response_maps_every_activity_with_local_times_and_zone_change() -> None:
    parsed = ups.parse_tracking(example("ups_track_response.json"))
    assert parsed.rejected == []
    assert parsed.not_found == []
    scans = only(parsed)
    assert [(local(s), s.status_code, s.facility_id) for s in scans] == [
        ("2026-11-16T14:05:11-05:00", ScanCode.LABEL_CREATED, "ups:US"),
        ("2026-11-16T19:42:00-05:00", ScanCode.PICKED_UP, "ups:ATLANTA/GA/US"),
        ("2026-11-17T02:10:00-05:00", ScanCode.DEPARTED_FACILITY, "ups:ATLANTA/GA/US"),
        # gmtTime "55104" is 05:51:04 UTC; Madison is on Central time.
        ("2026-11-18T23:51:04-06:00", ScanCode.ARRIVED_AT_FACILITY, "ups:MADISON/WI/US"),
        ("2026-11-19T08:02:45-06:00", ScanCode.OUT_FOR_DELIVERY, "ups:MADISON/WI/US"),
        ("2026-11-19T13:37:12-06:00", ScanCode.DELIVERED, "ups:MADISON/WI/US"),
    ]
    assert scans[3].occurred_at == utc("2026-11-19T05:51:04Z")
    delivered = scans[-1]
    assert delivered.proof == Proof(signed_by="KOWALSKI", left_at="Front Porch")
    assert delivered.detail == "Delivered [FS/011]"
    assert describe(delivered) == "Delivered [FS/011]"
    assert all(s.proof is None for s in scans[:-1])
    assert derive_status(scans).status is Status.DELIVERED


def test_ups_push_first_attempt_in_exception_class_is_attempted_with_dot_offset() -> None:
    parsed = ups.parse_push(example("ups_webhook.json"))
    update = parsed.updates[0]
    (scan,) = update.scans
    assert update.tracking_number == "1Z2R8V410344120767"
    assert scan.status_code is ScanCode.DELIVERY_ATTEMPTED
    assert scan.exception_code == "RECIPIENT_UNAVAILABLE"
    assert local(scan) == "2026-11-20T15:22:09-05:00"
    assert scan.detail == "Receiver not available - second attempt next business day [48/022]"
    # The scheduled date is a whole day in Columbus, Ohio.
    assert scan.carrier_window is not None
    assert scan.carrier_window.earliest == utc("2026-11-23T00:00:00-05:00")
    assert scan.carrier_window.latest == utc("2026-11-24T00:00:00-05:00") - 1
    assert update.unknown_codes == []


def _activity_as_push(activity: dict[str, Any], number: str) -> bytes:
    """The same event as Track Alert would send it (no SLIC, dot offset, postal code blank)."""
    address = activity["location"]["address"]
    status = activity["status"]
    return json.dumps(
        {
            "trackingNumber": number,
            "localActivityDate": activity["date"],
            "localActivityTime": activity["time"],
            "activityLocation": {
                "city": address.get("city", ""),
                "stateProvince": address.get("stateProvince", ""),
                "postalCode": "",
                "country": address.get("country", ""),
            },
            "activityStatus": {
                "type": status["type"],
                "code": status["code"],
                "description": status["description"],
                "descriptionCode": status["statusCode"],
            },
            "gmtActivityDate": activity["gmtDate"],
            "gmtActivityTime": activity["gmtTime"].zfill(6),
            "gmtOffset": activity["gmtOffset"].replace(":", "."),
        }
    ).encode()


def test_ups_push_and_poll_of_one_event_have_the_same_dedup_key() -> None:
    body = json.loads(example("ups_track_response.json"))
    package = body["trackResponse"]["shipment"][0]["package"][0]
    polled = {s.dedup_key: s for s in ups.parse_tracking(example("ups_track_response.json")).scans}
    for activity in package["activity"]:
        (pushed,) = ups.parse_push(_activity_as_push(activity, package["trackingNumber"])).scans
        assert pushed.dedup_key in polled
        assert pushed.utc_offset == polled[pushed.dedup_key].utc_offset


def _ups_activity(**overrides: Any) -> dict[str, Any]:
    activity: dict[str, Any] = {
        "date": "20261118",
        "time": "235104",
        "location": {"address": {"city": "MADISON", "stateProvince": "WI", "countryCode": "US"}},
        "status": {"type": "I", "code": "AR", "statusCode": "005", "description": "Arrived"},
    }
    activity.update(overrides)
    return activity


def _ups_body(*activities: dict[str, Any], **package: Any) -> bytes:
    return json.dumps(
        {
            "trackResponse": {
                "shipment": [
                    {
                        "package": [
                            {"trackingNumber": "1Z7E4A920341208571", "activity": list(activities)}
                            | package
                        ]
                    }
                ]
            }
        }
    ).encode()


def test_ups_without_gmt_fields_uses_the_offset_then_the_zone_of_the_place() -> None:
    with_offset = _ups_activity(gmtOffset="-06:00")
    (scan,) = ups.parse_tracking(_ups_body(with_offset)).scans
    assert local(scan) == "2026-11-18T23:51:04-06:00"
    # No offset at all: Wisconsin is on Central time (standard time in November).
    (scan,) = ups.parse_tracking(_ups_body(_ups_activity())).scans
    assert local(scan) == "2026-11-18T23:51:04-06:00"
    # A split state: the El Paso ZIP is on Mountain time although Texas is Central.
    el_paso = _ups_activity(
        location={"address": {"city": "EL PASO", "stateProvince": "TX", "postalCode": "79901"}}
    )
    (scan,) = ups.parse_tracking(_ups_body(el_paso)).scans
    assert local(scan) == "2026-11-18T23:51:04-07:00"


def test_ups_unknown_codes_are_kept_by_class_and_reported() -> None:
    unknown_exception = _ups_activity(
        status={"type": "X", "code": "Q9", "statusCode": "999", "description": "Something odd"}
    )
    unknown_delivered_class = _ups_activity(
        time="235105",
        status={"type": "D", "code": "Q8", "statusCode": "998", "description": "Loaded"},
    )
    parsed = ups.parse_tracking(_ups_body(unknown_exception, unknown_delivered_class))
    scans = only(parsed)
    assert [(s.status_code, s.exception_code) for s in scans] == [
        (ScanCode.EXCEPTION, "CARRIER_EXCEPTION"),
        # Class D also covers out-for-delivery scans: an unknown code never delivers.
        (ScanCode.IN_TRANSIT, None),
    ]
    assert scans[0].detail == "Something odd [Q9/999]"
    assert parsed.updates[0].unknown_codes == ["X/Q9/999", "D/Q8/998"]


def test_ups_unknown_status_code_placed_by_its_activity_code_is_still_reported() -> None:
    scan = _ups_activity(status={"type": "I", "code": "OT", "statusCode": "777"})
    parsed = ups.parse_tracking(_ups_body(scan))
    assert parsed.scans[0].status_code is ScanCode.OUT_FOR_DELIVERY
    assert parsed.updates[0].unknown_codes == ["I/OT/777"]


def test_ups_informational_events_move_no_status() -> None:
    photo = _ups_activity(status={"type": "I", "code": "PX", "statusCode": "155"})
    update = _ups_activity(time="235200", status={"type": "U", "code": "UP", "statusCode": "153"})
    parsed = ups.parse_tracking(_ups_body(photo, update))
    assert parsed.scans == []
    assert parsed.updates[0].unknown_codes == []


def test_ups_bad_activity_is_rejected_by_path_and_its_neighbours_kept() -> None:
    bad = _ups_activity(date="2026-11-18")
    parsed = ups.parse_tracking(_ups_body(_ups_activity(), bad))
    assert len(parsed.scans) == 1
    (rejected,) = parsed.rejected
    assert rejected.path == "trackResponse.shipment[0].package[0].activity[1]"
    assert rejected.field == "trackResponse.shipment[0].package[0].activity[1].date"
    assert "YYYYMMDD" in rejected.reason


def test_ups_not_found_warning_and_estimated_window() -> None:
    not_found = {
        "trackResponse": {
            "shipment": [
                {
                    "inquiryNumber": "1Z7E4A920341208571",
                    "warnings": [{"code": "TW0001", "message": "Tracking Information Not Found"}],
                }
            ]
        }
    }
    parsed = ups.parse_tracking(json.dumps(not_found).encode())
    assert parsed.updates == []
    assert parsed.not_found == ["1Z7E4A920341208571"]

    body = _ups_body(
        _ups_activity(),
        deliveryDate=[{"type": "SDD", "date": "20261120"}, {"type": "RDD", "date": "20261121"}],
        deliveryTime={"type": "EDW", "startTime": "150000", "endTime": "170000"},
        packageAddress=[
            {"type": "DESTINATION", "address": {"stateProvince": "WI", "country": "US"}}
        ],
    )
    update = ups.parse_tracking(body).updates[0]
    assert update.window is not None
    assert update.window.earliest == utc("2026-11-21T15:00:00-06:00")
    assert update.window.latest == utc("2026-11-21T17:00:00-06:00")
    assert update.scans[0].carrier_window == update.window


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", None),
        (b'{"trackResponse": []}', "trackResponse"),
    ],
)
def test_ups_unreadable_bodies_raise_naming_the_field(body: bytes, field: str | None) -> None:
    with pytest.raises(CarrierBodyError) as caught:
        ups.parse_tracking(body)
    assert caught.value.field == field


def test_ups_push_without_status_is_a_bad_body() -> None:
    with pytest.raises(CarrierBodyError) as caught:
        ups.parse_push(b'{"trackingNumber": "1Z2R8V410344120767"}')
    assert caught.value.field == "activityStatus"


# --- FedEx ---------------------------------------------------------------------------------------


def test_fedex_track_response_maps_on_event_type_not_derived_class() -> None:
    parsed = fedex.parse_tracking(example("fedex_track_response.json"))
    scans = only(parsed)
    assert [(local(s), s.status_code, s.exception_code) for s in scans] == [
        # The label scan's -06:00 is FedEx's system zone; shown in the shipper's (Portland).
        ("2026-11-17T08:14:36-08:00", ScanCode.LABEL_CREATED, None),
        ("2026-11-17T17:55:00-08:00", ScanCode.PICKED_UP, None),
        ("2026-11-17T20:31:00-08:00", ScanCode.DEPARTED_FACILITY, None),
        ("2026-11-18T03:05:00-07:00", ScanCode.ARRIVED_AT_FACILITY, None),
        ("2026-11-18T16:40:00-07:00", ScanCode.EXCEPTION, "WEATHER_DELAY"),
        ("2026-11-19T06:12:00-07:00", ScanCode.ARRIVED_AT_FACILITY, None),
        ("2026-11-19T07:48:00-07:00", ScanCode.OUT_FOR_DELIVERY, None),
    ]
    assert scans[0].occurred_at == utc("2026-11-17T10:14:36-06:00")
    assert scans[4].detail == "Delay: Weather delay in the region [DY X19]"
    window = scans[-1].carrier_window
    assert window is not None
    assert (window.earliest, window.latest) == (
        utc("2026-11-19T11:00:00-07:00"),
        utc("2026-11-19T15:00:00-07:00"),
    )
    assert derive_status(scans).status is Status.OUT_FOR_DELIVERY


def test_fedex_push_then_poll_end_with_the_same_history() -> None:
    polled = fedex.parse_tracking(example("fedex_track_response.json")).scans
    pushed = fedex.parse_push(example("fedex_webhook.json")).scans
    assert {s.dedup_key for s in polled} < {s.dedup_key for s in pushed}
    state = derive_status([*pushed, *polled])
    assert state.status is Status.DELIVERED
    assert len(state.history) == 8
    delivered = state.history[-1]
    assert delivered.proof == Proof(signed_by="M.RIOS", left_at="Front door")


def _fedex_event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "date": "2026-11-19T10:00:00-07:00",
        "eventType": "AR",
        "eventDescription": "At local FedEx facility",
        "scanLocation": {"city": "DENVER", "stateOrProvinceCode": "CO", "countryCode": "US"},
        "derivedStatusCode": "IT",
    }
    event.update(overrides)
    return event


def _fedex_flat(*events: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "trackResults": [
                {
                    "trackingNumberInfo": {"trackingNumber": "782901654316"},
                    "scanEvents": list(events),
                }
            ]
        }
    ).encode()


def test_fedex_delivery_exception_naming_a_failed_attempt_is_an_attempt() -> None:
    closed = _fedex_event(
        eventType="DE",
        eventDescription="Delivery exception",
        exceptionCode="08",
        exceptionDescription="Business closed - delivery attempted",
    )
    other = _fedex_event(
        date="2026-11-19T11:00:00-07:00",
        eventType="DE",
        eventDescription="Delivery exception",
        exceptionDescription="Package damaged",
    )
    scans = only(fedex.parse_push(_fedex_flat(closed, other)))
    assert [(s.status_code, s.exception_code) for s in scans] == [
        (ScanCode.DELIVERY_ATTEMPTED, "BUSINESS_CLOSED"),
        (ScanCode.EXCEPTION, "DELIVERY_EXCEPTION"),
    ]


def test_fedex_unknown_event_type_falls_back_to_its_class_and_is_reported() -> None:
    delayed = _fedex_event(eventType="ZZ", derivedStatusCode="DY", eventDescription="New delay")
    moving = _fedex_event(date="2026-11-19T11:00:00-07:00", eventType="ZY")
    cdo = _fedex_event(date="2026-11-19T12:00:00-07:00", eventType="RM")
    parsed = fedex.parse_push(_fedex_flat(delayed, moving, cdo))
    assert [(s.status_code, s.exception_code) for s in only(parsed)] == [
        (ScanCode.EXCEPTION, "DELAYED"),
        (ScanCode.IN_TRANSIT, None),
    ]
    assert parsed.updates[0].unknown_codes == ["ZZ", "ZY"]


def test_fedex_bad_event_is_rejected_and_the_rest_kept() -> None:
    parsed = fedex.parse_push(_fedex_flat(_fedex_event(), _fedex_event(date="2026-11-19 noon")))
    assert len(parsed.scans) == 1
    (rejected,) = parsed.rejected
    assert rejected.field == "trackResults[0].scanEvents[1].date"


def test_fedex_not_found_and_a_reused_number_takes_the_latest_shipment() -> None:
    body = {
        "output": {
            "completeTrackResults": [
                {
                    "trackingNumber": "782901654316",
                    "trackResults": [
                        {"scanEvents": [_fedex_event(date="2025-01-02T10:00:00-07:00")]},
                        {"scanEvents": [_fedex_event()]},
                    ],
                },
                {
                    "trackingNumber": "123456789012",
                    "trackResults": [
                        {
                            "trackingNumberInfo": {"trackingNumber": "123456789012"},
                            "error": {
                                "code": "TRACKING.TRACKINGNUMBER.NOTFOUND",
                                "message": "Tracking number cannot be found.",
                            },
                        }
                    ],
                },
            ]
        }
    }
    parsed = fedex.parse_tracking(json.dumps(body).encode())
    assert parsed.not_found == ["123456789012"]
    (scan,) = parsed.scans
    assert scan.occurred_at == utc("2026-11-19T10:00:00-07:00")


# --- USPS ----------------------------------------------------------------------------------------


def test_usps_track_response_uses_gmt_fields_and_zone_from_zip_when_missing() -> None:
    scans = only(usps.parse_tracking(example("usps_track_response.json")))
    assert [(local(s), s.status_code) for s in scans] == [
        # No GMT fields: Philadelphia, PA is on Eastern time.
        ("2026-11-17T10:02:00-05:00", ScanCode.LABEL_CREATED),
        ("2026-11-18T15:31:00-05:00", ScanCode.PICKED_UP),
        ("2026-11-18T19:02:00-05:00", ScanCode.ARRIVED_AT_FACILITY),
        ("2026-11-18T23:14:00-05:00", ScanCode.DEPARTED_FACILITY),
        ("2026-11-19T16:30:00-05:00", ScanCode.IN_TRANSIT),
        ("2026-11-20T22:48:00-06:00", ScanCode.ARRIVED_AT_FACILITY),
        ("2026-11-21T06:20:00-06:00", ScanCode.ARRIVED_AT_FACILITY),
        ("2026-11-21T07:05:00-06:00", ScanCode.OUT_FOR_DELIVERY),
        ("2026-11-21T11:42:00-06:00", ScanCode.DELIVERED),
    ]
    assert scans[-1].proof == Proof(signed_by="R PATEL")
    assert scans[-1].detail == "Delivered, Left with Individual [01]"
    assert scans[5].facility_id == "usps:OMAHA-NE-DISTRIBUTION-CENTER"


def test_usps_push_envelope_attempt_in_arizona_keeps_mountain_standard_time() -> None:
    update = usps.parse_push(example("usps_webhook.json")).updates[0]
    (scan,) = update.scans
    assert update.tracking_number == "9405508988657321041195"
    assert (scan.status_code, scan.exception_code) == (
        ScanCode.DELIVERY_ATTEMPTED,
        "RECIPIENT_UNAVAILABLE",
    )
    assert local(scan) == "2026-11-22T16:17:00-07:00"


def _usps_details(*events: dict[str, Any], **extra: Any) -> bytes:
    return json.dumps(
        {"trackingNumber": "9400111899224315768204", "trackingEvents": list(events), **extra}
    ).encode()


def _usps_event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventType": "Arrived at Post Office",
        "eventTimestamp": "2026-11-21T07:31:00",
        "eventCity": "RICHMOND",
        "eventState": "VA",
        "eventZIP": "23219",
        "eventCode": "07",
    }
    event.update(overrides)
    return event


def test_usps_never_trusts_a_z_on_local_time() -> None:
    (scan,) = usps.parse_tracking(
        _usps_details(_usps_event(eventTimestamp="2026-11-21T07:31:00Z"))
    ).scans
    assert local(scan) == "2026-11-21T07:31:00-05:00"
    (scan,) = usps.parse_tracking(_usps_details(_usps_event(GMTOffset="-05:00"))).scans
    assert local(scan) == "2026-11-21T07:31:00-05:00"


def test_usps_zone_from_distribution_center_name_then_destination() -> None:
    center = _usps_event(eventCity="DENVER CO DISTRIBUTION CENTER", eventState=None, eventZIP=None)
    nowhere = _usps_event(
        eventTimestamp="2026-11-21T08:00:00", eventCity=None, eventState=None, eventZIP=None
    )
    scans = only(usps.parse_tracking(_usps_details(center, nowhere, destinationState="AZ")))
    assert [local(s) for s in scans] == ["2026-11-21T07:31:00-07:00", "2026-11-21T08:00:00-07:00"]


def test_usps_push_and_poll_agree_whether_or_not_gmt_seconds_are_given() -> None:
    with_gmt = _usps_event(GMTTimestamp="2026-11-21T12:31:44Z", GMTOffset="-05:00")
    (pushed,) = usps.parse_push(_usps_details(with_gmt)).scans
    (polled,) = usps.parse_tracking(_usps_details(_usps_event())).scans
    assert pushed.dedup_key == polled.dedup_key


def test_usps_unknown_codes_by_the_events_words_and_reported() -> None:
    alert = _usps_event(eventCode="Q1", eventType="Alert: Incorrect address")
    moved = _usps_event(
        eventCode="Q2", eventType="Moving along", eventTimestamp="2026-11-21T08:00:00"
    )
    parsed = usps.parse_tracking(_usps_details(alert, moved))
    assert [(s.status_code, s.exception_code) for s in only(parsed)] == [
        (ScanCode.EXCEPTION, "CARRIER_EXCEPTION"),
        (ScanCode.IN_TRANSIT, None),
    ]
    assert parsed.updates[0].unknown_codes == ["Q1", "Q2"]


def test_usps_predicted_window_in_the_destination_zone_and_pickup_detail() -> None:
    body = _usps_details(
        _usps_event(eventCode="16", eventType="Available for Pickup"),
        destinationState="VA",
        destinationZIP="23219",
        predictedDeliveryDate="2026-11-22",
        predictedDeliveryWindowStartTime="10:30",
        predictedDeliveryWindowEndTime="14:30",
    )
    update = usps.parse_tracking(body).updates[0]
    assert update.window is not None
    assert update.window.earliest == utc("2026-11-22T10:30:00-05:00")
    assert update.window.latest == utc("2026-11-22T14:30:00-05:00")
    state = derive_status(update.scans)
    assert (state.status, state.status_detail) == (Status.IN_TRANSIT, "AVAILABLE_FOR_PICKUP")


def test_usps_bad_event_is_rejected_and_a_bad_payload_is_a_bad_body() -> None:
    parsed = usps.parse_tracking(_usps_details(_usps_event(), _usps_event(eventTimestamp="soon")))
    assert len(parsed.scans) == 1
    assert parsed.rejected[0].field == "trackingEvents[1].eventTimestamp"
    envelope = {"subscriptionId": "s", "timestamp": "2026-11-22T23:17:41Z", "payload": "{oops"}
    with pytest.raises(CarrierBodyError) as caught:
        usps.parse_push(json.dumps(envelope).encode())
    assert caught.value.field == "payload"


def test_scans_without_carrier_words_still_describe_themselves_from_codes() -> None:
    (scan,) = usps.parse_tracking(_usps_details(_usps_event())).scans
    assert describe(replace(scan, detail=None)) == "Arrived at facility"


def test_a_bad_package_level_field_keeps_the_packages_scans() -> None:
    body = _ups_body(
        _ups_activity(),
        deliveryDate=[{"type": "SDD", "date": "next week"}],
        packageAddress=[{"type": "DESTINATION", "address": {"stateProvince": "WI"}}],
    )
    parsed = ups.parse_tracking(body)
    assert len(parsed.scans) == 1
    assert parsed.updates[0].window is None
    assert parsed.rejected[0].field == "trackResponse.shipment[0].package[0].deliveryDate[0].date"
