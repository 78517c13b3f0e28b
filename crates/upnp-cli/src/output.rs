//! What the CLI prints, as text and as JSON.

use std::fmt;

use igd::{Device, Error, Granted};
use serde::Serialize;
use upnp_desc::text::shown;
use upnp_soap::PortMapping;

/// A string from the network, for a terminal: escaped, bounded.
fn safe(text: &str) -> String {
    shown(text, 256)
}

/// One discovered device.
#[derive(Debug, Serialize)]
pub(crate) struct DeviceOut {
    description_url: String,
    search_target: String,
    friendly_name: Option<String>,
    igd_version: Option<u32>,
    service_type: String,
    control_url: String,
    our_addr: String,
    status: &'static str,
    status_code: i32,
    valid_gateway: bool,
    external_address: Option<String>,
    behind_another_nat: Option<bool>,
    detail: Option<String>,
}

impl From<&Device> for DeviceOut {
    fn from(d: &Device) -> DeviceOut {
        DeviceOut {
            description_url: d.description_url.clone(),
            search_target: d.service_type.clone(),
            friendly_name: d.friendly_name.clone(),
            igd_version: d.igd_version,
            service_type: d.igd_service_type.clone(),
            control_url: d.igd_control_url.clone(),
            our_addr: d.igd_our_addr.clone(),
            status: d.igd_status.godot_name(),
            status_code: d.igd_status.as_i32(),
            valid_gateway: d.is_valid_gateway(),
            external_address: d.external_address.map(|ip| ip.to_string()),
            behind_another_nat: d.is_behind_nat(),
            detail: d.status_detail.clone(),
        }
    }
}

impl fmt::Display for DeviceOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", safe(&self.description_url))?;
        if let Some(name) = &self.friendly_name {
            writeln!(f, "  name:         {}", safe(name))?;
        }
        writeln!(f, "  answered:     {}", safe(&self.search_target))?;
        if !self.service_type.is_empty() {
            writeln!(f, "  service:      {}", safe(&self.service_type))?;
            writeln!(f, "  control URL:  {}", safe(&self.control_url))?;
        }
        if !self.our_addr.is_empty() {
            writeln!(f, "  our address:  {}", self.our_addr)?;
        }
        if let Some(ip) = &self.external_address {
            writeln!(f, "  external:     {ip}")?;
        }
        let verdict = if self.valid_gateway {
            "valid gateway"
        } else {
            "not a valid gateway"
        };
        write!(f, "  status:       {} ({verdict})", self.status)?;
        if let Some(detail) = &self.detail {
            write!(f, "\n  why:          {}", safe(detail))?;
        }
        Ok(())
    }
}

/// One mapping.
#[derive(Debug, Serialize)]
pub(crate) struct MappingOut {
    protocol: &'static str,
    external_port: u16,
    internal_client: String,
    internal_port: u16,
    description: String,
    lease_seconds: u32,
    enabled: bool,
    remote_host: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    lease_dropped: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description_dropped: Option<bool>,
    /// Whether the router showed the mapping back after adding it (add only).
    #[serde(skip_serializing_if = "Option::is_none")]
    read_back: Option<bool>,
}

impl From<&PortMapping> for MappingOut {
    fn from(m: &PortMapping) -> MappingOut {
        MappingOut {
            protocol: m.protocol.as_str(),
            external_port: m.external_port,
            internal_client: m.internal_client.clone(),
            internal_port: m.internal_port,
            description: m.description.clone(),
            lease_seconds: m.lease_duration,
            enabled: m.enabled,
            remote_host: m.remote_host.clone(),
            lease_dropped: None,
            description_dropped: None,
            read_back: None,
        }
    }
}

impl MappingOut {
    pub(crate) fn granted(granted: &Granted) -> MappingOut {
        MappingOut {
            lease_dropped: Some(granted.lease_dropped),
            description_dropped: Some(granted.description_dropped),
            read_back: Some(granted.read_back),
            ..MappingOut::from(&granted.mapping)
        }
    }
}

impl fmt::Display for MappingOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lease = match self.lease_seconds {
            0 => "permanent".to_owned(),
            s => format!("lease {s} s"),
        };
        write!(
            f,
            "{} {} -> {}:{} '{}' {lease}",
            self.protocol,
            self.external_port,
            safe(&self.internal_client),
            self.internal_port,
            safe(&self.description)
        )?;
        if self.lease_dropped == Some(true) {
            write!(f, " (the router refused the lease)")?;
        }
        if self.description_dropped == Some(true) {
            write!(f, " (the router refused the description)")?;
        }
        if self.read_back == Some(false) {
            write!(f, " (not confirmed: the router did not show it back)")?;
        }
        Ok(())
    }
}

/// An error: Godot's result, the UPnP fault if any, and the message.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorOut {
    result: &'static str,
    result_code: i32,
    upnp_error_code: Option<u32>,
    upnp_error_name: Option<&'static str>,
    router_text: Option<String>,
    message: String,
}

impl From<&Error> for ErrorOut {
    fn from(e: &Error) -> ErrorOut {
        let upnp = e.fault().and_then(|f| f.upnp_error.as_ref());
        ErrorOut {
            result: e.result().godot_name(),
            result_code: e.code(),
            upnp_error_code: upnp.and_then(|u| u.code).map(|c| c.code()),
            upnp_error_name: upnp.and_then(|u| u.code).and_then(|c| c.name()),
            router_text: upnp.and_then(|u| u.description.clone()),
            message: e.to_string(),
        }
    }
}

impl fmt::Display for ErrorOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.result)?;
        match self.upnp_error_code {
            Some(code) => {
                write!(f, "UPnP error {code}")?;
                if let Some(name) = self.upnp_error_name {
                    write!(f, " {name}")?;
                }
                match &self.router_text {
                    Some(text) => write!(f, ", the router says \"{}\"", safe(text)),
                    None => Ok(()),
                }
            }
            None => f.write_str(&self.message),
        }
    }
}
