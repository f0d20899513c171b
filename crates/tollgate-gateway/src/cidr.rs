//! IPv4 and IPv6 address ranges (`10.0.0.0/8`, `2001:db8::/32`, or one
//! address), as `aws:SourceIp` conditions and `--trusted-proxy` name them.
//! The addresses themselves are parsed by the standard library; only the
//! `/prefix` is read here.

use std::net::IpAddr;

/// An address range: the network's bits and how many of them count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cidr {
    V4 { bits: u32, prefix: u8 },
    V6 { bits: u128, prefix: u8 },
}

impl Cidr {
    /// `addr` or `addr/prefix`. Host bits past the prefix are ignored, as
    /// IAM does (`10.1.2.3/8` is `10.0.0.0/8`).
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => {
                // Digits only: `u8::from_str` would take `+8`.
                if prefix.is_empty()
                    || prefix.len() > 3
                    || !prefix.bytes().all(|b| b.is_ascii_digit())
                {
                    return Err(format!("{text:?} is not an IP address or CIDR range"));
                }
                (addr, prefix.parse::<u8>().ok())
            }
            None => (text, None),
        };
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or CIDR range"))?;
        let bad_prefix = || format!("{text:?}: the prefix length is out of range");
        Ok(match ip {
            IpAddr::V4(v4) => {
                let prefix = prefix.unwrap_or(32);
                if prefix > 32 {
                    return Err(bad_prefix());
                }
                Cidr::V4 {
                    bits: u32::from(v4) & mask32(prefix),
                    prefix,
                }
            }
            IpAddr::V6(v6) => {
                let prefix = prefix.unwrap_or(128);
                if prefix > 128 {
                    return Err(bad_prefix());
                }
                Cidr::V6 {
                    bits: u128::from(v6) & mask128(prefix),
                    prefix,
                }
            }
        })
    }

    /// Whether `ip` is in the range. An IPv4 address a dual-stack socket
    /// reports as `::ffff:a.b.c.d` counts as the IPv4 address it is.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self, ip.to_canonical()) {
            (Cidr::V4 { bits, prefix }, IpAddr::V4(v4)) => u32::from(v4) & mask32(*prefix) == *bits,
            (Cidr::V6 { bits, prefix }, IpAddr::V6(v6)) => {
                u128::from(v6) & mask128(*prefix) == *bits
            }
            _ => false,
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    #[test]
    fn ranges_contain_what_they_should() {
        let lo = Cidr::parse("127.0.0.0/8").expect("valid");
        assert!(lo.contains(ip("127.0.0.1")));
        assert!(lo.contains(ip("127.255.255.255")));
        assert!(!lo.contains(ip("128.0.0.0")));
        assert!(
            lo.contains(ip("::ffff:127.0.0.2")),
            "v4-mapped counts as v4"
        );
        assert!(!lo.contains(ip("::1")));
        let one = Cidr::parse("127.0.0.2").expect("valid");
        assert!(one.contains(ip("127.0.0.2")) && !one.contains(ip("127.0.0.1")));
        assert!(Cidr::parse("0.0.0.0/0")
            .expect("valid")
            .contains(ip("8.8.8.8")));
        assert!(!Cidr::parse("0.0.0.0/0").expect("valid").contains(ip("::1")));
        let v6 = Cidr::parse("2001:db8::/32").expect("valid");
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(Cidr::parse("::/0").expect("valid").contains(ip("::1")));
        assert!(Cidr::parse("::1/128").expect("valid").contains(ip("::1")));
        assert_eq!(Cidr::parse("10.1.2.3/8"), Cidr::parse("10.0.0.0/8"));
    }

    #[test]
    fn malformed_ranges_are_refused_without_panicking() {
        for bad in [
            "",
            "/",
            "/8",
            "10.0.0.0/",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/+8",
            "10.0.0.0/-1",
            "10.0.0.0/8/8",
            "10.0.0.0/0008",
            "10.0.0/8",
            "256.0.0.0",
            "10.0.0.0 /8",
            "*",
            "10.0.0.0/999999999999999999999",
            "::g",
            "1.2.3.4:80",
            "\u{0}",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad:?}");
        }
        // Every prefix length parses and masks without overflow.
        for p in 0..=32 {
            assert!(Cidr::parse(&format!("255.255.255.255/{p}")).is_ok());
        }
        for p in 0..=128 {
            assert!(Cidr::parse(&format!("ffff::ffff/{p}")).is_ok());
        }
    }
}
