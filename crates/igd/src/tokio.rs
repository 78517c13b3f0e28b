//! The async driver, for a tokio runtime (feature `tokio`): Godot's `UPNP` and `UPNPDevice`
//! with `async` calls.
//!
//! It runs the same pure logic as [`crate::blocking`] ([`crate::mapping`],
//! [`crate::device`], [`crate::discover`]); only the I/O differs: HTTP is `upnp_soap::tokio`'s
//! client on tokio sockets, SSDP is `ssdp::net::tokio::Searcher` on a tokio socket.

use std::net::IpAddr;
use std::ops::Deref;

use ssdp::net::tokio::Searcher;
use upnp_soap::actions::{GetExternalIpAddress, PortMapping};
use upnp_soap::http::Config;
use upnp_soap::tokio::Client;
use url::Url;

use crate::device::{Device, Probe, ProbeStep, require_valid, select_gateway};
use crate::discover::{DiscoverOptions, DiscoverSettings, passes, search_options};
use crate::error::{Error, IgdStatus};
use crate::mapping::{
    AddSequence, DeleteSequence, Granted, ListSequence, MappingRequest, Next, Sequence,
};
use crate::route::local_address_towards;

/// Godot's `UPNP`, async.
#[derive(Debug)]
pub struct Upnp {
    /// Godot's `discover_ipv6`, `discover_local_port` and `discover_multicast_if`.
    pub settings: DiscoverSettings,
    devices: Vec<UpnpDevice>,
    client: Client,
}

/// The answers of a search: each LOCATION once, filtered as Godot does.
struct Answers {
    searcher: Searcher,
    filter: String,
    seen: Vec<String>,
}

impl Answers {
    /// The next new device: (location, search target, responder).
    async fn next(&mut self) -> Option<Result<(String, String, IpAddr), Error>> {
        loop {
            let found = match self.searcher.next().await? {
                Ok(found) => found,
                Err(e) => return Some(Err(e.into())),
            };
            let location = found.response.location.clone();
            if passes(&self.filter, &found.response.search_target) && !self.seen.contains(&location)
            {
                self.seen.push(location.clone());
                let st = found.response.search_target.to_string();
                return Some(Ok((location, st, found.from.ip())));
            }
        }
    }
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

    /// Start a search; [`Answers::next`] yields each new LOCATION that passes the filter.
    async fn search(&self, options: &DiscoverOptions) -> Result<Answers, Error> {
        let search = search_options(&self.settings, options)?;
        Ok(Answers {
            searcher: Searcher::start(&search).await?,
            filter: options.device_filter.clone(),
            seen: Vec::new(),
        })
    }

    /// Godot's `discover`: clear the list, search for `options.timeout` ms, probe each
    /// answering device once. The number of devices found, or [`Error::NoDevices`].
    pub async fn discover(&mut self, options: &DiscoverOptions) -> Result<usize, Error> {
        self.devices.clear();
        let mut answers = self.search(options).await?;
        let mut found = Vec::new();
        while let Some(answer) = answers.next().await {
            found.push(answer?);
        }
        if found.is_empty() {
            return Err(Error::NoDevices);
        }
        for (location, st, responder) in found {
            let device = probe(&self.client, Device::new(location, st), Some(responder)).await;
            self.devices.push(UpnpDevice {
                device,
                client: self.client.clone(),
            });
        }
        Ok(self.devices.len())
    }

    /// Find one gateway quickly: probe each device as it answers, stop at the first valid
    /// gateway with a public address; at the deadline, the best found.
    pub async fn find_gateway(&mut self, options: &DiscoverOptions) -> Result<&UpnpDevice, Error> {
        self.devices.clear();
        let mut answers = self.search(options).await?;
        while let Some(answer) = answers.next().await {
            let (location, st, responder) = answer?;
            let device = probe(&self.client, Device::new(location, st), Some(responder)).await;
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
    pub async fn device_at(&self, description_url: &str) -> UpnpDevice {
        UpnpDevice {
            device: probe(&self.client, Device::new(description_url, ""), None).await,
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

    /// Godot's `get_gateway`; see [`crate::blocking::Upnp::get_gateway`].
    pub fn get_gateway(&self) -> Result<&UpnpDevice, Error> {
        select_gateway(&self.devices, |d| &d.device)
    }

    /// Godot's `query_external_address`, on the gateway.
    pub async fn query_external_address(&self) -> Result<IpAddr, Error> {
        self.get_gateway()?.query_external_address().await
    }

    /// Godot's `add_port_mapping`, on the gateway.
    pub async fn add_port_mapping(&self, request: &MappingRequest) -> Result<Granted, Error> {
        self.get_gateway()?.add_port_mapping(request).await
    }

    /// Godot's `delete_port_mapping`, on the gateway.
    pub async fn delete_port_mapping(&self, port: i64, proto: &str) -> Result<(), Error> {
        self.get_gateway()?.delete_port_mapping(port, proto).await
    }
}

/// Godot's `UPNPDevice`, async: properties through [`Deref`] to [`Device`].
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
    /// A device from its properties.
    pub fn new(device: Device, client: Client) -> UpnpDevice {
        UpnpDevice { device, client }
    }

    /// The properties.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Godot's `query_external_address`.
    pub async fn query_external_address(&self) -> Result<IpAddr, Error> {
        let (url, service_type) = require_valid(&self.device)?;
        self.client
            .perform(&url, service_type, &GetExternalIpAddress)
            .await?
            .ok_or(Error::InvalidResponse(
                "the gateway reports no external address",
            ))
    }

    /// Godot's `add_port_mapping`; see [`crate::blocking::UpnpDevice::add_port_mapping`].
    pub async fn add_port_mapping(&self, request: &MappingRequest) -> Result<Granted, Error> {
        let mapping = request.validate()?;
        let (url, service_type) = require_valid(&self.device)?;
        let our_addr = self.our_addr()?;
        let sequence = AddSequence::new(&mapping, our_addr, service_type);
        self.run(&url, sequence).await
    }

    /// Godot's `delete_port_mapping`.
    pub async fn delete_port_mapping(&self, port: i64, proto: &str) -> Result<(), Error> {
        let sequence = DeleteSequence::new(port, proto, &self.device.igd_service_type)?;
        let (url, _) = require_valid(&self.device)?;
        let sequence = sequence.client(self.our_addr()?);
        self.run(&url, sequence).await
    }

    /// Run a sequence against the gateway's control URL to its end.
    async fn run<S: Sequence>(&self, url: &Url, mut sequence: S) -> Result<S::Output, Error> {
        let mut next = sequence.start();
        loop {
            match next {
                Next::Call(request) => {
                    next = sequence.handle(self.client.call(url, &request).await);
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
    pub async fn list_port_mappings(&self) -> Result<Vec<PortMapping>, Error> {
        let (url, service_type) = require_valid(&self.device)?;
        let sequence = ListSequence::new(service_type);
        self.run(&url, sequence).await
    }
}

async fn probe(client: &Client, device: Device, responder: Option<IpAddr>) -> Device {
    let mut probe = Probe::new(device, responder);
    let mut step = probe.start();
    loop {
        step = match step {
            ProbeStep::Fetch(url) => probe.fetched(client.get_description(&url).await),
            ProbeStep::Call(url, request) => probe.answered(client.call(&url, &request).await),
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
