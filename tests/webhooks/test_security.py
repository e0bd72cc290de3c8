"""Sender allowlist, Basic auth and client address helpers."""

from __future__ import annotations

import base64
import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cwpro.webhooks import CWP_SENDER_IPS, client_ip, is_allowed_sender, verify_basic_auth


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("ip", "allowed"),
    [
        ("44.193.241.109", True),
        ("184.169.231.134", True),
        (" 44.193.241.109 ", True),
        ("::ffff:44.193.241.109", True),
        ("[::ffff:184.169.231.134]", True),
        ("44.193.241.110", False),
        ("127.0.0.1", False),
        ("::1", False),
        ("", False),
        (None, False),
        ("not an ip", False),
        ("44.193.241.109/32", False),
        ("44.193.241.109, 1.2.3.4", False),
    ],
)
def test_default_allowlist(ip: str | None, allowed: bool) -> None:
    assert CWP_SENDER_IPS == ("44.193.241.109", "184.169.231.134")
    assert is_allowed_sender(ip) is allowed


def test_networks_and_ipv6_in_allowlist() -> None:
    allowlist = ["10.0.0.0/8", "2001:db8::/32", "::ffff:192.0.2.1", "127.0.0.1"]
    assert is_allowed_sender("10.200.3.4", allowlist)
    assert not is_allowed_sender("11.0.0.1", allowlist)
    assert is_allowed_sender("2001:db8::42", allowlist)
    assert is_allowed_sender("192.0.2.1", allowlist)  # mapped entry matches plain IPv4
    assert is_allowed_sender("::ffff:10.1.1.1", allowlist)  # mapped peer matches IPv4 network
    assert is_allowed_sender("::ffff:127.0.0.1", allowlist)
    assert not is_allowed_sender("2001:db9::1", allowlist)


def test_non_strict_network_entries_are_accepted() -> None:
    assert is_allowed_sender("192.168.1.77", ["192.168.1.5/24"])


def test_invalid_allowlist_entry_is_a_loud_error() -> None:
    with pytest.raises(ValueError, match="not an IP address or network"):
        is_allowed_sender("1.2.3.4", ["1.2.3.4", "example.com"])


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=50))
def test_arbitrary_text_never_crashes_and_never_passes_by_accident(ip: str) -> None:
    allowed = is_allowed_sender(ip)
    if allowed:
        address = ipaddress.ip_address(ip.strip().strip("[]"))
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        assert str(address) in CWP_SENDER_IPS


@settings(max_examples=100, deadline=None)
@given(st.ip_addresses(v=4))
def test_ipv4_mapped_form_is_equivalent(address: ipaddress.IPv4Address) -> None:
    allowlist = [str(address)]
    assert is_allowed_sender(f"::ffff:{address}", allowlist)
    assert is_allowed_sender(str(address), allowlist)


def test_basic_auth_accepts_only_the_exact_credentials() -> None:
    assert verify_basic_auth(basic("cwp", "s3cret"), "cwp", "s3cret")
    assert verify_basic_auth("basic " + basic("cwp", "s3cret")[6:], "cwp", "s3cret")
    assert verify_basic_auth(basic("üser", "pässword:with:colons"), "üser", "pässword:with:colons")
    assert verify_basic_auth(basic("cwp", ""), "cwp", "")
    assert not verify_basic_auth(basic("cwp", "wrong"), "cwp", "s3cret")
    assert not verify_basic_auth(basic("other", "s3cret"), "cwp", "s3cret")
    assert not verify_basic_auth(basic("cwp", "s3cret "), "cwp", "s3cret")
    assert not verify_basic_auth(basic("cwp", "s3cre"), "cwp", "s3cret")


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Basic",
        "Basic ",
        "Bearer " + base64.b64encode(b"cwp:s3cret").decode(),
        "Basic not-base64!!",
        "Basic " + base64.b64encode(b"cwps3cret").decode(),  # no colon
        "Basic " + base64.b64encode(b"cwp:s3cret").decode()[:-2],  # bad padding
        "Basic é",
    ],
)
def test_basic_auth_malformed_headers(header: str | None) -> None:
    assert not verify_basic_auth(header, "cwp", "s3cret")


def test_basic_auth_without_colon_does_not_match_empty_credentials() -> None:
    header = "Basic " + base64.b64encode(b"").decode()
    assert not verify_basic_auth(header, "", "")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40), st.text(max_size=40) | st.none())
def test_basic_auth_never_raises(user: str, password: str, header: str | None) -> None:
    assert verify_basic_auth(header, user, password) in (True, False)
    assert verify_basic_auth(basic(user, password), user, password) is (":" not in user)


PROXY = "10.0.0.5"


def test_forwarded_for_from_untrusted_peer_is_ignored() -> None:
    assert client_ip("6.6.6.6", "44.193.241.109", []) == "6.6.6.6"
    assert client_ip("6.6.6.6", "44.193.241.109", [PROXY]) == "6.6.6.6"


def test_forwarded_for_from_trusted_proxy_is_used() -> None:
    assert client_ip(PROXY, "44.193.241.109", [PROXY]) == "44.193.241.109"
    assert client_ip(PROXY, "44.193.241.109", ["10.0.0.0/24"]) == "44.193.241.109"


def test_forwarded_for_is_walked_from_the_right() -> None:
    # The client forged the leftmost entry; the proxy appended the real address.
    assert client_ip(PROXY, "44.193.241.109, 6.6.6.6", [PROXY]) == "6.6.6.6"
    # Two trusted proxies in a chain are skipped.
    chain = "44.193.241.109, 10.0.0.9"
    assert client_ip(PROXY, chain, ["10.0.0.0/24"]) == "44.193.241.109"
    # Every entry trusted: the leftmost one.
    assert client_ip(PROXY, "10.0.0.7, 10.0.0.8", ["10.0.0.0/24"]) == "10.0.0.7"


def test_forwarded_for_edge_cases() -> None:
    assert client_ip(PROXY, None, [PROXY]) == PROXY
    assert client_ip(PROXY, " , ", [PROXY]) == PROXY
    assert client_ip(PROXY, "garbage", [PROXY]) == "garbage"
    assert not is_allowed_sender(client_ip(PROXY, "garbage", [PROXY]))
    assert client_ip(None, "44.193.241.109", [PROXY]) == ""
    assert client_ip("::ffff:10.0.0.5", "44.193.241.109", [PROXY]) == "44.193.241.109"


def test_trust_any_peer_uses_the_rightmost_entry() -> None:
    assert client_ip("6.6.6.6", "1.1.1.1, 44.193.241.109", [], trust_any_peer=True) == (
        "44.193.241.109"
    )
    assert client_ip("6.6.6.6", None, [], trust_any_peer=True) == "6.6.6.6"
