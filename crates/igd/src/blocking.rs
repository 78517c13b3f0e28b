//! The blocking driver: Godot's `UPNP` and `UPNPDevice`, calls that block like Godot's.
//!
//! Everything that decides lives in the pure modules ([`crate::mapping`],
//! [`crate::device`], [`crate::discover`]); this module only moves their requests over the
//! network. It owns no runtime, so it works when called from inside one (a game or server that
//! already runs tokio), but each call blocks its thread until the call's deadline at most: in
//! async code prefer [`crate::tokio`], or `spawn_blocking`.

use std::net::IpAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use ssdp::net::Searcher;
use upnp_soap::actions::{GetExternalIpAddress, PortMapping};
use upnp_soap::blocking::Client;
use upnp_soap::http::Config;
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

#[cfg(test)]
mod tests;

/// Godot's `UPNP`: discovery, the list of devices, and the default gateway's port mappings.
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
    pub fn discover(&mut self, options: &DiscoverOptions) -> Result<usize, Error> {
        self.devices.clear();
        self.devices = self.run_discovery(Goal::Every, options)?;
        Ok(self.devices.len())
    }

    /// Find one gateway quickly: probe each device as soon as it answers and stop at the
    /// first valid gateway with a public address; else, once the search and the probes are
    /// over, the best one found. Unlike [`Upnp::discover`], it does not wait out the timeout
    /// when a good gateway answers early. The devices probed become the device list.
    pub fn find_gateway(&mut self, options: &DiscoverOptions) -> Result<&UpnpDevice, Error> {
        self.devices.clear();
        self.devices = self.run_discovery(Goal::FirstPublic, options)?;
        self.get_gateway()
    }

    /// The [`Discovery`] machine's loop: the search on a thread of its own, each probe on
    /// its own thread, their events through one channel.
    fn run_discovery(
        &self,
        goal: Goal,
        options: &DiscoverOptions,
    ) -> Result<Vec<UpnpDevice>, Error> {
        let search = search_options(&self.settings, options)?;
        let mut discovery = Discovery::new(goal, options, &self.limits, Instant::now())?;
        let searcher = Searcher::start(&search)?;
        let (events, inbox) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (events, stop) = (events.clone(), Arc::clone(&stop));
            thread::Builder::new()
                .name("upnp-search".into())
                .spawn(move || search_loop(searcher, &events, &stop))
                .map_err(|source| ssdp::Error::Io {
                    context: "start the search thread",
                    source,
                })?;
        }
        let outcome = loop {
            match discovery.poll(Instant::now()) {
                DiscoveryStep::Probe(task) => {
                    let (id, spare) = (task.id, task.probe.clone());
                    let client = self.client.until(task.deadline);
                    let (worker, events) = (client.clone(), events.clone());
                    let spawned =
                        thread::Builder::new()
                            .name("upnp-probe".into())
                            .spawn(move || {
                                let _ = events.send(Event::Probed(id, probe(&worker, task.probe)));
                            });
                    if spawned.is_err() {
                        // No thread to spare: probe here, still within the probe's deadline.
                        discovery.probed(id, probe(&client, spare));
                    }
                }
                DiscoveryStep::Wait(until) => {
                    let wait = until.saturating_duration_since(Instant::now());
                    match inbox.recv_timeout(wait) {
                        Ok(Event::Answer(answer)) => {
                            let _ = discovery.response(&answer, Instant::now());
                        }
                        Ok(Event::SearchEnded(None)) => discovery.search_ended(),
                        Ok(Event::SearchEnded(Some(e))) => discovery.search_failed(e),
                        Ok(Event::Probed(id, device)) => discovery.probed(id, device),
                        Err(_) => {}
                    }
                }
                DiscoveryStep::Done(outcome) => break outcome,
            }
        };
        // The search thread ends within 50 ms; probes still running end by their deadline.
        stop.store(true, Ordering::Relaxed);
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
    pub fn device_at(&self, description_url: &str) -> UpnpDevice {
        let client = self.client.until(later(Instant::now(), self.limits.probe));
        self.device(probe(
            &client,
            Probe::new(Device::new(description_url, ""), None),
        ))
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
    limits: Limits,
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
    pub fn query_external_address(&self) -> Result<IpAddr, Error> {
        let (url, service_type) = require_valid(&self.device)?;
        self.client
            .until(later(Instant::now(), self.limits.call))
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
        self.run(&url, sequence, self.limits.call)
    }

    /// Godot's `delete_port_mapping`.
    pub fn delete_port_mapping(&self, port: i64, proto: &str) -> Result<(), Error> {
        let sequence = DeleteSequence::new(port, proto, &self.device.igd_service_type)?;
        let (url, _) = require_valid(&self.device)?;
        let sequence = sequence.client(self.our_addr()?);
        self.run(&url, sequence, self.limits.call)
    }

    /// Run a sequence against the gateway's control URL to its end, within `limit`.
    fn run<S: Sequence>(
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
                    next = sequence.handle(client.call(url, &request));
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
    pub fn list_port_mappings(&self) -> Result<Vec<PortMapping>, Error> {
        let (url, service_type) = require_valid(&self.device)?;
        let sequence = ListSequence::new(service_type).max_entries(self.limits.list_entries);
        self.run(&url, sequence, self.limits.list)
    }
}

/// What the search and the probes tell the discovery loop.
enum Event {
    Answer(ssdp::search::Response),
    SearchEnded(Option<ssdp::Error>),
    Probed(usize, Device),
}

/// The search thread: every answer to the loop, until the search ends or the loop is done.
fn search_loop(mut searcher: Searcher, events: &mpsc::Sender<Event>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let event = match searcher.next_within(Duration::from_millis(50)) {
            None => Event::SearchEnded(None),
            Some(Ok(None)) => continue,
            Some(Ok(Some(answer))) => Event::Answer(answer),
            Some(Err(e)) => Event::SearchEnded(Some(e)),
        };
        let last = matches!(event, Event::SearchEnded(_));
        if events.send(event).is_err() || last {
            return;
        }
    }
}

/// Run a probe to its end over the network (each exchange within the client's deadline).
fn probe(client: &Client, mut probe: Probe) -> Device {
    let mut step = probe.start();
    loop {
        step = match step {
            ProbeStep::Fetch(url) => probe.fetched(client.get_description(&url)),
            ProbeStep::Call(url, request) => probe.answered(client.call(&url, &request)),
            ProbeStep::Done(mut device) => {
                fill_our_addr(&mut device);
                return *device;
            }
        }
    }
}
