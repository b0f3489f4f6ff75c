"""The status FSM: permissive about skipped scans, terminal at delivery, blind to arrival order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from parcelstream.domain.scans import Location, Scan, ScanCode
from parcelstream.domain.status import Status, derive_status

TN = "1Z5R89390357567127"
HOUR = 3_600_000_000


def scan(
    code: ScanCode,
    hour: int,
    facility: str = "ATL-HUB-01",
    exception: str | None = None,
    city: str | None = None,
) -> Scan:
    return Scan(
        tracking_number=TN,
        facility_id=facility,
        occurred_at=1_795_000_000_000_000 + hour * HOUR,
        utc_offset=-300,
        status_code=code,
        exception_code=exception,
        location=Location(city=city) if city else None,
    )


def test_no_scans_means_label_created() -> None:
    state = derive_status([])
    assert state.status is Status.LABEL_CREATED
    assert state.history == ()


def test_facility_scans_all_mean_in_transit() -> None:
    for code in (
        ScanCode.ARRIVED_AT_FACILITY,
        ScanCode.DEPARTED_FACILITY,
        ScanCode.PROCESSED_AT_FACILITY,
        ScanCode.IN_TRANSIT,
    ):
        assert (
            derive_status([scan(ScanCode.PICKED_UP, 0), scan(code, 1)]).status is Status.IN_TRANSIT
        )


def test_first_scan_may_skip_states() -> None:
    assert derive_status([scan(ScanCode.OUT_FOR_DELIVERY, 5)]).status is Status.OUT_FOR_DELIVERY


def test_status_follows_event_time_not_arrival_order() -> None:
    arrived_late = [scan(ScanCode.OUT_FOR_DELIVERY, 9), scan(ScanCode.ARRIVED_AT_FACILITY, 2)]
    assert derive_status(arrived_late).status is Status.OUT_FOR_DELIVERY


def test_history_is_oldest_first_and_deduplicated() -> None:
    pickup, hub = scan(ScanCode.PICKED_UP, 0), scan(ScanCode.ARRIVED_AT_FACILITY, 3)
    state = derive_status([hub, pickup, hub, pickup])
    assert state.history == (pickup, hub)


def test_delivered_is_terminal_and_late_scans_are_flagged() -> None:
    delivered = scan(ScanCode.DELIVERED, 10, city="Atlanta")
    stray = scan(ScanCode.ARRIVED_AT_FACILITY, 12, facility="MEM-HUB", city="Memphis")
    state = derive_status([scan(ScanCode.OUT_FOR_DELIVERY, 8), delivered, stray])
    assert state.status is Status.DELIVERED
    assert stray in state.history
    assert state.after_delivery == frozenset({stray.dedup_key})
    assert state.last_location == Location(city="Atlanta")


def test_late_arriving_older_scan_keeps_delivered_and_is_not_flagged() -> None:
    earlier = scan(ScanCode.ARRIVED_AT_FACILITY, 3)
    state = derive_status([scan(ScanCode.DELIVERED, 10), earlier])
    assert state.status is Status.DELIVERED
    assert state.after_delivery == frozenset()


def test_exception_carries_its_reason_as_status_detail() -> None:
    state = derive_status(
        [scan(ScanCode.IN_TRANSIT, 1), scan(ScanCode.EXCEPTION, 2, exception="WEATHER_DELAY")]
    )
    assert state.status is Status.EXCEPTION
    assert state.status_detail == "WEATHER_DELAY"


def test_attempt_carries_its_reason_and_progress_moves_on() -> None:
    attempt = scan(ScanCode.DELIVERY_ATTEMPTED, 10, exception="NO_ACCESS")
    assert derive_status([attempt]).status_detail == "NO_ACCESS"
    state = derive_status([attempt, scan(ScanCode.OUT_FOR_DELIVERY, 34)])
    assert state.status is Status.OUT_FOR_DELIVERY
    assert state.status_detail is None


def test_progress_after_exception_moves_the_package_on() -> None:
    state = derive_status(
        [scan(ScanCode.EXCEPTION, 1, exception="DAMAGED"), scan(ScanCode.DEPARTED_FACILITY, 4)]
    )
    assert state.status is Status.IN_TRANSIT


def test_label_scan_never_moves_a_moving_package_back() -> None:
    state = derive_status([scan(ScanCode.PICKED_UP, 1), scan(ScanCode.LABEL_CREATED, 2)])
    assert state.status is Status.PICKED_UP


def test_same_instant_orders_by_progress() -> None:
    state = derive_status([scan(ScanCode.DELIVERED, 5), scan(ScanCode.OUT_FOR_DELIVERY, 5)])
    assert state.status is Status.DELIVERED
    assert [s.status_code for s in state.history] == [
        ScanCode.OUT_FOR_DELIVERY,
        ScanCode.DELIVERED,
    ]


def test_each_milestone_occurrence_is_one_transition() -> None:
    state = derive_status(
        [
            scan(ScanCode.PICKED_UP, 0),
            scan(ScanCode.ARRIVED_AT_FACILITY, 2),
            scan(ScanCode.DEPARTED_FACILITY, 3),
            scan(ScanCode.OUT_FOR_DELIVERY, 10),
            scan(ScanCode.DELIVERY_ATTEMPTED, 12, exception="NO_ACCESS"),
            scan(ScanCode.OUT_FOR_DELIVERY, 34),
            scan(ScanCode.DELIVERED, 36),
        ]
    )
    assert [t.status for t in state.transitions] == [
        Status.PICKED_UP,
        Status.IN_TRANSIT,
        Status.OUT_FOR_DELIVERY,
        Status.ATTEMPTED_DELIVERY,
        Status.OUT_FOR_DELIVERY,
        Status.DELIVERED,
    ]


_codes = st.sampled_from(list(ScanCode))
_scans = st.builds(
    lambda code, hour, facility, exception: scan(
        code, hour, facility, exception or ("DAMAGED" if code is ScanCode.EXCEPTION else None)
    ),
    _codes,
    st.integers(0, 48),
    st.sampled_from(["ATL-HUB-01", "MEM-HUB", "ATL-DS-7"]),
    st.sampled_from([None, "WEATHER_DELAY", "NO_ACCESS"]),
)


@settings(max_examples=300)
@given(scans=st.lists(_scans, min_size=1, max_size=25), data=st.data())
def test_any_arrival_order_gives_the_same_status_and_history(
    scans: list[Scan], data: st.DataObject
) -> None:
    """Facility batches arrive late, carriers replay, devices flush buffers: same set, same answer.

    Resends are exact copies, so the arrival sequence is a shuffle of the scans plus repeats."""
    distinct = list({s.dedup_key: s for s in scans}.values())
    repeats = data.draw(st.lists(st.sampled_from(distinct), max_size=10))
    arrival = data.draw(st.permutations(distinct + repeats))
    expected = derive_status(distinct)
    actual = derive_status(arrival)
    assert actual == expected
