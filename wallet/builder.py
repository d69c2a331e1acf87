"""Building and signing transactions, and converting GeoJSON to the ledger's integer form.

The wallet is outside consensus, so it may accept floats in its *input* (GeoJSON from a
GIS tool); everything it hands to :func:`ledger.tx.build_transaction` is exact: strings
NFC-normalised, coordinates integers in units of 1e-7 degree.
"""

from __future__ import annotations

import decimal
import json
import secrets
import unicodedata
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from ledger.crypto import PrivateKey
from ledger.encoding import CanonicalEncodingError, check_canonical_value
from ledger.tx import Transaction, build_transaction
from wallet.errors import WalletError

__all__ = [
    "E7",
    "build_signed_tx",
    "geojson_to_ledger",
    "load_geojson",
    "new_nonce",
    "nfc",
    "parse_args_json",
    "to_e7",
]

E7 = 10**7
MAX_LON_E7 = 180 * E7
MAX_LAT_E7 = 90 * E7
_MAX_DIGITS = 100
_WGS84_CRS = frozenset(
    {"urn:ogc:def:crs:OGC:1.3:CRS84", "urn:ogc:def:crs:OGC::CRS84", "EPSG:4326",
     "urn:ogc:def:crs:EPSG::4326"}
)  # fmt: skip


def new_nonce() -> str:
    """A random 128-bit nonce as 32 hex digits."""
    return secrets.token_hex(16)


def nfc(value: Any, path: str = "") -> Any:
    """A copy of ``value`` with every string (values and object keys) in NFC; tuples become
    lists. Raises ``WalletError('invalid_args')`` if two keys of one object normalise to the
    same string."""
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            new_key = unicodedata.normalize("NFC", key) if isinstance(key, str) else key
            sub = f"{path}.{new_key}" if path else str(new_key)
            if new_key in out:
                raise WalletError(
                    "invalid_args", f"{sub}: two object keys are the same after NFC normalisation"
                )
            out[new_key] = nfc(item, sub)
        return out
    if isinstance(value, list | tuple):
        return [nfc(item, f"{path}[{i}]") for i, item in enumerate(value)]
    return value


def build_signed_tx(
    *,
    chain_id: str,
    contract: str,
    method: str,
    args: Mapping[str, Any],
    keys: Sequence[PrivateKey],
    nonce: str | None = None,
) -> Transaction:
    """Build a transaction signed by every key in ``keys`` (the first is the main signer,
    the rest co-sign the same payload). Strings are NFC-normalised first; the nonce is
    random unless given. Raises ``WalletError`` for unencodable args (the message names the
    field) or a key listed twice, and ``ledger.errors.TxError`` for a malformed payload."""
    if not keys:
        raise WalletError("no_signer", "a transaction needs at least one signing key")
    signers = [k.public_key_hex for k in keys]
    if len(set(signers)) != len(signers):
        raise WalletError("duplicate_signer", "the same key is listed twice as a signer")
    if not isinstance(args, Mapping):
        raise WalletError("invalid_args", "args must be a JSON object")
    norm_args = nfc(args)
    try:
        check_canonical_value(norm_args)
    except CanonicalEncodingError as exc:
        where = f"args.{exc.path}" if exc.path else "args"
        raise WalletError("invalid_args", f"{where}: {exc.reason}") from None
    return build_transaction(
        chain_id=nfc(chain_id),
        contract=nfc(contract),
        method=nfc(method),
        args=norm_args,
        nonce=new_nonce() if nonce is None else nfc(nonce),
        keys=list(keys),
    )


def _reject_constant(text: str) -> Any:
    raise WalletError("invalid_json", f"{text} is not allowed in JSON input")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise WalletError("invalid_json", f"duplicate object key {key!r}")
        out[key] = value
    return out


def parse_args_json(text: str | bytes) -> dict[str, Any]:
    """Parse transaction args given as JSON text: an object, no duplicate keys, no floats
    (quantities are integers or decimal strings), no NaN. Strings are NFC-normalised."""

    def reject_float(token: str) -> Any:
        raise WalletError(
            "invalid_args",
            f"floats are not allowed in transaction args (found {token}); use an integer or "
            'a decimal string such as "0.307"; convert GeoJSON with `fcl tx geojson`',
        )

    try:
        value = json.loads(
            text,
            parse_float=reject_float,
            parse_constant=_reject_constant,
            object_pairs_hook=_no_duplicates,
        )
    except WalletError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise WalletError("invalid_json", f"args are not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise WalletError("invalid_args", "args must be a JSON object")
    return nfc(value)


def load_geojson(text: str | bytes) -> Any:
    """Parse GeoJSON text, reading every non-integer number as an exact ``Decimal``."""
    try:
        return json.loads(
            text,
            parse_float=Decimal,
            parse_constant=_reject_constant,
            object_pairs_hook=_no_duplicates,
        )
    except WalletError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise WalletError("invalid_geojson", f"not valid JSON: {exc}") from None


def to_e7(value: Any, *, limit_e7: int, field: str = "coordinate") -> int:
    """Decimal degrees -> integer units of 1e-7 degree, exactly.

    A float is read through ``Decimal(str(x))`` (its shortest round-trip text, so
    ``117.1234567`` is exactly that), then multiplied by 10**7 and rounded half-to-even.
    Rejects bools, strings, NaN, infinities and values with ``|value| > limit_e7 / 1e7``."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise WalletError("invalid_geojson", f"{field}: {value!r} is not a number")
    dec = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if not dec.is_finite():
        raise WalletError("invalid_geojson", f"{field}: {value!r} is not a finite number")
    if len(dec.as_tuple().digits) > _MAX_DIGITS:
        raise WalletError("invalid_geojson", f"{field}: more than {_MAX_DIGITS} digits")
    with decimal.localcontext() as ctx:
        ctx.prec = 2 * _MAX_DIGITS
        ctx.rounding = ROUND_HALF_EVEN
        ctx.traps[decimal.Inexact] = False
        if abs(dec) * E7 > limit_e7:
            raise WalletError(
                "invalid_geojson", f"{field}: {value} is outside +/-{limit_e7 // E7} degrees"
            )
        return int(dec.scaleb(7).to_integral_value(rounding=ROUND_HALF_EVEN))


def _position(pos: Any, where: str) -> list[int]:
    if not isinstance(pos, list | tuple):
        raise WalletError("invalid_geojson", f"{where}: a position is [longitude, latitude]")
    if len(pos) != 2:
        raise WalletError(
            "invalid_geojson",
            f"{where}: a position must be exactly [longitude, latitude] "
            f"(got {len(pos)} numbers; remove any altitude)",
        )
    return [
        to_e7(pos[0], limit_e7=MAX_LON_E7, field=f"{where}[0] (longitude)"),
        to_e7(pos[1], limit_e7=MAX_LAT_E7, field=f"{where}[1] (latitude)"),
    ]


def geojson_to_ledger(geojson: Mapping[str, Any]) -> dict[str, Any]:
    """Convert a GeoJSON Polygon (or a Feature whose geometry is one) in WGS 84 decimal
    degrees to the ledger form ``{"type": "Polygon", "coordinates": [[[lon_e7, lat_e7],
    ...], ...]}`` with integer coordinates in units of 1e-7 degree (about 1.1 cm).

    Each ring needs at least four positions and must be closed (first == last after
    conversion). Raises ``WalletError('invalid_geojson')`` naming the offending position."""
    if not isinstance(geojson, Mapping):
        raise WalletError("invalid_geojson", "GeoJSON must be an object")
    geom: Any = geojson
    where = "geometry"
    if geojson.get("type") == "Feature":
        geom = geojson.get("geometry")
        if not isinstance(geom, Mapping):
            raise WalletError("invalid_geojson", "the Feature has no geometry object")
    _check_crs(geojson)
    _check_crs(geom)
    if geom.get("type") != "Polygon":
        raise WalletError("invalid_geojson", f"expected a Polygon, got type {geom.get('type')!r}")
    rings = geom.get("coordinates")
    if not isinstance(rings, list | tuple) or not rings:
        raise WalletError("invalid_geojson", "a Polygon's coordinates are a list of rings")
    out_rings: list[list[list[int]]] = []
    for i, ring in enumerate(rings):
        rw = f"{where}.coordinates[{i}]"
        if not isinstance(ring, list | tuple) or len(ring) < 4:
            raise WalletError("invalid_geojson", f"{rw}: a ring needs at least 4 positions")
        out = [_position(pos, f"{rw}[{j}]") for j, pos in enumerate(ring)]
        if out[0] != out[-1]:
            raise WalletError(
                "invalid_geojson", f"{rw}: a ring must be closed (first position == last)"
            )
        out_rings.append(out)
    return {"type": "Polygon", "coordinates": out_rings}


def _check_crs(obj: Mapping[str, Any]) -> None:
    crs = obj.get("crs")
    if crs is None:
        return
    props = crs.get("properties") if isinstance(crs, Mapping) else None
    name = props.get("name") if isinstance(props, Mapping) else None
    if name not in _WGS84_CRS:
        raise WalletError(
            "invalid_geojson",
            f"coordinates must be WGS 84 longitude/latitude degrees (crs {name!r} given)",
        )
