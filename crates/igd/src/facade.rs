//! What Godot's `UPNP` and `UPNPDevice` are apart from their I/O, once for both drivers: the
//! settings, the limits and the device list with Godot's methods; each call as the machine
//! ([`crate::machine`]) a driver runs. [`crate::blocking`] and `tokio` instantiate these with their HTTP
//! client and add the methods that do I/O. No I/O here.

use std::net::IpAddr;
use std::ops::Deref;
use std::time::Instant;

use upnp_soap::http::Config;

use crate::device::{Device, select_gateway, select_usable};
use crate::discover::DiscoverSettings;
use crate::error::Error;
use crate::keeper::upnp::Find;
use crate::keeper::{Keep, KeepMachine};
use crate::limits::Limits;
use crate::machine::Machine;
use crate::mapping::{Granted, MappingRequest};
use crate::ops::{self, DiscoveryRun, PmpOpened, ProbeRun, WayFound};
use crate::pinhole::{Pinhole, PinholeRequest};
use crate::pmp::{self, Target, Via};
use std::convert::Infallible;
use upnp_soap::actions::PortMapping;

/// The HTTP client of a driver (`upnp_soap`'s blocking or tokio one): what
/// [`Upnp::new`] makes. Implemented by the drivers' clients only.
pub trait DriverClient: Clone + private::Sealed {
    /// A client with these HTTP settings.
    fn with_config(config: &Config) -> Self;
}

mod private {
    pub trait Sealed {}
}

#[cfg(feature = "blocking")]
impl private::Sealed for upnp_soap::blocking::Client {}

#[cfg(feature = "blocking")]
impl DriverClient for upnp_soap::blocking::Client {
    fn with_config(config: &Config) -> Self {
        upnp_soap::blocking::Client::new(config)
    }
}

#[cfg(feature = "tokio")]
impl private::Sealed for upnp_soap::tokio::Client {}

#[cfg(feature = "tokio")]
impl DriverClient for upnp_soap::tokio::Client {
    fn with_config(config: &Config) -> Self {
        upnp_soap::tokio::Client::new(config)
    }
}

impl<C: DriverClient> Default for Upnp<C> {
    fn default() -> Upnp<C> {
        Upnp::new()
    }
}

impl<C: DriverClient> Upnp<C> {
    /// No devices yet; Godot's default settings; an HTTP client with default timeouts.
    pub fn new() -> Upnp<C> {
        Upnp::with_config(&Config::default())
    }

    /// Like [`Upnp::new`], with these HTTP settings.
    pub fn with_config(config: &Config) -> Upnp<C> {
        Upnp::with_client(C::with_config(config))
    }
}

/// Godot's `UPNP` with the HTTP client `C` of a driver: `blocking::Upnp` and `tokio::Upnp`
/// are this, with their own calls that do I/O.
#[derive(Debug)]
pub struct Upnp<C> {
    /// Godot's `discover_ipv6`, `discover_local_port` and `discover_multicast_if`.
    pub settings: DiscoverSettings,
    /// The deadlines and counts of every operation (see [`Limits`]); devices found get them.
    pub limits: Limits,
    devices: Vec<UpnpDevice<C>>,
    pub(crate) client: C,
}

impl<C: Clone> Upnp<C> {
    /// No devices yet; Godot's default settings; calls made with `client`.
    pub(crate) fn with_client(client: C) -> Upnp<C> {
        Upnp {
            settings: DiscoverSettings::default(),
            limits: Limits::default(),
            devices: Vec::new(),
            client,
        }
    }

    /// A device found, with this client and these limits.
    pub(crate) fn device(&self, device: Device) -> UpnpDevice<C> {
        UpnpDevice::new(device, self.client.clone()).with_limits(&self.limits)
    }

    /// Replace the device list with the devices a discovery found.
    pub(crate) fn set_devices(&mut self, devices: Vec<Device>) {
        self.devices = devices.into_iter().map(|d| self.device(d)).collect();
    }

    /// The outcome of a revalidating probe: the device list when it is a valid gateway
    /// again, else an empty list and why.
    pub(crate) fn revalidated(&mut self, device: Device) -> Result<&UpnpDevice<C>, Error> {
        if !device.is_valid_gateway() {
            self.devices.clear();
            return Err(Error::InvalidGateway((&device).into()));
        }
        self.set_devices(vec![device]);
        self.get_gateway()
    }

    /// A discovery for `goal` from `now`, with these settings and limits.
    pub(crate) fn discovery(
        &self,
        goal: crate::discover::Goal,
        options: &crate::discover::DiscoverOptions,
        now: Instant,
    ) -> Result<DiscoveryRun, Error> {
        DiscoveryRun::new(goal, &self.settings, options, &self.limits, now)
    }

    /// The probe of the device at `description_url` from `now`, within [`Limits::probe`].
    pub(crate) fn probe_at(&self, description_url: &str, now: Instant) -> ProbeRun {
        ProbeRun::at(description_url, &self.limits, now)
    }

    /// The check of a gateway found before from `now`, within [`Limits::revalidate`].
    pub(crate) fn revalidation(&self, saved: Device, now: Instant) -> ProbeRun {
        ProbeRun::revalidate(saved, &self.limits, now)
    }

    /// Finding a way to map as `via` says, from `now` (towards `gateway` for PCP/NAT-PMP,
    /// the default gateway when `None`).
    pub(crate) fn find_way_op(
        &self,
        options: &crate::discover::DiscoverOptions,
        via: Via,
        gateway: Option<IpAddr>,
        now: Instant,
    ) -> Result<crate::ops::FindWay, Error> {
        let target = Target::named_or_default(gateway, self.settings.discover_ipv6);
        crate::ops::FindWay::new(via, target, &self.settings, options, &self.limits, now)
    }

    /// What finding a way found: its devices become the list; the UPnP gateway chosen, or
    /// the PCP/NAT-PMP client opened.
    pub(crate) fn found_way(
        &mut self,
        way: WayFound,
    ) -> Result<pmp::Found<UpnpDevice<C>, PmpOpened>, Error> {
        self.set_devices(way.devices);
        match way.found? {
            pmp::Found::Upnp(index) => self
                .devices
                .get(index)
                .cloned()
                .map(pmp::Found::Upnp)
                .ok_or(Error::Misuse("a gateway chosen out of the list")),
            pmp::Found::Pmp(opened) => Ok(pmp::Found::Pmp(opened)),
        }
    }

    /// A keeper of `keep`, starting from [`Upnp::get_gateway`] when there is one.
    pub(crate) fn keeper(&self, keep: Keep, find: Find) -> Result<KeepMachine, Error> {
        let gateway = self.get_gateway().ok().map(|g| g.device.clone());
        let seed = pcp_natpmp::Nonce::random()?;
        KeepMachine::new_upnp(keep, find, gateway, &self.settings, &self.limits, seed)
    }

    /// Godot's `add_device`.
    pub fn add_device(&mut self, device: UpnpDevice<C>) {
        self.devices.push(device);
    }

    /// Godot's `set_device`.
    pub fn set_device(&mut self, index: usize, device: UpnpDevice<C>) -> Result<(), Error> {
        let slot = self
            .devices
            .get_mut(index)
            .ok_or(Error::InvalidParam("device index out of range"))?;
        *slot = device;
        Ok(())
    }

    /// Godot's `remove_device`.
    pub fn remove_device(&mut self, index: usize) -> Result<UpnpDevice<C>, Error> {
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
    pub fn get_device(&self, index: usize) -> Option<&UpnpDevice<C>> {
        self.devices.get(index)
    }

    /// Godot's `get_device_count`.
    pub fn get_device_count(&self) -> usize {
        self.devices.len()
    }

    /// Every device, in the order found.
    pub fn devices(&self) -> &[UpnpDevice<C>] {
        &self.devices
    }

    /// Godot's `get_gateway`: the best valid gateway (connected with a public address, then
    /// connected behind another NAT, then connected with no address reported). When none is
    /// valid, [`Error::NoGateway`] lists each device's status; with no device at all,
    /// [`Error::NoDevices`].
    pub fn get_gateway(&self) -> Result<&UpnpDevice<C>, Error> {
        select_gateway(&self.devices, |d| &d.device)
    }

    /// The gateway to use: [`Upnp::get_gateway`]'s, else the best device that is
    /// [usable](Device::is_usable) though not valid (its connection says it is not
    /// connected, or its status is unknown), as miniupnpc falls back.
    pub(crate) fn usable_gateway(&self) -> Result<&UpnpDevice<C>, Error> {
        select_usable(&self.devices, |d| &d.device)
    }
}

/// Godot's `UPNPDevice` with the HTTP client `C` of a driver: its properties (through
/// [`Deref`] to [`Device`]); `blocking::UpnpDevice` and `tokio::UpnpDevice` add the calls.
#[derive(Clone, Debug)]
pub struct UpnpDevice<C> {
    pub(crate) device: Device,
    pub(crate) client: C,
    pub(crate) limits: Limits,
}

impl<C> Deref for UpnpDevice<C> {
    type Target = Device;

    fn deref(&self) -> &Device {
        &self.device
    }
}

impl<C> UpnpDevice<C> {
    /// A device from its properties, as Godot lets a script build one.
    pub fn new(device: Device, client: C) -> UpnpDevice<C> {
        UpnpDevice {
            device,
            client,
            limits: Limits::default(),
        }
    }

    /// The same device, whose calls keep these deadlines and counts.
    pub fn with_limits(mut self, limits: &Limits) -> UpnpDevice<C> {
        self.limits = limits.clone();
        self
    }

    /// The properties.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Another device, with this one's client and limits.
    pub(crate) fn with_device(&self, device: Device) -> UpnpDevice<C>
    where
        C: Clone,
    {
        UpnpDevice::new(device, self.client.clone()).with_limits(&self.limits)
    }

    /// `query_external_address` from `now` ([`ops::external_address`]).
    pub(crate) fn external_address_op(
        &self,
        now: Instant,
    ) -> Result<impl Machine<Value = IpAddr, Event = Infallible> + use<C>, Error> {
        ops::external_address(&self.device, &self.limits, now)
    }

    /// `add_port_mapping` from `now` ([`ops::add_port_mapping`]).
    pub(crate) fn add_op(
        &self,
        request: &MappingRequest,
        now: Instant,
    ) -> Result<impl Machine<Value = Granted, Event = Infallible> + use<C>, Error> {
        ops::add_port_mapping(&self.device, request, &self.limits, now)
    }

    /// `delete_port_mapping` from `now` ([`ops::delete_port_mapping`]).
    pub(crate) fn delete_op(
        &self,
        port: i64,
        proto: &str,
        now: Instant,
    ) -> Result<impl Machine<Value = (), Event = Infallible> + use<C>, Error> {
        ops::delete_port_mapping(&self.device, port, proto, &self.limits, now)
    }

    /// One action of the gateway's IPv6 firewall service from `now` ([`ops::firewall`]).
    pub(crate) fn pinhole_op<A: upnp_soap::Action>(
        &self,
        action: A,
        now: Instant,
    ) -> Result<impl Machine<Value = A::Output, Event = Infallible> + use<A, C>, Error> {
        ops::firewall(&self.device, action, &self.limits, now)
    }

    /// Open a pinhole for `request` from `now` ([`ops::open_pinhole`]).
    pub(crate) fn open_pinhole_op(
        &self,
        request: &PinholeRequest,
        now: Instant,
    ) -> impl Machine<Value = Pinhole, Event = Infallible> + use<C> {
        ops::open_pinhole(&self.device, request, &self.limits, now)
    }

    /// `add_port_mapping_through` from `now` ([`ops::AddThroughRun`]).
    pub(crate) fn add_through_op(
        &self,
        request: &MappingRequest,
        upstream: crate::upstream::Upstream,
        now: Instant,
    ) -> Result<ops::AddThroughRun, Error> {
        ops::AddThroughRun::new(&self.device, request, upstream, &self.limits, now)
    }

    /// `delete_port_mapping_through` from `now` ([`ops::DeleteThroughRun`]).
    pub(crate) fn delete_through_op(
        &self,
        port: i64,
        proto: &str,
        upstream: crate::upstream::Upstream,
        now: Instant,
    ) -> Result<ops::DeleteThroughRun, Error> {
        ops::DeleteThroughRun::new(&self.device, port, proto, upstream, &self.limits, now)
    }

    /// `router_in_front` from `now` ([`ops::FindUpstreamRun`]).
    pub(crate) fn find_upstream_op(
        &self,
        upstream: crate::upstream::Upstream,
        now: Instant,
    ) -> ops::FindUpstreamRun {
        ops::FindUpstreamRun::new(&self.device, upstream, &self.limits, now)
    }

    /// `list_port_mappings` from `now` ([`ops::list_port_mappings`]).
    pub(crate) fn list_op(
        &self,
        now: Instant,
    ) -> Result<impl Machine<Value = Vec<PortMapping>, Event = Infallible> + use<C>, Error> {
        ops::list_port_mappings(&self.device, &self.limits, now)
    }
}

/// The device a probe gave, or one whose status says why the probe could not run (a
/// driver's own failure).
pub(crate) fn probed(description_url: &str, device: Result<Device, Error>) -> Device {
    device.unwrap_or_else(|e| {
        let mut device = Device::new(description_url, "");
        device.igd_status = crate::error::IgdStatus::HttpError;
        device.status_detail = Some(e.to_string());
        device
    })
}
