//! Who the client is: the peer's address, or — only when the peer is a
//! configured trusted proxy (`--trusted-proxy`) — the last hop of
//! `X-Forwarded-For` that is not itself a trusted proxy. Anyone can send an
//! `X-Forwarded-For`, so from an untrusted peer it is never believed: a
//! resource policy's `aws:SourceIp` would otherwise be a header away.

use std::net::IpAddr;

use crate::cidr::Cidr;

/// The client's address: `$context.identity.sourceIp` and `aws:SourceIp`.
pub fn resolve(peer: IpAddr, headers: &http::HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if trusted.is_empty() || !is_trusted(peer) {
        return peer;
    }
    // Hops are appended left to right, so the nearest is last. Several
    // headers read as one list, in order.
    let mut client = peer;
    for value in headers.get_all("x-forwarded-for").iter().rev() {
        let Ok(text) = value.to_str() else {
            return client;
        };
        for hop in text.rsplit(',') {
            // A hop that is not an address (garbage the client wrote, or
            // `unknown`) ends the walk at the last trusted one seen.
            let Ok(ip) = hop.trim().parse::<IpAddr>() else {
                return client;
            };
            client = ip;
            if !is_trusted(ip) {
                return ip;
            }
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    fn with_xff(values: &[&str]) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        for v in values {
            headers.append("x-forwarded-for", v.parse().expect("a header value"));
        }
        headers
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_peer() {
        let trusted = [Cidr::parse("10.0.0.0/8").expect("valid")];
        let xff = with_xff(&["6.6.6.6, 1.2.3.4"]);
        assert_eq!(resolve(ip("5.5.5.5"), &xff, &trusted), ip("5.5.5.5"));
        assert_eq!(resolve(ip("10.0.0.1"), &xff, &[]), ip("10.0.0.1"));
        assert_eq!(resolve(ip("10.0.0.1"), &xff, &trusted), ip("1.2.3.4"));
    }

    #[test]
    fn the_last_untrusted_hop_wins() {
        let trusted = [Cidr::parse("10.0.0.0/8").expect("valid")];
        let chain = with_xff(&["6.6.6.6, 1.2.3.4, 10.0.0.7", "10.0.0.9"]);
        assert_eq!(resolve(ip("10.0.0.1"), &chain, &trusted), ip("1.2.3.4"));
        let garbage = with_xff(&["not-an-ip, 10.0.0.7"]);
        assert_eq!(resolve(ip("10.0.0.1"), &garbage, &trusted), ip("10.0.0.7"));
        let none = http::HeaderMap::new();
        assert_eq!(resolve(ip("10.0.0.1"), &none, &trusted), ip("10.0.0.1"));
    }
}
