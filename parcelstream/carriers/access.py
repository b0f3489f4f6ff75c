"""Which partner carriers this deployment may call, from the `PARCELSTREAM_{UPS,FEDEX,USPS}_API_URL`
settings: base URL, client credentials and request budget in one URL, as the other back ends are.

URL form: `https://CLIENT_ID:CLIENT_SECRET@onlinetools.ups.com?rate=5&burst=10&daily=100000&concurrency=4`
(percent-encode `@`, `:` and `/` in the credentials). Options: `rate` (requests/s), `burst`,
`daily` (requests per UTC day, 0 for none), `concurrency`, and for UPS `subscribe=true` (Track
Alert subscriptions for every followed package, renewed before they lapse).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

from parcelstream.carriers.budget import Limits
from parcelstream.carriers.oauth import Credentials
from parcelstream.settings import Settings
from parcelstream.storage.urls import mask_password, split_options

PARTNER_CARRIERS = ("ups", "fedex", "usps")

DEFAULT_LIMITS = {
    # UPS publishes no quota and answers 429 when it minds (SPEC §2.3): stay modest.
    "ups": Limits(rate=5.0, burst=10, daily=100_000, concurrency=4),
    # FedEx: 1,400 per 10 s burst and 100K a day for the Track capability (SPEC §3.4).
    "fedex": Limits(rate=50.0, burst=100, daily=100_000, concurrency=8),
    # USPS: about 60 an hour per application, token requests included (SPEC §4.3).
    "usps": Limits(rate=1 / 60, burst=2, daily=1_400, concurrency=1),
}


@dataclass(frozen=True, slots=True)
class CarrierAccess:
    carrier: str
    base_url: str
    credentials: Credentials
    limits: Limits
    subscribe: bool = False

    @property
    def described(self) -> str:
        return f"{self.carrier} at {self.base_url}"


def carrier_access(settings: Settings) -> dict[str, CarrierAccess]:
    """The carriers configured (base URL with credentials), by id; raises ValueError naming the
    setting when one is unusable."""
    found: dict[str, CarrierAccess] = {}
    for carrier in PARTNER_CARRIERS:
        url = getattr(settings, f"{carrier}_api_url")
        if url:
            found[carrier] = parse_access(carrier, url)
    return found


def parse_access(carrier: str, url: str) -> CarrierAccess:
    setting = f"PARCELSTREAM_{carrier.upper()}_API_URL"
    known = {"rate", "burst", "daily", "concurrency", "subscribe"}
    try:
        bare, options = split_options(url, known)
    except ValueError as exc:
        raise ValueError(f"{setting}={mask_password(url)}: {exc}") from None
    parts = urlsplit(bare)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{setting}={mask_password(url)}: expected https://ID:SECRET@host")
    if not parts.username or not parts.password:
        raise ValueError(
            f"{setting}={mask_password(url)}: the client id and secret go before the host"
            " (https://ID:SECRET@host)"
        )
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    base = urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))
    default = DEFAULT_LIMITS[carrier]
    try:
        daily = int(options.get("daily", default.daily or 0))
        limits = Limits(
            rate=float(options.get("rate", default.rate)),
            burst=int(options.get("burst", default.burst)),
            daily=daily or None,
            concurrency=int(options.get("concurrency", default.concurrency)),
        )
    except ValueError as exc:
        raise ValueError(f"{setting}: {exc}") from None
    if limits.rate <= 0 or limits.burst < 1 or limits.concurrency < 1:
        raise ValueError(f"{setting}: rate must be positive, burst and concurrency at least 1")
    return CarrierAccess(
        carrier=carrier,
        base_url=base,
        credentials=Credentials(unquote(parts.username), unquote(parts.password)),
        limits=limits,
        subscribe=options.get("subscribe", "false").lower() in ("1", "true", "yes"),
    )
