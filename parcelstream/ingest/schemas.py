"""Wire shapes of what scanners and shippers send, decoded and type-checked by msgspec."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Code = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
Identifier = Annotated[
    str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")
]
Country = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z]{2}$")]


class LocationIn(msgspec.Struct):
    city: Text | None = None
    region: Text | None = None
    postal_code: Annotated[str, msgspec.Meta(min_length=1, max_length=16)] | None = None
    country: Country | None = None


class GeoPointIn(msgspec.Struct):
    latitude: Annotated[float, msgspec.Meta(ge=-90, le=90)]
    longitude: Annotated[float, msgspec.Meta(ge=-180, le=180)]
    accuracy_m: Annotated[float, msgspec.Meta(ge=0, le=100_000)] | None = None


class ProofIn(msgspec.Struct):
    """What a driver says about a delivery; the files come as multipart parts, never here."""

    signed_by: Text | None = None
    left_at: Text | None = None
    location: GeoPointIn | None = None


class ScanIn(msgspec.Struct):
    tracking_number: Annotated[str, msgspec.Meta(max_length=80)]
    facility_id: Identifier
    timestamp: Annotated[str, msgspec.Meta(max_length=40)]
    status_code: Code
    employee_id: Identifier | None = None
    exception_code: Code | None = None
    location: LocationIn | None = None
    proof: ProofIn | None = None


class ScanBatchIn(msgspec.Struct):
    scans: list[msgspec.Raw]


class ContactIn(msgspec.Struct):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    email: Annotated[str, msgspec.Meta(max_length=254)] | None = None
    phone: Annotated[str, msgspec.Meta(max_length=20)] | None = None
    notify: list[Literal["email", "sms"]] | None = None
    milestones: (
        list[
            Literal[
                "PICKED_UP",
                "OUT_FOR_DELIVERY",
                "DELIVERED",
                "ATTEMPTED_DELIVERY",
                "EXCEPTION",
                "ESTIMATE_CHANGED",  # opt-in only: never part of the default milestones
            ]
        ]
        | None
    ) = None


class AddressIn(msgspec.Struct):
    line1: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    line2: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    city: Text | None = None
    region: Text | None = None
    postal_code: Annotated[str, msgspec.Meta(min_length=1, max_length=16)] | None = None
    country: Country | None = None


class WeightIn(msgspec.Struct):
    value: Annotated[float, msgspec.Meta(gt=0, le=100_000)]
    unit: str


class PackageIn(msgspec.Struct):
    tracking_number: Annotated[str, msgspec.Meta(max_length=80)]
    carrier: Code | None = None
    service_type: Code | None = None
    shipper: ContactIn | None = None
    recipient: ContactIn | None = None
    origin: AddressIn | None = None
    destination: AddressIn | None = None
    weight: WeightIn | None = None
