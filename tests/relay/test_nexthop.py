"""Next-hop resolution against a real DNS server on loopback (tests/peers/_dns.py).

No dnspython mock: every lookup is a real query, over UDP (TCP after a truncated
answer), to the ``dns_server`` fixture, which alone is asked. Each test states the
rule it proves and asserts the exact hops, or the exact status and diagnostic.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from tests.peers._dns import DnsServer
from tests.peers._ports import LOOPBACK

from smtpx.relay._nexthop import (
    Destination,
    Hop,
    HopFailure,
    NextHops,
    Resolver,
    RouteError,
    destination_key,
    parse_host,
    parse_route,
)

T = TypeVar("T")
TIMEOUT = 0.5  # a lookup the server answers takes milliseconds; this bounds a silent one
HOST_FORM = "HOST[:PORT] or [ADDRESS][:PORT], e.g. smtp.example.net:587 or [2001:db8::1]:25"
ROUTE_FORM = (
    "DOMAIN=HOST[:PORT], or .DOMAIN=HOST[:PORT] for its subdomains, e.g. example.org=[192.0.2.1]:25"
)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def resolver(server: DnsServer, **options: Any) -> Resolver:
    options.setdefault("timeout", TIMEOUT)
    return Resolver(nameservers=server.nameservers, **options)


def failure(coroutine: Coroutine[Any, Any, object]) -> HopFailure:
    with pytest.raises(HopFailure) as caught:
        run(coroutine)
    return caught.value


def hosts(hops: list[Hop]) -> list[str]:
    return [hop.host for hop in hops]


def three_mx(server: DnsServer) -> None:
    server.records.update(
        {
            ("example.org", "MX"): ["20 mx2.example.org", "10 mx1.example.org", "30 mx3"],
            ("mx1.example.org", "A"): ["127.0.0.2"],
            ("mx2.example.org", "A"): ["127.0.0.3"],
            ("mx3", "A"): ["127.0.0.4"],
        }
    )


# MX records (RFC 5321 §5.1)


def test_mx_hosts_are_tried_lowest_preference_first(dns_server: DnsServer) -> None:
    three_mx(dns_server)
    assert run(resolver(dns_server).hops("example.org")) == [
        Hop("mx1.example.org", "127.0.0.2", 25, 10),
        Hop("mx2.example.org", "127.0.0.3", 25, 20),
        Hop("mx3", "127.0.0.4", 25, 30),
    ]


def test_the_port_is_the_callers(dns_server: DnsServer) -> None:
    three_mx(dns_server)
    hops = run(resolver(dns_server).hops("example.org", 2525))
    assert {hop.port for hop in hops} == {2525}


def test_equal_preferences_are_shuffled_repeatably_with_a_seed(dns_server: DnsServer) -> None:
    names = ["a.example.org", "b.example.org", "c.example.org"]
    dns_server.records[("example.org", "MX")] = ["5 best.example.org"] + [
        f"10 {name}" for name in names
    ]
    for index, name in enumerate(["best.example.org", *names]):
        dns_server.records[(name, "A")] = [f"127.0.1.{index}"]

    def order(seed: int) -> tuple[str, ...]:
        return tuple(hosts(run(resolver(dns_server, rng=random.Random(seed)).hops("example.org"))))

    orders = {order(seed) for seed in range(12)}
    assert all(each[0] == "best.example.org" for each in orders)
    assert all(sorted(each[1:]) == names for each in orders)
    # RFC 5321 §5.1: equal preferences "MUST" be randomized: more than one order shows.
    assert len(orders) > 1
    assert order(7) == order(7)


def test_each_host_gives_its_ipv4_then_its_ipv6_addresses(dns_server: DnsServer) -> None:
    dns_server.records.update(
        {
            ("example.org", "MX"): ["10 mx1.example.org", "20 mx2.example.org"],
            ("mx1.example.org", "A"): ["127.0.0.2", "127.0.0.3"],
            ("mx1.example.org", "AAAA"): ["::2", "2001:DB8::1"],
            ("mx2.example.org", "AAAA"): ["::3"],
        }
    )
    hops = run(resolver(dns_server).hops("example.org"))
    assert [(hop.host, hop.address) for hop in hops] == [
        ("mx1.example.org", "127.0.0.2"),
        ("mx1.example.org", "127.0.0.3"),
        ("mx1.example.org", "::2"),
        ("mx1.example.org", "2001:db8::1"),
        ("mx2.example.org", "::3"),
    ]


def test_an_address_two_mx_hosts_share_is_tried_once(dns_server: DnsServer) -> None:
    dns_server.records.update(
        {
            ("example.org", "MX"): ["10 mx1.example.org", "20 mx2.example.org"],
            ("mx1.example.org", "A"): ["127.0.0.2"],
            ("mx2.example.org", "A"): ["127.0.0.2", "127.0.0.3"],
        }
    )
    assert run(resolver(dns_server).hops("example.org")) == [
        Hop("mx1.example.org", "127.0.0.2", 25, 10),
        Hop("mx2.example.org", "127.0.0.3", 25, 20),
    ]


def test_an_mx_host_that_is_a_cname_keeps_its_mx_name(dns_server: DnsServer) -> None:
    dns_server.records.update(
        {
            ("example.org", "MX"): ["10 alias.example.org"],
            ("alias.example.org", "CNAME"): ["real.example.net"],
            ("real.example.net", "A"): ["127.0.0.9"],
        }
    )
    assert run(resolver(dns_server).hops("example.org")) == [
        Hop("alias.example.org", "127.0.0.9", 25, 10)
    ]


def test_a_truncated_answer_is_asked_again_over_tcp(dns_server: DnsServer) -> None:
    many = [f"127.0.{n // 250}.{n % 250 + 1}" for n in range(200)]  # > 1232 octets
    dns_server.records.update(
        {("example.org", "MX"): ["10 mx.example.org"], ("mx.example.org", "A"): many}
    )
    hops = run(resolver(dns_server).hops("example.org"))
    assert [hop.address for hop in hops] == many
    assert ("mx.example.org", "A") in dns_server.tcp_queries


def test_a_unicode_domain_is_looked_up_as_a_labels(dns_server: DnsServer) -> None:
    dns_server.records.update(
        {
            ("xn--bcher-kva.example", "MX"): ["10 mx.xn--bcher-kva.example"],
            ("mx.xn--bcher-kva.example", "A"): ["127.0.0.2"],
        }
    )
    assert run(resolver(dns_server).hops("Bücher.example")) == [
        Hop("mx.xn--bcher-kva.example", "127.0.0.2", 25, 10)
    ]
    assert dns_server.queries[0] == ("xn--bcher-kva.example", "MX")


# No MX: the implicit MX (RFC 5321 §5.1); null MX (RFC 7505)


def test_no_mx_means_the_domain_itself_with_preference_0(dns_server: DnsServer) -> None:
    dns_server.records.update(
        {("example.org", "A"): ["127.0.0.5"], ("example.org", "AAAA"): ["::5"]}
    )
    assert run(resolver(dns_server).hops("example.org")) == [
        Hop("example.org", "127.0.0.5", 25, 0),
        Hop("example.org", "::5", 25, 0),
    ]


def test_no_mx_and_no_address_is_a_permanent_5_4_4(dns_server: DnsServer) -> None:
    dns_server.records[("example.org", "TXT")] = ['"v=spf1 -all"']
    error = failure(resolver(dns_server).hops("example.org"))
    assert (error.permanent, error.status) == (True, "5.4.4")
    assert str(error) == "domain example.org has no MX and no address record"


def test_null_mx_is_a_permanent_5_1_10_without_an_address_lookup(dns_server: DnsServer) -> None:
    dns_server.records.update({("example.org", "MX"): ["0 ."], ("example.org", "A"): ["127.0.0.5"]})
    error = failure(resolver(dns_server).hops("example.org"))
    assert (error.permanent, error.status) == (True, "5.1.10")
    assert str(error) == "domain example.org accepts no mail (null MX, RFC 7505)"
    assert dns_server.queries == [("example.org", "MX")]


def test_a_null_mx_beside_real_mx_records_is_left_out(dns_server: DnsServer) -> None:
    dns_server.records.update(
        {
            ("example.org", "MX"): ["0 .", "10 mx1.example.org"],
            ("mx1.example.org", "A"): ["127.0.0.2"],
        }
    )
    assert run(resolver(dns_server).hops("example.org")) == [
        Hop("mx1.example.org", "127.0.0.2", 25, 10)
    ]


# DNS failures: permanent only when the answer is definite


def test_nxdomain_is_a_permanent_5_1_2(dns_server: DnsServer) -> None:
    error = failure(resolver(dns_server).hops("nowhere.example"))
    assert (error.permanent, error.status, error.domain) == (True, "5.1.2", "nowhere.example")
    assert str(error) == "domain nowhere.example does not exist (NXDOMAIN)"


def test_servfail_is_a_temporary_4_4_3(dns_server: DnsServer) -> None:
    three_mx(dns_server)
    dns_server.servfail.add("example.org")
    error = failure(resolver(dns_server).hops("example.org"))
    assert (error.permanent, error.status) == (False, "4.4.3")
    assert str(error) == (
        f"cannot look up the MX records of example.org: "
        f"{LOOPBACK} port {dns_server.port} answered SERVFAIL"
    )


def test_a_dns_timeout_is_a_temporary_4_4_3_within_the_timeout(dns_server: DnsServer) -> None:
    three_mx(dns_server)
    dns_server.silent.add("example.org")
    started = time.monotonic()
    error = failure(resolver(dns_server, timeout=0.2).hops("example.org"))
    assert time.monotonic() - started < 1.0
    assert (error.permanent, error.status) == (False, "4.4.3")
    assert (
        str(error)
        == "cannot look up the MX records of example.org: no answer from the DNS in 0.2 s"
    )


def test_an_unreachable_nameserver_is_a_temporary_4_4_3() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((LOOPBACK, 0))
        port = probe.getsockname()[1]
    # Nothing listens on that port now: refused at once, or silence until the timeout.
    dead = Resolver(nameservers=[(LOOPBACK, port)], timeout=0.2)
    error = failure(dead.hops("example.org"))
    assert (error.permanent, error.status) == (False, "4.4.3")
    assert str(error).startswith("cannot look up the MX records of example.org: ")


def test_mx_hosts_none_of_which_resolve_defer_4_4_3(dns_server: DnsServer) -> None:
    dns_server.records[("example.org", "MX")] = ["10 mx1.example.org", "20 mx2.example.org"]
    dns_server.servfail.add("mx2.example.org")
    error = failure(resolver(dns_server).hops("example.org"))
    assert (error.permanent, error.status) == (False, "4.4.3")
    assert str(error) == (
        "no MX host of example.org has an address: mx1.example.org (NXDOMAIN), "
        f"mx2.example.org ({LOOPBACK} port {dns_server.port} answered SERVFAIL)"
    )


def test_an_mx_host_that_fails_to_resolve_leaves_the_others(dns_server: DnsServer) -> None:
    three_mx(dns_server)
    dns_server.servfail.add("mx1.example.org")
    del dns_server.records[("mx2.example.org", "A")]
    assert hosts(run(resolver(dns_server).hops("example.org"))) == ["mx3"]


def test_an_implicit_mx_whose_address_lookup_fails_defers_4_4_3(dns_server: DnsServer) -> None:
    dns_server.records[("example.org", "A")] = ["127.0.0.5"]
    dns_server.silent.add(("example.org", "A"))
    dns_server.silent.add(("example.org", "AAAA"))
    started = time.monotonic()
    error = failure(resolver(dns_server, timeout=0.2).hops("example.org"))
    assert time.monotonic() - started < 1.0
    assert (error.permanent, error.status) == (False, "4.4.3")
    assert str(error) == (
        "cannot look up the address of example.org: no answer from the DNS in 0.2 s"
    )


# Loops (RFC 5321 §5.1)


def test_our_own_mx_drops_itself_and_every_worse_preference(dns_server: DnsServer) -> None:
    dns_server.records.update(
        {
            ("example.org", "MX"): [
                "10 mx1.example.org",
                "20 relay.example.org",
                "20 peer.example.org",
                "30 backup.example.org",
            ],
            ("mx1.example.org", "A"): ["127.0.0.2"],
            ("relay.example.org", "A"): ["127.0.0.3"],
            ("peer.example.org", "A"): ["127.0.0.4"],
            ("backup.example.org", "A"): ["127.0.0.5"],
        }
    )
    ours = resolver(dns_server, local=frozenset({"127.0.0.3"}))
    assert run(ours.hops("example.org")) == [Hop("mx1.example.org", "127.0.0.2", 25, 10)]


def test_our_own_name_among_the_mx_hosts_is_a_loop_too(dns_server: DnsServer) -> None:
    dns_server.records.update(
        {
            ("example.org", "MX"): ["10 mx1.example.org", "20 relay.example.org"],
            ("mx1.example.org", "A"): ["127.0.0.2"],
        }
    )
    ours = resolver(dns_server, local=frozenset({"Relay.Example.ORG"}))
    assert hosts(run(ours.hops("example.org"))) == ["mx1.example.org"]


def test_mail_when_we_are_the_best_mx_loops_back_5_4_6(dns_server: DnsServer) -> None:
    dns_server.records.update(
        {
            ("example.org", "MX"): ["10 relay.example.org", "20 backup.example.org"],
            ("relay.example.org", "AAAA"): ["::1"],
            ("backup.example.org", "A"): ["127.0.0.4"],
        }
    )
    error = failure(resolver(dns_server, local=frozenset({"[::1]"})).hops("example.org"))
    assert (error.permanent, error.status) == (True, "5.4.6")
    assert str(error) == "mail for example.org loops back to myself"


def test_an_implicit_mx_that_is_us_loops_back_5_4_6(dns_server: DnsServer) -> None:
    dns_server.records[("example.org", "A")] = ["127.0.0.3"]
    error = failure(resolver(dns_server, local=frozenset({"127.0.0.3"})).hops("example.org"))
    assert (error.status, str(error)) == ("5.4.6", "mail for example.org loops back to myself")


def test_a_bad_local_name_is_refused_at_once(dns_server: DnsServer) -> None:
    with pytest.raises(ValueError, match="the local name 'my host' is not a domain name"):
        resolver(dns_server, local=frozenset({"my host"}))


# Address literals and malformed domains (RFC 5321 §4.1.3)


@pytest.mark.parametrize(
    ("domain", "address"),
    [
        ("[192.0.2.1]", "192.0.2.1"),
        ("[IPv6:2001:DB8::1]", "2001:db8::1"),
        ("[192.0.2.01]", "192.0.2.1"),  # leading zeros: RFC 5321 §4.1.3 allows them
    ],
)
def test_an_address_literal_is_the_hop_itself(
    dns_server: DnsServer, domain: str, address: str
) -> None:
    assert run(resolver(dns_server).hops(domain)) == [Hop(address, address, 25, 0)]
    assert dns_server.queries == []


def test_an_address_literal_of_ours_loops_back(dns_server: DnsServer) -> None:
    error = failure(resolver(dns_server, local=frozenset({"127.0.0.3"})).hops("[127.0.0.3]"))
    assert (error.status, str(error)) == ("5.4.6", "mail for [127.0.0.3] loops back to myself")


@pytest.mark.parametrize(
    ("domain", "message"),
    [
        ("[300.1.1.1]", "[300.1.1.1] is not an IPv4 or IPv6 address literal (RFC 5321 §4.1.3)"),
        ("[::1]", "[::1] is not an IPv4 or IPv6 address literal (RFC 5321 §4.1.3)"),
        (
            "exa mple.org",
            "the domain 'exa mple.org' is not a domain name "
            "(letters, digits and inner hyphens only)",
        ),
    ],
)
def test_a_domain_that_is_no_domain_is_a_permanent_5_1_3(
    dns_server: DnsServer, domain: str, message: str
) -> None:
    error = failure(resolver(dns_server).hops(domain))
    assert (error.permanent, error.status, str(error)) == (True, "5.1.3", message)
    assert dns_server.queries == []


# NextHops: a static route, else the relay host, else the DNS


def policy(
    server: DnsServer, *routes: str, relay_host: str | None = None, **options: Any
) -> NextHops:
    return NextHops(
        dict(parse_route(route) for route in routes),
        None if relay_host is None else parse_host(relay_host),
        resolver(server),
        **options,
    )


def test_a_static_route_wins_over_the_relay_host_and_the_dns(dns_server: DnsServer) -> None:
    three_mx(dns_server)
    hops = policy(dns_server, "example.org=[192.0.2.10]:2525", relay_host="[192.0.2.20]:587")
    assert run(hops.for_domain("example.org")) == [Hop("192.0.2.10", "192.0.2.10", 2525, 0)]
    assert dns_server.queries == []


def test_the_relay_host_wins_over_the_dns(dns_server: DnsServer) -> None:
    three_mx(dns_server)
    hops = policy(dns_server, "other.example=[192.0.2.10]", relay_host="[192.0.2.20]:587")
    assert run(hops.for_domain("example.org")) == [Hop("192.0.2.20", "192.0.2.20", 587, 0)]
    assert dns_server.queries == []


def test_without_route_or_relay_host_the_dns_decides(dns_server: DnsServer) -> None:
    three_mx(dns_server)
    hops = policy(dns_server, "other.example=[192.0.2.10]", smtp_port=2525)
    assert run(hops.for_domain("EXAMPLE.org")) == [
        Hop("mx1.example.org", "127.0.0.2", 2525, 10),
        Hop("mx2.example.org", "127.0.0.3", 2525, 20),
        Hop("mx3", "127.0.0.4", 2525, 30),
    ]


def test_an_address_literal_goes_to_the_relay_host_else_to_itself(dns_server: DnsServer) -> None:
    relayed = policy(dns_server, relay_host="[192.0.2.20]:587")
    assert hosts(run(relayed.for_domain("[192.0.2.1]"))) == ["192.0.2.20"]
    direct = policy(dns_server, "example.org=[192.0.2.10]", smtp_port=2525)
    assert run(direct.for_domain("[192.0.2.1]")) == [Hop("192.0.2.1", "192.0.2.1", 2525, 0)]
    assert dns_server.queries == []


def test_a_dot_route_matches_subdomains_only(dns_server: DnsServer) -> None:
    hops = policy(dns_server, ".example.org=[192.0.2.10]", relay_host="[192.0.2.20]")
    assert hosts(run(hops.for_domain("mail.example.org"))) == ["192.0.2.10"]
    assert hosts(run(hops.for_domain("a.b.example.org"))) == ["192.0.2.10"]
    assert hosts(run(hops.for_domain("example.org"))) == ["192.0.2.20"]
    assert hosts(run(hops.for_domain("badexample.org"))) == ["192.0.2.20"]


def test_a_domain_route_does_not_match_its_subdomains(dns_server: DnsServer) -> None:
    hops = policy(dns_server, "example.org=[192.0.2.10]", relay_host="[192.0.2.20]")
    assert hosts(run(hops.for_domain("example.org"))) == ["192.0.2.10"]
    assert hosts(run(hops.for_domain("mail.example.org"))) == ["192.0.2.20"]


def test_the_most_specific_route_wins(dns_server: DnsServer) -> None:
    hops = policy(
        dns_server,
        ".example.org=[192.0.2.1]",
        ".b.example.org=[192.0.2.2]",
        "a.b.example.org=[192.0.2.3]",
    )
    assert hops.route("a.b.example.org") == Destination("192.0.2.3")
    assert hops.route("x.b.example.org") == Destination("192.0.2.2")
    assert hops.route("x.example.org") == Destination("192.0.2.1")
    assert hops.route("example.org") is None


def test_a_unicode_route_matches_the_same_domain_in_any_form(dns_server: DnsServer) -> None:
    hops = policy(dns_server, "bücher.example=[::1]:2525")
    assert run(hops.for_domain("BÜCHER.example")) == [Hop("::1", "::1", 2525, 0)]
    assert run(hops.for_domain("xn--bcher-kva.example")) == [Hop("::1", "::1", 2525, 0)]


def test_a_route_to_a_host_name_uses_the_system_resolver_not_mx(dns_server: DnsServer) -> None:
    hops = run(policy(dns_server, "example.org=localhost:2525").for_domain("example.org"))
    assert hops
    assert {(hop.host, hop.port, hop.preference) for hop in hops} == {("localhost", 2525, 0)}
    assert "127.0.0.1" in [hop.address for hop in hops]  # /etc/hosts
    assert dns_server.queries == []


def test_a_relay_host_nobody_knows_defers_4_4_3(dns_server: DnsServer) -> None:
    async def unknown(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    hops = policy(dns_server, relay_host="smtp.example.net:587", lookup_host=unknown)
    error = failure(hops.for_domain("example.org"))
    assert (error.permanent, error.status, error.domain) == (False, "4.4.3", "example.org")
    assert str(error) == (
        "the relay host smtp.example.net:587: cannot resolve smtp.example.net "
        "(Name or service not known)"
    )


def test_a_route_host_without_addresses_defers_4_4_3(dns_server: DnsServer) -> None:
    async def nothing(host: str, port: int) -> list[str]:
        return []

    hops = policy(dns_server, "example.org=smtp.example.net", lookup_host=nothing)
    error = failure(hops.for_domain("example.org"))
    assert (error.status, str(error)) == (
        "4.4.3",
        "the route for example.org to smtp.example.net:25: "
        "cannot resolve smtp.example.net (no address)",
    )


# Grouping recipients by next hop


def test_domains_with_the_same_mx_hosts_share_a_destination_key(dns_server: DnsServer) -> None:
    for domain in ("example.org", "example.net"):
        dns_server.records[(domain, "MX")] = ["10 a.example.com", "10 b.example.com"]
    dns_server.records[("a.example.com", "A")] = ["127.0.0.2"]
    dns_server.records[("b.example.com", "A")] = ["127.0.0.3"]
    orders = {
        tuple(hosts(run(resolver(dns_server, rng=random.Random(seed)).hops(domain))))
        for seed in range(8)
        for domain in ("example.org", "example.net")
    }
    assert len(orders) == 2  # shuffled, yet:
    org = run(resolver(dns_server, rng=random.Random(1)).hops("example.org"))
    net = run(resolver(dns_server, rng=random.Random(2)).hops("example.net"))
    assert destination_key(org) == destination_key(net)


def test_different_destinations_have_different_keys(dns_server: DnsServer) -> None:
    hops = policy(dns_server, "example.org=[192.0.2.1]", "example.net=[192.0.2.1]:2525")
    org = run(hops.for_domain("example.org"))
    net = run(hops.for_domain("example.net"))
    assert destination_key(org) != destination_key(net)
    assert destination_key(org) == destination_key(list(org))


# Reading routes and hosts


@pytest.mark.parametrize(
    ("spec", "destination"),
    [
        ("mx.example.net", Destination("mx.example.net", 25)),
        ("MX.Example.NET.:2525", Destination("mx.example.net", 2525)),
        ("localhost", Destination("localhost", 25)),
        ("bücher.example:587", Destination("xn--bcher-kva.example", 587)),
        ("192.0.2.1", Destination("192.0.2.1", 25)),
        ("192.0.2.1:587", Destination("192.0.2.1", 587)),
        ("[192.0.2.1]:25", Destination("192.0.2.1", 25)),
        ("[mx.example.net]:25", Destination("mx.example.net", 25)),
        ("[::1]", Destination("::1", 25)),
        ("[::1]:2525", Destination("::1", 2525)),
        ("[2001:DB8:0::1]", Destination("2001:db8::1", 25)),
        ("[IPv6:2001:db8::1]:465", Destination("2001:db8::1", 465)),
        (" mx.example.net:26 ", Destination("mx.example.net", 26)),
    ],
)
def test_parse_host_reads_names_addresses_and_ports(spec: str, destination: Destination) -> None:
    assert parse_host(spec) == destination


def test_parse_host_takes_a_default_port() -> None:
    assert parse_host("smtp.example.net", default_port=587) == Destination("smtp.example.net", 587)
    assert parse_host("[::1]", default_port=587) == Destination("::1", 587)


def test_destinations_are_written_back_as_read() -> None:
    assert str(Destination("::1", 2525)) == "[::1]:2525"
    assert str(Destination("mx.example.net")) == "mx.example.net:25"
    assert str(Hop("mx.example.net", "::1", 25, 10)) == "mx.example.net[::1]:25"


LONG_LABEL = "a" * 64
LONG_NAME = ("a" * 63 + ".") * 4 + "com"


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("", "the host is empty"),
        ("::1", "an IPv6 address goes in brackets, e.g. [2001:db8::1]:25"),
        ("2001:db8::1:25", "an IPv6 address goes in brackets, e.g. [2001:db8::1]:25"),
        ("[::1", "no closing ']'"),
        ("[::1]25", "'25' after ']' (a port is written ]:PORT)"),
        ("[]:25", "the host is empty"),
        (":25", "the host is empty"),
        ("[fe80::zz]", "'fe80::zz' is not an IPv6 address"),
        ("mx.example.net:", "the port is empty"),
        ("mx.example.net:smtp", "port 'smtp' is not a number"),
        ("mx.example.net:0", "port 0 is not in 1..65535"),
        ("mx.example.net:65536", "port 65536 is not in 1..65535"),
        ("mx..example.net", "the host 'mx..example.net' has an empty label"),
        (
            "mx_1.example.net",
            "the host 'mx_1.example.net' is not a domain name "
            "(letters, digits and inner hyphens only)",
        ),
        (
            "-mx.example.net",
            "the host '-mx.example.net' is not a domain name "
            "(letters, digits and inner hyphens only)",
        ),
        (
            f"{LONG_LABEL}.example",
            f"the host '{LONG_LABEL}.example' has a label longer than 63 characters",
        ),
        (LONG_NAME, f"the host '{LONG_NAME}' is longer than 253 characters"),
    ],
)
def test_parse_host_says_what_is_wrong_and_what_it_expects(spec: str, why: str) -> None:
    with pytest.raises(RouteError) as caught:
        parse_host(spec)
    assert str(caught.value) == f"bad host {spec!r}: {why} (expected {HOST_FORM})"
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("spec", "route"),
    [
        ("example.org=mx.example.net:2525", ("example.org", Destination("mx.example.net", 2525))),
        (".Example.ORG=[192.0.2.1]", (".example.org", Destination("192.0.2.1", 25))),
        ("bücher.example=[::1]:25", ("xn--bcher-kva.example", Destination("::1", 25))),
        (" example.org = mx.example.net ", ("example.org", Destination("mx.example.net", 25))),
    ],
)
def test_parse_route_reads_domain_and_destination(
    spec: str, route: tuple[str, Destination]
) -> None:
    assert parse_route(spec) == route


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("example.org", "no '='"),
        ("=mx.example.net:25", "the domain is empty"),
        (".=mx.example.net", "the domain is empty"),
        (
            "exa mple.org=mx.example.net",
            "the domain 'exa mple.org' is not a domain name "
            "(letters, digits and inner hyphens only)",
        ),
        ("example.org=", "the host is empty"),
        ("example.org=mx.example.net:99999", "port 99999 is not in 1..65535"),
        ("example.org=::1", "an IPv6 address goes in brackets, e.g. [2001:db8::1]:25"),
    ],
)
def test_parse_route_says_what_is_wrong_and_what_it_expects(spec: str, why: str) -> None:
    with pytest.raises(RouteError) as caught:
        parse_route(spec)
    assert str(caught.value) == f"bad route {spec!r}: {why} (expected {ROUTE_FORM})"
