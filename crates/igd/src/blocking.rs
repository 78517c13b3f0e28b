//! The blocking driver: Godot's `UPNP` and `UPNPDevice`, calls that block like Godot's.
//!
//! Everything that decides lives in the pure modules ([`crate::mapping`],
//! [`crate::device`], [`crate::discover`]); this module only moves their requests over the
//! network. It owns no runtime, so it works when called from inside one (a game or server that
//! already runs tokio), but each call blocks its thread until the call's deadline at most: in
//! async code prefer [`crate::tokio`], or `spawn_blocking`.

use std::net::IpAddr;
use std::ops::Deref;

use ssdp::net::Searcher;
use upnp_soap::actions::{GetExternalIpAddress, PortMapping};
use upnp_soap::blocking::Client;
use upnp_soap::http::Config;
use url::Url;

use crate::device::{Device, Probe, ProbeStep, require_valid, select_gateway};
use crate::discover::{DiscoverOptions, DiscoverSettings, passes, search_options};
use crate::error::{Error, IgdStatus};
use crate::mapping::{
    AddSequence, DeleteSequence, Granted, ListSequence, MappingRequest, Next, Sequence,
};
use crate::route::local_address_towards;

#[cfg(test)]
mod tests;

/// Godot's `UPNP`: discovery, the list of devices, and the default gateway's port mappings.
#[derive(Debug)]
pub struct Upnp {
    /// Godot's `discover_ipv6`, `discover_local_port` and `discover_multicast_if`.
    pub settings: DiscoverSettings,
    devices: Vec<UpnpDevice>,
    client: Client,
}

impl Default for Upnp {
    fn default() -> Upnp {
        Upnp::new()
    }
}

impl Upnp {
    /// No devices yet; Godot's default settings; an HTTP client with default timeouts.
    pub fn new() -> Upnp {
        Upnp::with_config(&Config::default())
    }

    /// Like [`Upnp::new`], with these HTTP settings.
    pub fn with_config(config: &Config) -> Upnp {
        Upnp {
            settings: DiscoverSettings::default(),
            devices: Vec::new(),
            client: Client::new(config),
        }
    }

    /// Godot's `discover`: clear the list, search for `options.timeout` ms, fetch each
    /// answering device's description once and probe it. The number of devices found, or
    /// [`Error::NoDevices`].
    pub fn discover(&mut self, options: &DiscoverOptions) -> Result<usize, Error> {
        self.devices.clear();
        let search = search_options(&self.settings, options)?;
        let mut seen: Vec<(String, String, IpAddr)> = Vec::new();
        for found in Searcher::start(&search)? {
            let found = found?;
            let location = found.response.location.clone();
            if !passes(&options.device_filter, &found.response.search_target)
                || seen.iter().any(|(l, ..)| *l == location)
            {
                continue;
            }
            seen.push((
                location,
                found.response.search_target.to_string(),
                found.from.ip(),
            ));
        }
        if seen.is_empty() {
            return Err(Error::NoDevices);
        }
        for (location, st, responder) in seen {
            let device = probe(&self.client, Device::new(location, st), Some(responder));
            self.devices.push(UpnpDevice {
                device,
                client: self.client.clone(),
            });
        }
        Ok(self.devices.len())
    }

    /// Find one gateway quickly: probe each device as soon as it answers and stop at the
    /// first valid gateway with a public address; at the deadline, the best one found.
    /// Unlike [`Upnp::discover`], it does not wait out the timeout when a good gateway
    /// answers early. The devices probed become the device list.
    pub fn find_gateway(&mut self, options: &DiscoverOptions) -> Result<&UpnpDevice, Error> {
        self.devices.clear();
        let search = search_options(&self.settings, options)?;
        let mut seen: Vec<String> = Vec::new();
        for found in Searcher::start(&search)? {
            let found = found?;
            let location = found.response.location.clone();
            if !passes(&options.device_filter, &found.response.search_target)
                || seen.contains(&location)
            {
                continue;
            }
            seen.push(location.clone());
            let st = found.response.search_target.to_string();
            let device = probe(
                &self.client,
                Device::new(location, st),
                Some(found.from.ip()),
            );
            let done = device.is_valid_gateway() && device.is_behind_nat() == Some(false);
            self.devices.push(UpnpDevice {
                device,
                client: self.client.clone(),
            });
            if done {
                break;
            }
        }
        self.get_gateway()
    }

    /// A device from a description URL the user gave (no discovery), probed.
    pub fn device_at(&self, description_url: &str) -> UpnpDevice {
        UpnpDevice {
            device: probe(&self.client, Device::new(description_url, ""), None),
            client: self.client.clone(),
        }
    }

    /// Godot's `add_device`.
    pub fn add_device(&mut self, device: UpnpDevice) {
        self.devices.push(device);
    }

    /// Godot's `set_device`.
    pub fn set_device(&mut self, index: usize, device: UpnpDevice) -> Result<(), Error> {
        let slot = self
            .devices
            .get_mut(index)
            .ok_or(Error::InvalidParam("device index out of range"))?;
        *slot = device;
        Ok(())
    }

    /// Godot's `remove_device`.
    pub fn remove_device(&mut self, index: usize) -> Result<UpnpDevice, Error> {
        if index >= self.devices.len() {
            return Err(Error::InvalidParam("device index out of range"));
        }
        Ok(self.devices.remove(index))
    }

    /// Godot's `clear_devices`.
    pub fn clear_devices(&mut self) {
        self.devices.clear();
    }

    /// Godot's `get_device`.
    pub fn get_device(&self, index: usize) -> Option<&UpnpDevice> {
        self.devices.get(index)
    }

    /// Godot's `get_device_count`.
    pub fn get_device_count(&self) -> usize {
        self.devices.len()
    }

    /// Every device, in the order found.
    pub fn devices(&self) -> &[UpnpDevice] {
        &self.devices
    }

    /// Godot's `get_gateway`: the best valid gateway (connected with a public address, then
    /// connected behind another NAT, then connected with no address reported). When none is
    /// valid, [`Error::NoGateway`] lists each device's status; with no device at all,
    /// [`Error::NoDevices`].
    pub fn get_gateway(&self) -> Result<&UpnpDevice, Error> {
        select_gateway(&self.devices, |d| &d.device)
    }

    /// Godot's `query_external_address`, on the gateway.
    pub fn query_external_address(&self) -> Result<IpAddr, Error> {
        self.get_gateway()?.query_external_address()
    }

    /// Godot's `add_port_mapping`, on the gateway.
    pub fn add_port_mapping(&self, request: &MappingRequest) -> Result<Granted, Error> {
        self.get_gateway()?.add_port_mapping(request)
    }

    /// Godot's `delete_port_mapping`, on the gateway.
    pub fn delete_port_mapping(&self, port: i64, proto: &str) -> Result<(), Error> {
        self.get_gateway()?.delete_port_mapping(port, proto)
    }
}

/// Godot's `UPNPDevice`: one device, its properties (through [`Deref`] to [`Device`]), and
/// the calls on it.
#[derive(Clone, Debug)]
pub struct UpnpDevice {
    device: Device,
    client: Client,
}

impl Deref for UpnpDevice {
    type Target = Device;

    fn deref(&self) -> &Device {
        &self.device
    }
}

impl UpnpDevice {
    /// A device from its properties, as Godot lets a script build one.
    pub fn new(device: Device, client: Client) -> UpnpDevice {
        UpnpDevice { device, client }
    }

    /// The properties.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Godot's `query_external_address`.
    pub fn query_external_address(&self) -> Result<IpAddr, Error> {
        let (url, service_type) = require_valid(&self.device)?;
        self.client
            .perform(&url, service_type, &GetExternalIpAddress)?
            .ok_or(Error::InvalidResponse(
                "the gateway reports no external address",
            ))
    }

    /// Godot's `add_port_mapping`: validate, look at the port (another client's mapping is
    /// never replaced), add with fallbacks, read back what was granted.
    pub fn add_port_mapping(&self, request: &MappingRequest) -> Result<Granted, Error> {
        let mapping = request.validate()?;
        let (url, service_type) = require_valid(&self.device)?;
        let our_addr = self.our_addr()?;
        let sequence = AddSequence::new(&mapping, our_addr, service_type);
        self.run(&url, sequence)
    }

    /// Godot's `delete_port_mapping`.
    pub fn delete_port_mapping(&self, port: i64, proto: &str) -> Result<(), Error> {
        let sequence = DeleteSequence::new(port, proto, &self.device.igd_service_type)?;
        let (url, _) = require_valid(&self.device)?;
        let sequence = sequence.client(self.our_addr()?);
        self.run(&url, sequence)
    }

    /// Run a sequence against the gateway's control URL to its end.
    fn run<S: Sequence>(&self, url: &Url, mut sequence: S) -> Result<S::Output, Error> {
        let mut next = sequence.start();
        loop {
            match next {
                Next::Call(request) => {
                    next = sequence.handle(self.client.call(url, &request));
                }
                Next::Done(result) => return result,
            }
        }
    }

    fn our_addr(&self) -> Result<IpAddr, Error> {
        self.device
            .igd_our_addr
            .parse()
            .map_err(|_| Error::InvalidGateway(IgdStatus::InvalidControl))
    }

    /// Every mapping on the gateway (see [`ListSequence`]).
    pub fn list_port_mappings(&self) -> Result<Vec<PortMapping>, Error> {
        let (url, service_type) = require_valid(&self.device)?;
        let sequence = ListSequence::new(service_type);
        self.run(&url, sequence)
    }
}

/// Run a probe to its end over the network.
fn probe(client: &Client, device: Device, responder: Option<IpAddr>) -> Device {
    let mut probe = Probe::new(device, responder);
    let mut step = probe.start();
    loop {
        step = match step {
            ProbeStep::Fetch(url) => probe.fetched(client.get_description(&url)),
            ProbeStep::Call(url, request) => probe.answered(client.call(&url, &request)),
            ProbeStep::Done(mut device) => {
                device.igd_our_addr = Url::parse(&device.igd_control_url)
                    .ok()
                    .and_then(|url| local_address_towards(&url))
                    .map(|ip| ip.to_string())
                    .unwrap_or_default();
                return *device;
            }
        }
    }
}
