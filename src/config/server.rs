//! `[server]`: where the service listens, its environment, and the proxies it trusts.

use std::net::{IpAddr, SocketAddr};

use serde::Deserialize;

use super::{ConfigError, Settings, invalid};

#[derive(Clone, Debug, Deserialize)]
pub struct ServerSettings {
    pub bind: String,
    pub public_url: String,
    pub environment: String,
    pub workers: usize,
    /// Where `/metrics` is served (never on `bind`); empty turns metrics off.
    pub metrics_bind: String,
    /// Peers (addresses or CIDR ranges) whose `Forwarded` / `X-Forwarded-For` name the client.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Failed authentications allowed per client address: a burst, then a rate per minute.
    pub failed_auth_burst: u32,
    pub failed_auth_per_minute: u32,
    /// Repeated refusals from one client to one case or document within this many seconds are
    /// audited as one row and a count.
    pub denial_audit_window_seconds: u64,
}

impl Settings {
    pub fn is_production(&self) -> bool {
        self.server.environment == "production"
    }

    pub fn bind_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server
            .bind
            .parse()
            .map_err(|_| invalid("server.bind", "must be HOST:PORT, e.g. 127.0.0.1:8080"))
    }

    /// Where `/metrics` listens; `None` when `server.metrics_bind` is empty (metrics off).
    pub fn metrics_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        let bind = self.server.metrics_bind.trim();
        if bind.is_empty() {
            return Ok(None);
        }
        let addr: SocketAddr = bind.parse().map_err(|_| {
            invalid(
                "server.metrics_bind",
                "must be HOST:PORT (e.g. 127.0.0.1:9464) or empty",
            )
        })?;
        if addr.port() != 0 && self.bind_addr().is_ok_and(|b| b.port() == addr.port()) {
            return Err(invalid(
                "server.metrics_bind",
                "must not be the public listener's port",
            ));
        }
        Ok(Some(addr))
    }

    /// `server.trusted_proxies`, parsed.
    pub fn trusted_proxies(&self) -> Result<Vec<IpNet>, ConfigError> {
        self.server
            .trusted_proxies
            .iter()
            .map(|p| p.trim())
            .filter(|p| !p.is_empty())
            .map(|p| {
                IpNet::parse(p).ok_or_else(|| {
                    invalid(
                        "server.trusted_proxies",
                        format!("`{p}` is not an IP address or CIDR range"),
                    )
                })
            })
            .collect()
    }
}

/// An IP address or a CIDR range (`10.0.0.0/8`, `fd00::/8`, `192.0.2.7`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    pub fn parse(text: &str) -> Option<Self> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (text.parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Self { addr, prefix })
    }

    /// Whether `ip` is in the range (an IPv4-mapped IPv6 address counts as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 @ IpAddr::V4(_) => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}
