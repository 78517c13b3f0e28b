//! The root device description: the XML behind an SSDP LOCATION.

use upnp_ssdp::{SearchTarget, UrnType};
use url::Url;
use xmltree::{Element, XMLNode};

use crate::error::Error;
use crate::xml::{self, Limits, child, children, missing, push_text, value};

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

/// Most devices in one description (the root and its embedded devices, at any depth).
pub const MAX_DEVICES: usize = 64;
/// Most services in one description, all devices together.
pub const MAX_SERVICES: usize = 256;
pub use crate::xml::MAX_VALUE;

/// The namespace of device descriptions.
pub const DEVICE_NAMESPACE: &str = "urn:schemas-upnp-org:device-1-0";

/// A parsed root device description.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceDescription {
    /// `specVersion` (major, minor), when present and numeric.
    pub spec_version: Option<(u32, u32)>,
    /// `URLBase` as written (UDA 1.0; deprecated in 1.1, still sent by many routers).
    pub url_base: Option<String>,
    /// The root device.
    pub device: Device,
}

/// A device: the root or an embedded one.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// `deviceType`, e.g. `urn:schemas-upnp-org:device:InternetGatewayDevice:2`.
    pub device_type: String,
    /// `friendlyName`.
    pub friendly_name: Option<String>,
    /// `manufacturer`.
    pub manufacturer: Option<String>,
    /// `modelName`.
    pub model_name: Option<String>,
    /// `modelNumber`.
    pub model_number: Option<String>,
    /// `serialNumber`.
    pub serial_number: Option<String>,
    /// `UDN`: `uuid:...`.
    pub udn: Option<String>,
    /// `presentationURL`, as written.
    pub presentation_url: Option<String>,
    /// `serviceList`, in document order.
    pub services: Vec<Service>,
    /// `deviceList`: the embedded devices, in document order.
    pub devices: Vec<Device>,
}

/// A service of a device. URLs are kept as written; [`DeviceDescription::resolve`] makes them
/// absolute.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    /// `serviceType`, e.g. `urn:schemas-upnp-org:service:WANIPConnection:2`.
    pub service_type: String,
    /// `serviceId`.
    pub service_id: Option<String>,
    /// `SCPDURL`: the service description.
    pub scpd_url: Option<String>,
    /// `controlURL`: where actions are POSTed.
    pub control_url: Option<String>,
    /// `eventSubURL`.
    pub event_sub_url: Option<String>,
}

impl Service {
    /// The service type, parsed (`None` if it is not a `urn:...:service:NAME:V`).
    pub fn urn(&self) -> Option<UrnType> {
        match self.service_type.parse() {
            Ok(SearchTarget::Service(urn)) => Some(urn),
            _ => None,
        }
    }
}

impl Device {
    /// The device type, parsed (`None` if it is not a `urn:...:device:NAME:V`).
    pub fn urn(&self) -> Option<UrnType> {
        match self.device_type.parse() {
            Ok(SearchTarget::Device(urn)) => Some(urn),
            _ => None,
        }
    }

    /// Whether this device is of the standard type `name` at `version` or later.
    pub fn is(&self, name: &str, version: u32) -> bool {
        self.urn().is_some_and(|have| {
            SearchTarget::Device(have).satisfies(&SearchTarget::device(name, version))
        })
    }

    /// This device and every embedded one, depth first, in document order.
    pub fn walk(&self) -> impl Iterator<Item = &Device> {
        let mut stack = vec![self];
        std::iter::from_fn(move || {
            let device = stack.pop()?;
            stack.extend(device.devices.iter().rev());
            Some(device)
        })
    }
}

/// An absolute URL taken from a description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedUrl {
    /// The URL, absolute and `http`.
    pub url: Url,
    /// Its host is not the one that served the description. A spoofed description could
    /// point control requests at any host; the layers above refuse such URLs by default.
    pub foreign_host: bool,
}

impl DeviceDescription {
    /// Parse a description. Only the structure is checked here: a missing `device` or
    /// `deviceType` is an error, other absent fields are `None` (real routers omit some).
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let root = xml::parse(bytes, &Limits::DESCRIPTION)?;
        if root.name != "root" {
            return Err(Error::UnexpectedRoot {
                expected: "root",
                found: root.name,
            });
        }
        let spec_version = xml::spec_version(&root);
        let url_base = value(&root, "URLBase", "URLBase")?;
        let device_element = child(&root, "device").ok_or_else(|| missing("device"))?;
        let mut counts = Counts::default();
        let device = parse_device(device_element, "device", &mut counts)?;
        Ok(DeviceDescription {
            spec_version,
            url_base,
            device,
        })
    }

    /// The base for relative URLs: `URLBase` when it is an absolute http URL, else the URL
    /// the description was fetched from (UDA 1.0 section 2.1).
    pub fn base(&self, fetched_from: &Url) -> Url {
        self.url_base
            .as_deref()
            .and_then(|b| Url::parse(b).ok())
            .filter(|b| b.scheme() == "http" && b.host().is_some())
            .unwrap_or_else(|| fetched_from.clone())
    }

    /// Make a URL from this description absolute: relative ones (with or without a leading
    /// slash) against [`Self::base`], absolute ones kept. Only `http` is accepted.
    pub fn resolve(&self, raw: &str, fetched_from: &Url) -> Result<ResolvedUrl, Error> {
        let url = self
            .base(fetched_from)
            .join(raw)
            .map_err(|source| Error::InvalidUrl {
                url: raw.to_owned(),
                source,
            })?;
        if url.scheme() != "http" || url.host().is_none() {
            return Err(Error::NotHttp(url.to_string()));
        }
        let foreign_host = url.host() != fetched_from.host();
        Ok(ResolvedUrl { url, foreign_host })
    }

    /// Write the description as XML (compact, default namespace), as a device would serve it.
    pub fn encode(&self) -> String {
        let mut root = xml::root_element("root", DEVICE_NAMESPACE, self.spec_version);
        push_text(&mut root, "URLBase", self.url_base.as_deref());
        root.children
            .push(XMLNode::Element(encode_device(&self.device)));
        crate::write(&root)
    }
}

#[derive(Default)]
struct Counts {
    devices: usize,
    services: usize,
}

fn parse_device(element: &Element, path: &str, counts: &mut Counts) -> Result<Device, Error> {
    counts.devices += 1;
    if counts.devices > MAX_DEVICES {
        return Err(Error::TooMany {
            what: "devices",
            limit: MAX_DEVICES,
        });
    }
    let field = |name: &str| value(element, name, &format!("{path}/{name}"));
    let device_type = field("deviceType")?.ok_or_else(|| missing(&format!("{path}/deviceType")))?;
    let mut services = Vec::new();
    if let Some(list) = child(element, "serviceList") {
        for s in children(list, "service") {
            counts.services += 1;
            if counts.services > MAX_SERVICES {
                return Err(Error::TooMany {
                    what: "services",
                    limit: MAX_SERVICES,
                });
            }
            services.push(parse_service(s, &format!("{path}/serviceList/service"))?);
        }
    }
    let mut devices = Vec::new();
    if let Some(list) = child(element, "deviceList") {
        let sub = format!("{path}/deviceList/device");
        for d in children(list, "device") {
            devices.push(parse_device(d, &sub, counts)?);
        }
    }
    Ok(Device {
        device_type,
        friendly_name: field("friendlyName")?,
        manufacturer: field("manufacturer")?,
        model_name: field("modelName")?,
        model_number: field("modelNumber")?,
        serial_number: field("serialNumber")?,
        udn: field("UDN")?,
        presentation_url: field("presentationURL")?,
        services,
        devices,
    })
}

fn parse_service(element: &Element, path: &str) -> Result<Service, Error> {
    let field = |name: &str| value(element, name, &format!("{path}/{name}"));
    Ok(Service {
        service_type: field("serviceType")?
            .ok_or_else(|| missing(&format!("{path}/serviceType")))?,
        service_id: field("serviceId")?,
        scpd_url: field("SCPDURL")?,
        control_url: field("controlURL")?,
        event_sub_url: field("eventSubURL")?,
    })
}

fn encode_device(device: &Device) -> Element {
    let mut e = Element::new("device");
    push_text(&mut e, "deviceType", Some(&device.device_type));
    push_text(&mut e, "friendlyName", device.friendly_name.as_deref());
    push_text(&mut e, "manufacturer", device.manufacturer.as_deref());
    push_text(&mut e, "modelName", device.model_name.as_deref());
    push_text(&mut e, "modelNumber", device.model_number.as_deref());
    push_text(&mut e, "serialNumber", device.serial_number.as_deref());
    push_text(&mut e, "UDN", device.udn.as_deref());
    if !device.services.is_empty() {
        let mut list = Element::new("serviceList");
        for s in &device.services {
            let mut se = Element::new("service");
            push_text(&mut se, "serviceType", Some(&s.service_type));
            push_text(&mut se, "serviceId", s.service_id.as_deref());
            push_text(&mut se, "SCPDURL", s.scpd_url.as_deref());
            push_text(&mut se, "controlURL", s.control_url.as_deref());
            push_text(&mut se, "eventSubURL", s.event_sub_url.as_deref());
            list.children.push(XMLNode::Element(se));
        }
        e.children.push(XMLNode::Element(list));
    }
    if !device.devices.is_empty() {
        let mut list = Element::new("deviceList");
        for d in &device.devices {
            list.children.push(XMLNode::Element(encode_device(d)));
        }
        e.children.push(XMLNode::Element(list));
    }
    push_text(
        &mut e,
        "presentationURL",
        device.presentation_url.as_deref(),
    );
    e
}
