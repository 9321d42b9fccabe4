//! Where a customer's webhook may point: never at loopback, private, link-local (the cloud
//! metadata service) or other internal addresses. Pure: the delivery function checks every
//! resolved address with [`is_internal`] before connecting; the routes check the URL's host.

use std::net::IpAddr;

/// True for addresses a public webhook must not point at: loopback, private, link-local (the
/// cloud metadata service), unspecified, broadcast, multicast, shared (100.64/10),
/// benchmarking (198.18/15), reserved (240/4), IETF protocol assignments (192.0.0/24) and
/// documentation ranges; in IPv6 also unique-local, site-local (fec0::/10), and every form
/// that carries or translates to an IPv4 address (IPv4-mapped and -compatible, NAT64
/// 64:ff9b::/96 and 64:ff9b:1::/48, 6to4 2002::/16, Teredo 2001::/32), since what they reach
/// is decided by a gateway.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240
                || (a == 192 && b == 0 && c == 0)
                || (a == 192 && b == 0 && c == 2)
                || (a == 198 && b == 51 && c == 100)
                || (a == 203 && b == 0 && c == 113)
        }
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // ::/96 (IPv4-compatible), ::ffff:0:0/96 (IPv4-mapped: a public webhook has
                // an IPv4 URL for that) and ::ffff:0:0:0/96 (IPv4-translated)
                || (seg[..5] == [0; 5] && (seg[5] == 0 || seg[5] == 0xffff))
                || (seg[..4] == [0; 4] && seg[4] == 0xffff && seg[5] == 0)
                || (seg[0] & 0xfe00) == 0xfc00
                || (seg[0] & 0xffc0) == 0xfe80
                || (seg[0] & 0xffc0) == 0xfec0
                || (seg[0] == 0x64 && seg[1] == 0xff9b)
                || seg[0] == 0x2002
                || (seg[0] == 0x2001 && seg[1] == 0)
                || (seg[0] == 0x2001 && seg[1] == 0xdb8)
        }
    }
}

/// True for `localhost` names and internal IP literals (`host` as in a parsed URL: IPv6 in
/// brackets). Other names are checked when they are resolved, at each delivery
/// (the delivery function's resolver).
pub fn is_internal_host(host: &str) -> bool {
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse().is_ok_and(|ip| is_internal(IpAddr::V6(ip)));
    }
    if let Ok(v4) = host.parse() {
        return is_internal(IpAddr::V4(v4));
    }
    let d = host.trim_end_matches('.').to_ascii_lowercase();
    d == "localhost" || d.ends_with(".localhost")
}
