//! What Godot's `UPNP` and `UPNPDevice` are apart from their I/O, once for both drivers: the
//! settings, the limits and the device list with Godot's methods; a device with its calls
//! planned as `Plan`s. [`crate::blocking`] and `tokio` instantiate these with their HTTP
//! client and add the methods that do I/O. No I/O here.

use std::net::IpAddr;
use std::ops::Deref;
use std::time::Duration;

use upnp_soap::actions::GetExternalIpAddress;
use upnp_soap::http::Config;
use upnp_soap::{ActionRequest, ActionResponse};
use url::Url;

use crate::device::{Device, our_addr, require_valid, select_gateway};
use crate::discover::DiscoverSettings;
use crate::error::Error;
use crate::keeper::Keep;
use crate::keeper::upnp::{Find, Single, UpnpKeeper};
use crate::limits::Limits;
use crate::mapping::{AddSequence, DeleteSequence, ListSequence, MappingRequest, Next, Sequence};
use crate::pinhole::FirewallCall;

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
    pub fn with_client(client: C) -> Upnp<C> {
        Upnp {
            settings: DiscoverSettings::default(),
            limits: Limits::default(),
            devices: Vec::new(),
            client,
        }
    }

    /// The same settings, limits and client, and no devices (what a keeper takes along).
    pub(crate) fn fresh(&self) -> Upnp<C> {
        Upnp {
            settings: self.settings.clone(),
            limits: self.limits.clone(),
            devices: Vec::new(),
            client: self.client.clone(),
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

    /// A keeper of `keep`, starting from [`Upnp::get_gateway`] when there is one.
    pub(crate) fn keeper(&self, keep: Keep, find: Find) -> Result<UpnpKeeper, Error> {
        keep.validate()?;
        let machine = UpnpKeeper::new(keep, find, &self.limits);
        Ok(match self.get_gateway() {
            Ok(gateway) => machine.with_gateway(gateway.device.clone()),
            Err(_) => machine,
        })
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

    /// `query_external_address`, planned: within [`Limits::call`].
    pub(crate) fn external_address_plan(&self) -> Result<Plan<ExternalAddress>, Error> {
        let (url, service_type) = require_valid(&self.device)?;
        let single = Single::new(GetExternalIpAddress, service_type);
        Ok(Plan::new(url, ExternalAddress(single), self.limits.call))
    }

    /// `add_port_mapping`, planned: validate, look (never replace another client's mapping),
    /// add with fallbacks, read back; within [`Limits::call`].
    pub(crate) fn add_plan(&self, request: &MappingRequest) -> Result<Plan<AddSequence>, Error> {
        let mapping = request.validate()?;
        let (url, service_type) = require_valid(&self.device)?;
        let sequence = AddSequence::new(&mapping, our_addr(&self.device)?, service_type);
        Ok(Plan::new(url, sequence, self.limits.call))
    }

    /// `delete_port_mapping`, planned: only ours; within [`Limits::call`].
    pub(crate) fn delete_plan(
        &self,
        port: i64,
        proto: &str,
    ) -> Result<Plan<DeleteSequence>, Error> {
        let sequence = DeleteSequence::new(port, proto, &self.device.igd_service_type)?;
        let (url, _) = require_valid(&self.device)?;
        let sequence = sequence.client(our_addr(&self.device)?);
        Ok(Plan::new(url, sequence, self.limits.call))
    }

    /// One action of the gateway's IPv6 firewall service, planned: within [`Limits::call`].
    pub(crate) fn pinhole_plan<A: upnp_soap::Action>(
        &self,
        action: A,
    ) -> Result<Plan<FirewallCall<A>>, Error> {
        let service = self
            .device
            .ipv6_firewall
            .as_ref()
            .ok_or(Error::NoPinholeService)?;
        let url = Url::parse(&service.control_url).map_err(|_| Error::NoPinholeService)?;
        let call = FirewallCall::new(action, &service.service_type);
        Ok(Plan::new(url, call, self.limits.call))
    }

    /// The `AddPinhole` for `request`: checked ([`PinholeRequest::action`]), to our pinhole
    /// address ([`Device::pinhole_addr`], found again for a device built by hand). A device
    /// without the firewall service has no such address: [`Error::NoPinholeService`].
    pub(crate) fn pinhole_action(
        &self,
        request: &crate::pinhole::PinholeRequest,
    ) -> Result<upnp_soap::firewall::AddPinhole, Error> {
        let ours = self
            .device
            .pinhole_addr
            .or_else(|| crate::route::pinhole_addr(&self.device));
        match request.action(ours) {
            Err(Error::NoGlobalAddress) if self.device.ipv6_firewall.is_none() => {
                Err(Error::NoPinholeService)
            }
            other => other,
        }
    }

    /// `list_port_mappings`, planned: at most [`Limits::list_entries`], within
    /// [`Limits::list`].
    pub(crate) fn list_plan(&self) -> Result<Plan<ListSequence>, Error> {
        let (url, service_type) = require_valid(&self.device)?;
        let sequence = ListSequence::new(service_type).max_entries(self.limits.list_entries);
        Ok(Plan::new(url, sequence, self.limits.list))
    }
}

/// A sequence to run against one control URL within a time limit: the driver sends each
/// [`Plan::request`] and feeds the outcome to [`Plan::answer`], then takes [`Plan::result`].
#[derive(Debug)]
pub(crate) struct Plan<S: Sequence> {
    /// The control URL.
    pub(crate) url: Url,
    /// How long the whole may take.
    pub(crate) limit: Duration,
    sequence: S,
    next: Option<Next<S::Output>>,
}

impl<S: Sequence> Plan<S> {
    fn new(url: Url, mut sequence: S, limit: Duration) -> Plan<S> {
        let next = Some(sequence.start());
        Plan {
            url,
            limit,
            sequence,
            next,
        }
    }

    /// The next request to send, if the sequence is not over.
    pub(crate) fn request(&mut self) -> Option<ActionRequest> {
        match self.next.take() {
            Some(Next::Call(request)) => Some(request),
            done => {
                self.next = done;
                None
            }
        }
    }

    /// Feed the outcome of the request last given.
    pub(crate) fn answer(&mut self, outcome: Result<ActionResponse, upnp_soap::Error>) {
        self.next = Some(self.sequence.handle(outcome));
    }

    /// The end of the sequence.
    pub(crate) fn result(self) -> Result<S::Output, Error> {
        match self.next {
            Some(Next::Done(result)) => result,
            _ => Err(Error::InvalidParam("a sequence was left unfinished")),
        }
    }
}

/// `GetExternalIPAddress` as a sequence whose end is the address, or why there is none.
#[derive(Debug)]
pub(crate) struct ExternalAddress(Single<GetExternalIpAddress>);

impl Sequence for ExternalAddress {
    type Output = IpAddr;

    fn start(&mut self) -> Next<IpAddr> {
        match self.0.start() {
            Next::Call(request) => Next::Call(request),
            Next::Done(done) => Next::Done(done.and_then(address)),
        }
    }

    fn handle(&mut self, outcome: Result<ActionResponse, upnp_soap::Error>) -> Next<IpAddr> {
        match self.0.handle(outcome) {
            Next::Call(request) => Next::Call(request),
            Next::Done(done) => Next::Done(done.and_then(address)),
        }
    }
}

fn address(ip: Option<IpAddr>) -> Result<IpAddr, Error> {
    ip.ok_or(Error::InvalidResponse(
        "the gateway reports no external address",
    ))
}
