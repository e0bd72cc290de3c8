"""Who may deliver webhooks: the sender allowlist, HTTP Basic auth and the client address.

* :func:`is_allowed_sender` - is an address in the allowlist (addresses or CIDR networks)?
* :func:`verify_basic_auth` - does an ``Authorization`` header carry the expected credentials?
  Compared in constant time.
* :func:`client_ip` - the address of the real client, using ``X-Forwarded-For`` only when the
  immediate peer is a trusted proxy.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
from collections.abc import Iterable
from typing import Final, TypeAlias

__all__ = [
    "CWP_SENDER_IPS",
    "AddressMatcher",
    "client_ip",
    "is_allowed_sender",
    "parse_ip",
    "verify_basic_auth",
]

#: The addresses CWP delivers webhook notifications from (per the CWP API description).
CWP_SENDER_IPS: Final = ("44.193.241.109", "184.169.231.134")

IPAddress: TypeAlias = "ipaddress.IPv4Address | ipaddress.IPv6Address"
IPNetwork: TypeAlias = "ipaddress.IPv4Network | ipaddress.IPv6Network"


def parse_ip(text: str | None) -> IPAddress | None:
    """Parse an IP address, folding IPv4-mapped IPv6 (``::ffff:1.2.3.4``) into IPv4.

    Returns ``None`` for anything that is not an address (empty, garbage, a network ...).
    Accepts surrounding whitespace and IPv6 in brackets (``[::1]``).
    """
    if not text:
        return None
    candidate = text.strip()
    if candidate.startswith("[") and candidate.endswith("]"):
        candidate = candidate[1:-1]
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _parse_network(entry: str) -> IPNetwork:
    """An allowlist entry (address or CIDR) as a network; ValueError when invalid."""
    address = parse_ip(entry)
    if address is not None:
        return ipaddress.ip_network(address)
    return ipaddress.ip_network(entry.strip(), strict=False)


class AddressMatcher:
    """A set of IP addresses and networks, parsed once, to test addresses against.

    Entries are addresses (``"44.193.241.109"``, ``"::1"``) or networks (``"10.0.0.0/8"``).
    IPv4-mapped IPv6 addresses match their IPv4 entries and vice versa.

    Raises:
        ValueError: an entry is neither an address nor a network (a configuration mistake
            must be loud, never a silently empty allowlist).
    """

    def __init__(self, entries: Iterable[str]) -> None:
        if isinstance(entries, str):
            entries = (entries,)
        networks: list[IPNetwork] = []
        for entry in entries:
            try:
                networks.append(_parse_network(entry))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"not an IP address or network: {entry!r}") from exc
        self._networks: tuple[IPNetwork, ...] = tuple(networks)

    def __bool__(self) -> bool:
        return bool(self._networks)

    def __repr__(self) -> str:
        return f"AddressMatcher({[str(network) for network in self._networks]!r})"

    def matches(self, ip: str | None) -> bool:
        """True when ``ip`` is a valid address inside one of the entries."""
        address = parse_ip(ip)
        if address is None:
            return False
        return any(address in network for network in self._networks)


def is_allowed_sender(ip: str | None, allowlist: Iterable[str] = CWP_SENDER_IPS) -> bool:
    """True when ``ip`` is in ``allowlist`` (addresses or CIDR networks).

    An invalid ``ip`` is never allowed. IPv4-mapped IPv6 (``::ffff:44.193.241.109``) is
    treated as the IPv4 address.

    Raises:
        ValueError: an allowlist entry is not an address or network.
    """
    return AddressMatcher(allowlist).matches(ip)


def _digest(value: bytes) -> bytes:
    """A fixed-length digest, so that comparing it leaks nothing about the value's length."""
    return hashlib.sha256(value).digest()


def verify_basic_auth(header: str | None, username: str, password: str) -> bool:
    """True when an ``Authorization`` header holds HTTP Basic credentials equal to the given ones.

    The user name and the password are both always compared (no early return when the user
    name differs), with :func:`hmac.compare_digest` over SHA-256 digests of their UTF-8 bytes,
    so the time taken does not depend on where, or whether, they differ, nor on their lengths.
    A missing or malformed header (other scheme, bad base64, no ``:``) returns False.
    """
    expected_user = _digest(username.encode("utf-8"))
    expected_password = _digest(password.encode("utf-8"))
    given_user, given_password = b"", b""
    well_formed = False
    if header:
        scheme, _, encoded = header.strip().partition(" ")
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(encoded.strip().encode("ascii"), validate=True)
            except (binascii.Error, UnicodeEncodeError, ValueError):
                decoded = b""
            else:
                given_user, separator, given_password = decoded.partition(b":")
                well_formed = bool(separator)
    user_ok = hmac.compare_digest(_digest(given_user), expected_user)
    password_ok = hmac.compare_digest(_digest(given_password), expected_password)
    return well_formed & user_ok & password_ok


def client_ip(
    remote: str | None,
    forwarded_for: str | None,
    trusted_proxies: Iterable[str] | AddressMatcher,
    *,
    trust_any_peer: bool = False,
) -> str:
    """The address of the client that sent a request.

    ``X-Forwarded-For`` is used only when the immediate peer ``remote`` is one of
    ``trusted_proxies``. Its entries are then walked from the right (the entry appended by the
    nearest proxy) skipping trusted proxies; the first untrusted entry is the client. Entries
    to its left were written by the client itself and can be forged, so they are never used.
    When every entry is a trusted proxy the leftmost one is returned.

    A spoofed header from an untrusted peer is ignored: the peer's address is returned. An
    entry that is not an IP address is returned as it is (so allowlist checks fail closed).

    Args:
        remote: the immediate peer address (``None`` if unknown, e.g. a Unix socket).
        forwarded_for: the ``X-Forwarded-For`` header, possibly several comma-joined headers.
        trusted_proxies: addresses/networks of the proxies in front of this server.
        trust_any_peer: treat the immediate peer as a trusted proxy whatever its address (only
            safe when nothing but your proxy can reach this server). The forwarded entries are
            still walked from the right, so the client is the rightmost untrusted entry.

    Returns:
        The client's address as a string ("" when ``remote`` is unknown and unusable).
    """
    proxies = (
        trusted_proxies
        if isinstance(trusted_proxies, AddressMatcher)
        else AddressMatcher(trusted_proxies)
    )
    peer = (remote or "").strip()
    if not forwarded_for or not (trust_any_peer or proxies.matches(peer)):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    if not hops:
        return peer
    for hop in reversed(hops):
        if not proxies.matches(hop):
            return hop
    return hops[0]
