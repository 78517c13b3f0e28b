//! `upnp pinhole open|close|list|status`: IPv6 pinholes, and the record of those this tool
//! opened (the service has no listing action).
//!
//! The record is a JSON file in the user's state directory (`$XDG_STATE_HOME/upnp`, else the
//! cache directory), written owner-only. It is read as untrusted input: at most
//! [`MAX_RECORD_BYTES`], entries that do not parse are dropped, at most [`MAX_RECORDED`] kept.

use std::net::Ipv6Addr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use upnp_desc::text::shown;
use upnp_igd::Error;
use upnp_igd::blocking::UpnpDevice;
use upnp_igd::keeper::Protocol;
use upnp_igd::pinhole::{Pinhole, PinholeRequest};

#[cfg(test)]
mod tests;

/// The record's size, at most: a larger file is not read.
pub(crate) const MAX_RECORD_BYTES: u64 = 256 * 1024;
/// Pinholes recorded, at most (the oldest go first).
pub(crate) const MAX_RECORDED: usize = 256;

/// A pinhole as printed and recorded.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct PinholeOut {
    /// The gateway's description URL.
    pub gateway: String,
    pub unique_id: u16,
    pub proto: String,
    pub internal_client: Ipv6Addr,
    pub internal_port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_host: Option<Ipv6Addr>,
    pub remote_port: u16,
    pub lease_seconds: u64,
    /// When the lease ends, in seconds since the Unix epoch.
    pub expires_at: u64,
}

impl PinholeOut {
    pub(crate) fn new(gateway: &str, pinhole: &Pinhole) -> PinholeOut {
        PinholeOut {
            gateway: gateway.to_owned(),
            unique_id: pinhole.unique_id,
            proto: pinhole.protocol.as_str().to_owned(),
            internal_client: pinhole.internal_client,
            internal_port: pinhole.internal_port,
            remote_host: pinhole.remote_host,
            remote_port: pinhole.remote_port,
            lease_seconds: pinhole.lease.as_secs(),
            expires_at: now().saturating_add(pinhole.lease.as_secs()),
        }
    }

    /// `id 3: UDP [2001:db8::10]:7777 from any, 600 s left`.
    pub(crate) fn line(&self) -> String {
        let from = match self.remote_host {
            Some(host) if self.remote_port != 0 => format!("[{host}]:{}", self.remote_port),
            Some(host) => host.to_string(),
            None => "any".to_owned(),
        };
        format!(
            "id {}: {} [{}]:{} from {from}, {} s left",
            self.unique_id,
            shown(&self.proto, 8),
            self.internal_client,
            self.internal_port,
            self.expires_at.saturating_sub(now())
        )
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Where the record lives.
fn record_path() -> Option<PathBuf> {
    dirs::state_dir()
        .or_else(dirs::cache_dir)
        .map(|dir| dir.join("upnp").join("pinholes.json"))
}

/// The pinholes recorded whose lease has not ended, as far as the file can be trusted.
pub(crate) fn recorded() -> Vec<PinholeOut> {
    let Some(path) = record_path() else {
        return Vec::new();
    };
    match crate::store::read_bounded(&path, MAX_RECORD_BYTES) {
        Some(text) => parse_record(&text, now()),
        None => Vec::new(),
    }
}

/// The entries of a record that parse and whose lease has not ended at `now`, the newest
/// [`MAX_RECORDED`] at most.
fn parse_record(text: &str, now: u64) -> Vec<PinholeOut> {
    let Ok(entries) = serde_json::from_str::<Vec<serde_json::Value>>(text) else {
        return Vec::new();
    };
    let mut kept: Vec<PinholeOut> = entries
        .into_iter()
        .filter_map(|e| serde_json::from_value::<PinholeOut>(e).ok())
        .filter(|p| p.expires_at > now)
        .collect();
    let extra = kept.len().saturating_sub(MAX_RECORDED);
    kept.drain(..extra);
    kept
}

/// Write the record (owner-only); a failure is said on stderr, not fatal.
pub(crate) fn record(entries: &[PinholeOut]) {
    let Some(path) = record_path() else {
        return;
    };
    let written = serde_json::to_string_pretty(entries)
        .map_err(std::io::Error::other)
        .and_then(|text| crate::store::write_private(&path, &text));
    if let Err(e) = written {
        eprintln!("upnp: cannot record pinholes in {}: {e}", path.display());
    }
}

/// The pinhole `upnp pinhole open` asks for.
pub(crate) fn request(
    protocol: Protocol,
    port: u16,
    lease: u64,
    client: Option<Ipv6Addr>,
    remote: Option<Ipv6Addr>,
) -> PinholeRequest {
    let mut request = PinholeRequest::new(protocol, port).lease(Duration::from_secs(lease));
    if let Some(client) = client {
        request = request.client(client);
    }
    if let Some(remote) = remote {
        request = request.remote(remote, 0);
    }
    request
}

/// Open a pinhole and record it.
pub(crate) fn open(gateway: &UpnpDevice, request: &PinholeRequest) -> Result<PinholeOut, Error> {
    let pinhole = gateway.open_pinhole(request)?;
    let out = PinholeOut::new(&gateway.description_url, &pinhole);
    let mut entries = recorded();
    entries.retain(|e| !(e.gateway == out.gateway && e.unique_id == out.unique_id));
    entries.push(out.clone());
    record(&entries);
    Ok(out)
}

/// Close a pinhole and forget it.
pub(crate) fn close(gateway: &UpnpDevice, unique_id: u16) -> Result<(), Error> {
    let closed = gateway.close_pinhole(unique_id);
    // Closed, or already gone: either way not ours to list any more.
    let gone = matches!(
        &closed,
        Ok(())
            | Err(Error::FirewallRefused {
                error: upnp_soap::firewall::FirewallError::NoSuchEntry,
                ..
            })
    );
    if gone {
        let mut entries = recorded();
        entries.retain(|e| !(e.gateway == gateway.description_url && e.unique_id == unique_id));
        record(&entries);
    }
    closed
}

/// The pinholes this tool opened on `gateway` whose lease has not ended.
pub(crate) fn list(gateway: &UpnpDevice) -> Vec<PinholeOut> {
    recorded()
        .into_iter()
        .filter(|e| e.gateway == gateway.description_url)
        .collect()
}
