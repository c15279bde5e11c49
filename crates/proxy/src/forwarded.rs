//! The client's address: the peer, or the first `X-Forwarded-For` entry
//! when the peer is a trusted load balancer.

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

    /// The client address for a request from `peer`.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.0.iter().any(|n| n.contains(&peer)) {
            return peer;
        }
        headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|first| first.trim().parse().ok())
            .unwrap_or(peer)
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
