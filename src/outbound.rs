//! Outbound HTTP to addresses an administrator configured (an upstream provider's discovery,
//! token and JWKS endpoints; a workload issuer's keys), guarded against server-side request
//! forgery.
//!
//! A URL is fetched only over https, or over http on a loopback address (tests, sidecars). The
//! addresses it may reach are public ones and loopback; private (RFC 1918, IPv6 unique-local),
//! link-local (cloud metadata services at 169.254.169.254 live there), shared (100.64/10),
//! unspecified and broadcast addresses are refused, whether written in the URL or returned by
//! DNS for a name in it: the resolver of [`client`] drops them, so a name that an attacker
//! points at an internal address resolves to nothing. IPv4-mapped IPv6 addresses are judged
//! as the IPv4 address they carry. `outbound.allow_private_networks` lifts the private and
//! shared ranges for deployments whose identity provider is on an internal network
//! (link-local stays refused).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Where outbound requests may go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    /// Private (RFC 1918, fc00::/7) and shared (100.64/10) addresses are allowed too.
    pub allow_private_networks: bool,
}

impl Policy {
    /// Whether a request may reach `ip`.
    pub fn permits(self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => self.permits_v4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => self.permits_v4(v4),
                None => self.permits_v6(v6),
            },
        }
    }

    fn permits_v4(self, ip: Ipv4Addr) -> bool {
        let o = ip.octets();
        let shared = o[0] == 100 && (o[1] & 0xc0) == 64;
        if ip.is_unspecified() || ip.is_broadcast() || ip.is_link_local() || ip.is_multicast() {
            return false;
        }
        self.allow_private_networks || !(ip.is_private() || shared)
    }

    fn permits_v6(self, ip: Ipv6Addr) -> bool {
        let seg = ip.segments()[0];
        let unique_local = (seg & 0xfe00) == 0xfc00;
        let link_local = (seg & 0xffc0) == 0xfe80;
        if ip.is_unspecified() || link_local || ip.is_multicast() {
            return false;
        }
        self.allow_private_networks || !unique_local
    }

    /// Whether a URL may be fetched: https to a name or a permitted address, or http on a
    /// loopback address. (A name's addresses are checked when it is resolved.)
    pub fn fetchable(self, url: &str) -> bool {
        let Ok(u) = url::Url::parse(url) else { return false };
        match u.scheme() {
            "https" => match u.host() {
                Some(url::Host::Ipv4(ip)) => self.permits(IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => self.permits(IpAddr::V6(ip)),
                Some(url::Host::Domain(_)) => true,
                None => false,
            },
            "http" => match u.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                Some(url::Host::Domain(d)) => d == "localhost",
                None => false,
            },
            _ => false,
        }
    }

    /// The addresses of a resolved name that may be reached; an error when none may.
    pub fn filter(self, name: &str, addrs: impl IntoIterator<Item = SocketAddr>) -> Result<Vec<SocketAddr>, String> {
        let kept: Vec<SocketAddr> = addrs.into_iter().filter(|a| self.permits(a.ip())).collect();
        if kept.is_empty() {
            return Err(format!("{name} resolves to no address Tessera may reach (private, link-local or none)"));
        }
        Ok(kept)
    }
}

/// The DNS resolver of outbound clients: the system's, minus the addresses the policy refuses.
struct GuardedResolver(Policy);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let kept = policy.filter(&host, found)?;
            Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// An HTTP client for outbound requests under `policy`: no redirects (a redirect could lead
/// anywhere), a whole-request timeout, and the guarded resolver.
pub fn client(policy: Policy, timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(GuardedResolver(policy)))
        .build()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::dns::Resolve;

    const STRICT: Policy = Policy { allow_private_networks: false };
    const PRIVATE_OK: Policy = Policy { allow_private_networks: true };

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn public_and_loopback_addresses_are_permitted_the_rest_is_not() {
        for ok in ["93.184.216.34", "2606:2800:220:1::1", "127.0.0.1", "::1"] {
            assert!(STRICT.permits(ip(ok)), "{ok}");
        }
        for refused in [
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "fd00::1",
            "fe80::1",
            "::",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(!STRICT.permits(ip(refused)), "{refused}");
        }
        assert!(PRIVATE_OK.permits(ip("10.0.0.1")) && PRIVATE_OK.permits(ip("fd00::1")));
        assert!(!PRIVATE_OK.permits(ip("169.254.169.254")), "link-local stays refused");
        assert!(!PRIVATE_OK.permits(ip("::ffff:169.254.169.254")));
    }

    #[test]
    fn urls() {
        assert!(STRICT.fetchable("https://token.actions.example/.well-known/jwks"));
        assert!(STRICT.fetchable("http://127.0.0.1:8080/jwks"));
        assert!(STRICT.fetchable("http://[::1]:8080/jwks"));
        assert!(STRICT.fetchable("http://localhost/jwks"));
        assert!(!STRICT.fetchable("http://10.0.0.1/jwks"));
        assert!(!STRICT.fetchable("http://idp.example.com/jwks"), "plain http off loopback");
        assert!(!STRICT.fetchable("https://169.254.169.254/latest/meta-data"));
        assert!(!STRICT.fetchable("https://10.1.2.3/jwks"));
        assert!(!STRICT.fetchable("https://[fd00::1]/jwks"));
        assert!(!STRICT.fetchable("https://[::ffff:a9fe:a9fe]/latest/meta-data"), "mapped 169.254.169.254");
        assert!(!STRICT.fetchable("ftp://idp.example.com/"));
        assert!(STRICT.fetchable("https://203.0.113.9/jwks"));
        assert!(!STRICT.fetchable("file:///etc/passwd"));
        assert!(!STRICT.fetchable("not a url"));
        assert!(PRIVATE_OK.fetchable("https://10.1.2.3/jwks"));
        assert!(!PRIVATE_OK.fetchable("https://169.254.169.254/latest/meta-data"));
    }

    #[test]
    fn resolved_addresses_are_filtered() {
        let addrs = |list: &[&str]| list.iter().map(|a| SocketAddr::new(ip(a), 443)).collect::<Vec<_>>();
        assert!(STRICT.filter("evil.example", addrs(&["10.0.0.1", "169.254.169.254"])).is_err());
        assert_eq!(
            STRICT.filter("mixed.example", addrs(&["10.0.0.1", "93.184.216.34"])).unwrap(),
            addrs(&["93.184.216.34"])
        );
        assert_eq!(PRIVATE_OK.filter("corp.internal", addrs(&["10.0.0.1"])).unwrap(), addrs(&["10.0.0.1"]));
    }

    /// The resolver answers `localhost` (loopback, permitted) through the system resolver.
    #[tokio::test]
    async fn the_guarded_resolver_resolves_permitted_names() {
        let Ok(name) = "localhost".parse::<reqwest::dns::Name>() else { panic!("localhost is a host name") };
        let addrs: Vec<SocketAddr> = GuardedResolver(STRICT).resolve(name).await.unwrap().collect();
        assert!(!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }
}
