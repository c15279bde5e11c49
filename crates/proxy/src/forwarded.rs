//! Which peers are trusted front ends (load balancers, CDNs), and the
//! client's address: the peer, or what trusted front ends say in
//! `X-Forwarded-For`.

use std::net::IpAddr;

use http::HeaderMap;
use ipnet::IpNet;

/// The networks whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses CIDRs (`10.0.0.0/8`) or single addresses.
    pub fn parse<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut nets = Vec::new();
        for item in items {
            let net = item
                .parse::<IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("`{item}` is not an IP address or CIDR range (e.g. 10.0.0.0/8)"))?;
            nets.push(net);
        }
        Ok(Self(nets))
    }

    /// Whether `peer` is a trusted front end.
    pub fn contains(&self, peer: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(&peer))
    }

    /// The client's address: the peer itself unless it is trusted; then
    /// the rightmost `X-Forwarded-For` entry that is not itself a trusted
    /// proxy (entries to its left may be written by the client and are
    /// never believed). A malformed entry ends the walk at the last
    /// address known to be true.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let mut client = peer;
        let entries =
            headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(','));
        for entry in entries.rev() {
            let Ok(ip) = entry.trim().parse::<IpAddr>() else { break };
            client = ip;
            if !self.contains(ip) {
                break;
            }
        }
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn believes_only_trusted_peers() {
        let t = TrustedProxies::parse(["10.0.0.0/8", "127.0.0.1"]).unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "203.0.113.7, 10.1.1.1".parse().unwrap());
        assert_eq!(t.client_ip("10.2.3.4".parse().unwrap(), &h), "203.0.113.7".parse::<IpAddr>().unwrap());
        assert_eq!(t.client_ip("127.0.0.1".parse().unwrap(), &h), "203.0.113.7".parse::<IpAddr>().unwrap());
        // A client that writes its own entry first cannot pick its address.
        h.insert("x-forwarded-for", "1.2.3.4, 198.51.100.9".parse().unwrap());
        assert_eq!(t.client_ip("10.2.3.4".parse().unwrap(), &h), "198.51.100.9".parse::<IpAddr>().unwrap());
        assert_eq!(
            t.client_ip("192.0.2.1".parse().unwrap(), &h),
            "192.0.2.1".parse::<IpAddr>().unwrap(),
            "untrusted peers cannot spoof"
        );
        h.insert("x-forwarded-for", "garbage".parse().unwrap());
        assert_eq!(t.client_ip("10.2.3.4".parse().unwrap(), &h), "10.2.3.4".parse::<IpAddr>().unwrap());
        assert!(TrustedProxies::parse(["nope"]).is_err());
    }
}
