//! The async driver, for a tokio runtime (feature `tokio`): Godot's `UPNP` and `UPNPDevice`
//! with `async` calls.
//!
//! It runs the same pure logic as [`crate::blocking`] ([`crate::mapping`],
//! [`crate::device`], [`crate::discover`]); only the I/O differs: HTTP is `upnp_soap::tokio`'s
//! client on tokio sockets, SSDP is `ssdp::net::tokio::Searcher` on a tokio socket.

use std::net::IpAddr;
use std::ops::Deref;
use std::time::{Duration, Instant};

use ssdp::net::tokio::Searcher;
use tokio::task::JoinSet;
use upnp_soap::actions::{GetExternalIpAddress, PortMapping};
use upnp_soap::http::Config;
use upnp_soap::tokio::Client;
use url::Url;

use crate::device::{Device, Probe, ProbeStep, our_addr, require_valid, select_gateway};
use crate::discover::{
    DiscoverOptions, DiscoverSettings, Discovery, DiscoveryStep, Goal, search_options,
};
use crate::error::Error;
use crate::limits::{Limits, later};
use crate::mapping::{
    AddSequence, DeleteSequence, Granted, ListSequence, MappingRequest, Next, Sequence,
};
use crate::route::fill_our_addr;

/// Godot's `UPNP`, async.
#[derive(Debug)]
pub struct Upnp {
    /// Godot's `discover_ipv6`, `discover_local_port` and `discover_multicast_if`.
    pub settings: DiscoverSettings,
    /// The deadlines and counts of every operation (see [`Limits`]); devices found get them.
    pub limits: Limits,
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
            limits: Limits::default(),
            devices: Vec::new(),
            client: Client::new(config),
        }
    }

    /// Godot's `discover`: clear the list, search for `options.timeout` ms and probe each
    /// answering device (while the search goes on, several at once). The number of devices
    /// found, or [`Error::NoDevices`]. Ends by `options.timeout` + [`Limits::probe`].
    pub async fn discover(&mut self, options: &DiscoverOptions) -> Result<usize, Error> {
        self.devices.clear();
        self.devices = self.run_discovery(Goal::Every, options).await?;
        Ok(self.devices.len())
    }

    /// Find one gateway quickly; see [`crate::blocking::Upnp::find_gateway`].
    pub async fn find_gateway(&mut self, options: &DiscoverOptions) -> Result<&UpnpDevice, Error> {
        self.devices.clear();
        self.devices = self.run_discovery(Goal::FirstPublic, options).await?;
        self.get_gateway()
    }

    /// The [`Discovery`] machine's loop: the search and every probe (each a task of a
    /// [`JoinSet`], aborted when the discovery is over) awaited together.
    async fn run_discovery(
        &self,
        goal: Goal,
        options: &DiscoverOptions,
    ) -> Result<Vec<UpnpDevice>, Error> {
        let search = search_options(&self.settings, options)?;
        let mut discovery = Discovery::new(goal, options, &self.limits, Instant::now())?;
        let mut searcher = Searcher::start(&search).await?;
        let mut probes = JoinSet::new();
        let outcome = loop {
            match discovery.poll(Instant::now()) {
                DiscoveryStep::Probe(task) => {
                    let client = self.client.until(task.deadline);
                    probes.spawn(async move { (task.id, probe(&client, task.probe).await) });
                }
                DiscoveryStep::Wait(until) => {
                    let searching = discovery.searching(Instant::now());
                    tokio::select! {
                        answer = searcher.next(), if searching => match answer {
                            Some(Ok(answer)) => {
                                let _ = discovery.response(&answer, Instant::now());
                            }
                            Some(Err(e)) => discovery.search_failed(e),
                            None => discovery.search_ended(),
                        },
                        Some(joined) = probes.join_next(), if !probes.is_empty() => {
                            if let Ok((id, device)) = joined {
                                discovery.probed(id, device);
                            }
                        }
                        () = tokio::time::sleep_until(until.into()) => {}
                    }
                }
                DiscoveryStep::Done(outcome) => break outcome,
            }
        };
        probes.abort_all();
        Ok(outcome?
            .into_iter()
            .map(|device| self.device(device))
            .collect())
    }

    fn device(&self, device: Device) -> UpnpDevice {
        UpnpDevice {
            device,
            client: self.client.clone(),
            limits: self.limits.clone(),
        }
    }

    /// A device from a description URL the user gave (no discovery), probed within
    /// [`Limits::probe`].
    pub async fn device_at(&self, description_url: &str) -> UpnpDevice {
        let client = self.client.until(later(Instant::now(), self.limits.probe));
        let device = probe(&client, Probe::new(Device::new(description_url, ""), None)).await;
        self.device(device)
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
    limits: Limits,
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
        UpnpDevice {
            device,
            client,
            limits: Limits::default(),
        }
    }

    /// The same device, whose calls keep these deadlines and counts.
    pub fn with_limits(mut self, limits: &Limits) -> UpnpDevice {
        self.limits = limits.clone();
        self
    }

    /// The properties.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Godot's `query_external_address`, within [`Limits::call`].
    pub async fn query_external_address(&self) -> Result<IpAddr, Error> {
        let (url, service_type) = require_valid(&self.device)?;
        self.client
            .until(later(Instant::now(), self.limits.call))
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
        self.run(&url, sequence, self.limits.call).await
    }

    /// Godot's `delete_port_mapping`.
    pub async fn delete_port_mapping(&self, port: i64, proto: &str) -> Result<(), Error> {
        let sequence = DeleteSequence::new(port, proto, &self.device.igd_service_type)?;
        let (url, _) = require_valid(&self.device)?;
        let sequence = sequence.client(self.our_addr()?);
        self.run(&url, sequence, self.limits.call).await
    }

    /// Run a sequence against the gateway's control URL to its end, within `limit`.
    async fn run<S: Sequence>(
        &self,
        url: &Url,
        mut sequence: S,
        limit: Duration,
    ) -> Result<S::Output, Error> {
        let client = self.client.until(later(Instant::now(), limit));
        let mut next = sequence.start();
        loop {
            match next {
                Next::Call(request) => {
                    next = sequence.handle(client.call(url, &request).await);
                }
                Next::Done(result) => return result,
            }
        }
    }

    fn our_addr(&self) -> Result<IpAddr, Error> {
        our_addr(&self.device)
    }

    /// Every mapping on the gateway (see [`ListSequence`]), at most
    /// [`Limits::list_entries`], within [`Limits::list`].
    pub async fn list_port_mappings(&self) -> Result<Vec<PortMapping>, Error> {
        let (url, service_type) = require_valid(&self.device)?;
        let sequence = ListSequence::new(service_type).max_entries(self.limits.list_entries);
        self.run(&url, sequence, self.limits.list).await
    }
}

/// Run a probe to its end over the network (each exchange within the client's deadline).
async fn probe(client: &Client, mut probe: Probe) -> Device {
    let mut step = probe.start();
    loop {
        step = match step {
            ProbeStep::Fetch(url) => probe.fetched(client.get_description(&url).await),
            ProbeStep::Call(url, request) => probe.answered(client.call(&url, &request).await),
            ProbeStep::Done(mut device) => {
                fill_our_addr(&mut device);
                return *device;
            }
        }
    }
}
