//! The port listing of IGDv2's `GetListOfPortMappings`.
//!
//! The action's `NewPortListing` argument is an XML document of its own (escaped inside the
//! SOAP response): a `PortMappingList` of `PortMappingEntry` elements in the
//! `urn:schemas-upnp-org:gw:WANIPConnection` namespace. It passes the same XML gate as the
//! envelope around it.

use upnp_desc::xml::{self, Limits};
use xmltree::Element;

use crate::actions::{PortMapping, lease, parse_boolean, port};
use crate::envelope::escape;
use crate::error::{Error, echo};

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

/// The namespace of the listing.
pub const NAMESPACE: &str = "urn:schemas-upnp-org:gw:WANIPConnection";
/// Most entries one listing may hold.
pub const MAX_ENTRIES: usize = 1024;

/// Parse a listing into its mappings, in document order.
pub fn parse(bytes: &[u8]) -> Result<Vec<PortMapping>, Error> {
    let root = xml::parse(bytes, &Limits::SOAP)?;
    if root.name != "PortMappingList" {
        return Err(Error::UnexpectedElement {
            expected: "PortMappingList".to_owned(),
            found: echo(&root.name),
        });
    }
    let mut mappings = Vec::new();
    for entry in xml::children(&root, "PortMappingEntry") {
        if mappings.len() == MAX_ENTRIES {
            return Err(Error::TooManyArguments { limit: MAX_ENTRIES });
        }
        mappings.push(entry_of(entry)?);
    }
    Ok(mappings)
}

fn entry_of(entry: &Element) -> Result<PortMapping, Error> {
    let field = |name: &'static str| xml::child_text(entry, name).unwrap_or_default();
    let needed = |name: &'static str| {
        xml::child_text(entry, name).ok_or(Error::MissingArgument {
            action: "PortMappingEntry",
            name,
        })
    };
    Ok(PortMapping {
        remote_host: field("NewRemoteHost"),
        external_port: port(&needed("NewExternalPort")?, "NewExternalPort")?,
        protocol: needed("NewProtocol")?.parse()?,
        internal_port: port(&needed("NewInternalPort")?, "NewInternalPort")?,
        internal_client: needed("NewInternalClient")?,
        enabled: match xml::child_text(entry, "NewEnabled") {
            Some(v) => parse_boolean(&v, "NewEnabled")?,
            None => true,
        },
        description: field("NewDescription"),
        lease_duration: lease(xml::child_text(entry, "NewLeaseTime").as_deref())?,
    })
}

/// Write a listing as miniupnpd does (compact, prefixed `p:`).
pub fn encode(mappings: &[PortMapping]) -> Result<String, Error> {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><p:PortMappingList xmlns:p=\"{NAMESPACE}\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
         xsi:schemaLocation=\"{NAMESPACE} http://www.upnp.org/schemas/gw/WANIPConnection-v2.xsd\">"
    );
    for m in mappings {
        out.push_str("<p:PortMappingEntry>");
        let fields: [(&str, String); 8] = [
            ("NewRemoteHost", m.remote_host.clone()),
            ("NewExternalPort", m.external_port.to_string()),
            ("NewProtocol", m.protocol.to_string()),
            ("NewInternalPort", m.internal_port.to_string()),
            ("NewInternalClient", m.internal_client.clone()),
            ("NewEnabled", if m.enabled { "1" } else { "0" }.to_owned()),
            ("NewDescription", m.description.clone()),
            ("NewLeaseTime", m.lease_duration.to_string()),
        ];
        for (name, value) in fields {
            let value = escape(&value).ok_or_else(|| Error::Unencodable {
                name: name.to_owned(),
            })?;
            out.push_str(&format!("<p:{name}>{value}</p:{name}>"));
        }
        out.push_str("</p:PortMappingEntry>");
    }
    out.push_str("</p:PortMappingList>");
    Ok(out)
}
