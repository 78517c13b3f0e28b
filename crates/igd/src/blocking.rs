//! The blocking driver: Godot's `UPNP` and `UPNPDevice`, calls that block like Godot's.
//!
//! Every call builds the machine of its operation ([`crate::machine`]) and runs it on the
//! caller's thread with the blocking executor (one loop for all of them); nothing here
//! decides. It owns no runtime, so it works when called from inside one (a game or server
//! that already runs tokio), but each call blocks its thread until the call's deadline at
//! most: in async code prefer [`crate::tokio`], or `spawn_blocking`.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread;
use std::time::Instant;

use upnp_soap::actions::PortMapping;
use upnp_soap::blocking::Client;
use upnp_soap::firewall::{
    CheckPinholeWorking, DeletePinhole, FirewallStatus, GetFirewallStatus, GetPinholePackets,
    UpdatePinhole,
};

use crate::device::Device;
use crate::discover::{DiscoverOptions, Goal};
use crate::error::Error;
use crate::facade;
use crate::keeper::upnp::Find;
use crate::keeper::{Event as KeeperEvent, Keep, KeepMachine, MAX_EVENTS, Status, Update};
use crate::machine::Machine;
use crate::mapping::{Granted, MappingRequest, Sequence};
use crate::ops::{PmpRun, Soap};
use crate::pinhole::{self, Pinhole, PinholeRequest};
use crate::pmp::{
    self, Method, PmpAddress, PmpGranted, PmpMapping, PmpSequence, Session, Target, Via, Way,
};

mod exec;
#[cfg(test)]
mod tests;

use exec::{Executor, Inbox};

/// Run a one-shot machine to its end on this thread.
fn run<M: Machine<Event = Infallible>>(
    exec: &mut Executor,
    mut machine: M,
) -> Result<M::Value, Error> {
    exec.run(&mut machine, Inbox::new(), |never| match never {})
}

/// Godot's `UPNP`: discovery, the list of devices (Godot's methods: see
/// [`facade::Upnp`]), and the default gateway's port mappings.
pub type Upnp = facade::Upnp<Client>;

/// Godot's `UPNPDevice`: one device, its properties (through `Deref` to [`Device`]),
/// and the calls on it.
pub type UpnpDevice = facade::UpnpDevice<Client>;

impl Upnp {
    fn executor(&self) -> Executor {
        Executor::new(self.client.clone())
    }

    /// Godot's `discover`: clear the list, search for `options.timeout` ms and probe each
    /// answering device (while the search goes on, several at once). The number of devices
    /// found, or [`Error::NoDevices`]. Ends by `options.timeout` + [`Limits::probe`](crate::Limits::probe).
    pub fn discover(&mut self, options: &DiscoverOptions) -> Result<usize, Error> {
        self.clear_devices();
        let discovery = self.discovery(Goal::Every, options, Instant::now())?;
        let found = run(&mut self.executor(), discovery)?;
        self.set_devices(found);
        Ok(self.get_device_count())
    }

    /// Find one gateway quickly: probe each device as soon as it answers and stop at the
    /// first valid gateway with a public address; else, once the search and the probes are
    /// over, the best one found. Unlike [`Upnp::discover`], it does not wait out the timeout
    /// when a good gateway answers early. The devices probed become the device list.
    pub fn find_gateway(&mut self, options: &DiscoverOptions) -> Result<&UpnpDevice, Error> {
        self.clear_devices();
        let discovery = self.discovery(Goal::FirstPublic, options, Instant::now())?;
        let found = run(&mut self.executor(), discovery)?;
        self.set_devices(found);
        self.get_gateway()
    }

    /// A device from a description URL the user gave (no discovery), probed within
    /// [`Limits::probe`](crate::Limits::probe).
    pub fn device_at(&self, description_url: &str) -> UpnpDevice {
        let probe = self.probe_at(description_url, Instant::now());
        let device = run(&mut self.executor(), probe);
        self.device(device.unwrap_or_else(|e| failed(description_url, &e)))
    }

    /// Rebuild a gateway found before (`saved`: the [`Device`] of a probe, e.g. written and
    /// read back with feature `serde`) with one exchange instead of a search
    /// ([`crate::device::Probe::revalidate`] says what is checked), within [`Limits::revalidate`](crate::Limits::revalidate).
    /// When it answers, it becomes the device list, as [`Upnp::find_gateway`] leaves it; else
    /// the list is left empty and the error says why: search then.
    ///
    /// ```no_run
    /// use upnp_igd::DiscoverOptions;
    /// use upnp_igd::blocking::Upnp;
    ///
    /// let mut upnp = Upnp::new();
    /// let saved = upnp.find_gateway(&DiscoverOptions::default())?.device().clone();
    /// // Later, perhaps in another process:
    /// let gateway = match upnp.revalidate(saved) {
    ///     Ok(gateway) => gateway,
    ///     Err(_) => upnp.find_gateway(&DiscoverOptions::default())?,
    /// };
    /// println!("{:?}", gateway.external_address);
    /// # Ok::<(), upnp_igd::Error>(())
    /// ```
    pub fn revalidate(&mut self, saved: Device) -> Result<&UpnpDevice, Error> {
        let url = saved.description_url.clone();
        let probe = self.revalidation(saved, Instant::now());
        let device = run(&mut self.executor(), probe).unwrap_or_else(|e| failed(&url, &e));
        self.revalidated(device)
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

    /// Keep ports open until stopped (see [`crate::keeper`]), on a thread of its own: it
    /// starts from the gateway of [`Upnp::get_gateway`] when there is one, and finds one as
    /// `find` says otherwise (and whenever the gateway stops answering). Refuses a `keep`
    /// that [`Keep::validate`] refuses, before anything is sent.
    ///
    /// ```no_run
    /// use upnp_igd::blocking::Upnp;
    /// use upnp_igd::keeper::{Keep, upnp::Find};
    ///
    /// let keeper = Upnp::new().keep(Keep::new().udp(7777).tcp(7777), Find::default())?;
    /// for event in keeper.events().iter().take(2) {
    ///     println!("{event}");
    /// }
    /// keeper.stop(); // removes both mappings
    /// # Ok::<(), upnp_igd::Error>(())
    /// ```
    pub fn keep(&self, keep: Keep, find: Find) -> Result<KeeperHandle, Error> {
        let machine = self.keeper(keep, find)?;
        let status = machine.status();
        KeeperHandle::spawn(machine, status, self.executor())
    }

    /// Find a gateway the way `via` says: with [`Via::Auto`], a UPnP search and a PCP /
    /// NAT-PMP probe of `gateway` (the default gateway when `None`) at once, preferring UPnP,
    /// then PCP, then NAT-PMP ([`crate::pmp`] says why). Godot's methods keep UPnP only.
    pub fn find_way(
        &mut self,
        options: &DiscoverOptions,
        via: Via,
        gateway: Option<IpAddr>,
    ) -> Result<Found, Error> {
        self.clear_devices();
        let machine = self.find_way_op(options, via, gateway, Instant::now())?;
        let mut exec = self.executor();
        let way = run(&mut exec, machine)?;
        Ok(match self.found_way(way)? {
            pmp::Found::Upnp(device) => pmp::Found::Upnp(device),
            pmp::Found::Pmp(opened) => pmp::Found::Pmp(PmpClient {
                exec,
                session: opened.session,
                gateway: opened.gateway,
                limits: self.limits.clone(),
            }),
        })
    }
}

/// A device whose probe could not run (the driver's own failure): its status says why.
fn failed(description_url: &str, error: &Error) -> Device {
    let mut device = Device::new(description_url, "");
    device.igd_status = crate::error::IgdStatus::HttpError;
    device.status_detail = Some(error.to_string());
    device
}

/// A keeper running on its own thread ([`Upnp::keep`], [`PmpClient::keep`], [`keep_pmp`]).
/// Stopping it, or dropping it, removes every mapping it made (only those, and only where
/// they still point at us) and waits for that: at most the call in flight
/// ([`Limits::call`](crate::Limits::call)) plus [`Keep::stop_within`].
#[derive(Debug)]
pub struct KeeperHandle {
    inbox: Option<mpsc::SyncSender<crate::machine::Input>>,
    events: mpsc::Receiver<KeeperEvent>,
    status: Arc<Mutex<Status>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl KeeperHandle {
    /// Run `machine` with `exec` on a thread of its own.
    fn spawn<M>(mut machine: M, status: Status, mut exec: Executor) -> Result<KeeperHandle, Error>
    where
        M: Machine<Value = (), Event = Update> + Send + 'static,
    {
        let inbox = Inbox::new();
        let stop = inbox.sender.clone();
        let (sender, events) = mpsc::sync_channel(MAX_EVENTS);
        let status = Arc::new(Mutex::new(status));
        let shared = Arc::clone(&status);
        let thread = thread::Builder::new()
            .name("igd-keeper".into())
            .spawn(move || {
                let _ = exec.run(&mut machine, inbox, |update| match update {
                    Update::Status(now) => {
                        *shared.lock().unwrap_or_else(PoisonError::into_inner) = *now;
                    }
                    Update::Event(event) => drop(sender.try_send(event)),
                });
            })
            .map_err(Error::Thread)?;
        Ok(KeeperHandle {
            inbox: Some(stop),
            events,
            status,
            thread: Some(thread),
        })
    }

    /// Every change, as it happens (at most [`MAX_EVENTS`] waiting: newer ones past that
    /// are dropped until some are read; [`KeeperHandle::status`] is always current). The
    /// channel ends after [`KeeperEvent::Stopped`].
    pub fn events(&self) -> &mpsc::Receiver<KeeperEvent> {
        &self.events
    }

    /// The state now: the gateway, the external address, each port and what holds it.
    pub fn status(&self) -> Status {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stop: remove the mappings made, then return. Events until then stay readable through
    /// [`KeeperHandle::events`] until the handle is dropped.
    pub fn stop(mut self) -> Vec<KeeperEvent> {
        self.finish();
        self.events.try_iter().collect()
    }

    fn finish(&mut self) {
        if let Some(inbox) = self.inbox.take() {
            // Waits only while the keeper's inbox is full (it reads it in turn); an error
            // means the keeper is over already.
            let _ = inbox.send(crate::machine::Input::Stop);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for KeeperHandle {
    /// Stops as [`KeeperHandle::stop`] does.
    fn drop(&mut self) {
        self.finish();
    }
}

impl UpnpDevice {
    fn executor(&self) -> Executor {
        Executor::new(self.client.clone())
    }

    fn run<S: Sequence>(&self, op: Result<Soap<S>, Error>) -> Result<S::Output, Error> {
        run(&mut self.executor(), op?)
    }

    /// Godot's `query_external_address`, within [`Limits::call`](crate::Limits::call).
    pub fn query_external_address(&self) -> Result<IpAddr, Error> {
        self.run(self.external_address_op(Instant::now()))
    }

    /// Godot's `add_port_mapping`: validate, look at the port (another client's mapping is
    /// never replaced), add with fallbacks, read back what was granted.
    pub fn add_port_mapping(&self, request: &MappingRequest) -> Result<Granted, Error> {
        self.run(self.add_op(request, Instant::now()))
    }

    /// Godot's `delete_port_mapping` (only a mapping to us).
    pub fn delete_port_mapping(&self, port: i64, proto: &str) -> Result<(), Error> {
        self.run(self.delete_op(port, proto, Instant::now()))
    }

    /// Every mapping on the gateway (see [`crate::mapping::ListSequence`]), at most
    /// [`Limits::list_entries`](crate::Limits::list_entries), within [`Limits::list`](crate::Limits::list).
    pub fn list_port_mappings(&self) -> Result<Vec<PortMapping>, Error> {
        self.run(self.list_op(Instant::now()))
    }

    /// The gateway's IPv6 firewall: whether it is on, and whether pinholes may be opened.
    pub fn firewall_status(&self) -> Result<FirewallStatus, Error> {
        self.run(self.pinhole_op(GetFirewallStatus, Instant::now()))
    }

    /// Open an IPv6 pinhole (to our own global address unless the request names one):
    /// checked before anything is sent ([`PinholeRequest::action`]), within
    /// [`Limits::call`](crate::Limits::call).
    pub fn open_pinhole(&self, request: &PinholeRequest) -> Result<Pinhole, Error> {
        run(
            &mut self.executor(),
            self.open_pinhole_op(request, Instant::now()),
        )
    }

    /// Give a pinhole its lease again (from now).
    pub fn renew_pinhole(&self, pinhole: &Pinhole) -> Result<(), Error> {
        let update = UpdatePinhole {
            unique_id: pinhole.unique_id,
            lease_time: pinhole::lease_time(pinhole.lease)?,
        };
        self.run(self.pinhole_op(update, Instant::now()))
    }

    /// Close a pinhole.
    pub fn close_pinhole(&self, unique_id: u16) -> Result<(), Error> {
        self.run(self.pinhole_op(DeletePinhole { unique_id }, Instant::now()))
    }

    /// How many packets a pinhole has let in.
    pub fn pinhole_packets(&self, unique_id: u16) -> Result<u32, Error> {
        self.run(self.pinhole_op(GetPinholePackets { unique_id }, Instant::now()))
    }

    /// Whether traffic has come through a pinhole.
    pub fn pinhole_working(&self, unique_id: u16) -> Result<bool, Error> {
        let check = CheckPinholeWorking { unique_id };
        pinhole::working(self.run(self.pinhole_op(check, Instant::now())))
    }
}

/// A gateway reached one way or another: what [`Upnp::find_way`] found.
pub type Found = pmp::Found<UpnpDevice, PmpClient>;

/// A client of a gateway's PCP or NAT-PMP service (UDP 5351): map, unmap, and its external
/// address, each within [`Limits::call`](crate::Limits::call).
#[derive(Debug)]
pub struct PmpClient {
    exec: Executor,
    session: Session,
    gateway: SocketAddr,
    limits: crate::Limits,
}

impl PmpClient {
    /// A client of the gateway `target` names speaking `way`, not probed. An IPv6 gateway
    /// opens pinholes to our global address ([`Target`] says how).
    pub fn new(target: Target, way: Way, limits: &crate::Limits) -> Result<PmpClient, Error> {
        let mut exec = Executor::new(Client::new(&upnp_soap::http::Config::default()));
        let (local, gateway) = exec.open_pmp(target, way)?;
        Ok(PmpClient {
            exec,
            session: Session::new(way, local),
            gateway,
            limits: limits.clone(),
        })
    }

    /// A client that has asked the gateway which version it speaks.
    pub fn probe(target: Target, way: Way, limits: &crate::Limits) -> Result<PmpClient, Error> {
        let mut client = PmpClient::new(target, way, limits)?;
        let method = client.run(client.session.probe())?;
        client.session.probed(method);
        Ok(client)
    }

    /// The way it speaks (after a probe: the one the gateway answered).
    pub fn method(&self) -> Method {
        self.session.method()
    }

    /// The gateway's address and port.
    pub fn gateway(&self) -> SocketAddr {
        self.gateway
    }

    /// What it knows: the way and our address.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Map (PCP, or NAT-PMP and then the external address).
    pub fn add(&mut self, mapping: PmpMapping) -> Result<PmpGranted, Error> {
        self.run(self.session.add(mapping))
    }

    /// Unmap (PCP with the mapping's nonce, or NAT-PMP).
    pub fn delete(&mut self, mapping: PmpMapping) -> Result<Method, Error> {
        self.run(self.session.delete(mapping))
    }

    /// The gateway's external address.
    pub fn external_ip(&mut self) -> Result<PmpAddress, Error> {
        let nonce = pcp_natpmp::Nonce::random()?;
        self.run(self.session.external(nonce))
    }

    /// Keep ports open through this gateway until stopped (see [`crate::keeper`] and
    /// [`crate::keeper::pmp`]), on a thread of its own: like [`Upnp::keep`], the way this
    /// client speaks. The gateway's announcements are listened for where the platform lets
    /// us bind UDP 5350.
    ///
    /// ```no_run
    /// use upnp_igd::blocking::PmpClient;
    /// use upnp_igd::keeper::Keep;
    /// use upnp_igd::pmp::{Target, Way};
    ///
    /// let way = Way::Pcp { fallback: true };
    /// let client = PmpClient::probe(Target::Default, way, &upnp_igd::Limits::default())?;
    /// let keeper = client.keep(Keep::new().udp(7777))?;
    /// for event in keeper.events().iter().take(1) {
    ///     println!("{event}");
    /// }
    /// keeper.stop(); // removes the mapping
    /// # Ok::<(), upnp_igd::Error>(())
    /// ```
    pub fn keep(self, keep: Keep) -> Result<KeeperHandle, Error> {
        let seed = pcp_natpmp::Nonce::random()?;
        let machine =
            KeepMachine::of_pmp_client(keep, self.session, self.gateway, &self.limits, seed)?;
        let status = machine.status();
        KeeperHandle::spawn(machine, status, self.exec)
    }

    /// Run `sequence` to its end, every exchange by one deadline.
    fn run<S: PmpSequence>(&mut self, sequence: S) -> Result<S::Output, Error> {
        let machine = PmpRun::new(sequence, self.limits.call, Instant::now());
        run(&mut self.exec, machine)
    }
}

/// Keep ports open through PCP or NAT-PMP (`way`) at the gateway `target` names (a default
/// gateway is looked up again whenever the gateway is lost; an IPv6 one holds pinholes to
/// our global address, see [`Target`]), until stopped; see
/// [`PmpClient::keep`]. Unlike it, nothing is asked before the keeper's thread starts: a
/// gateway that does not answer is reported as [`KeeperEvent::Failed`] and tried again.
pub fn keep_pmp(
    keep: Keep,
    way: Way,
    target: Target,
    limits: &crate::Limits,
) -> Result<KeeperHandle, Error> {
    let machine = KeepMachine::new_pmp(keep, way, target, limits, pcp_natpmp::Nonce::random()?)?;
    let status = machine.status();
    let exec = Executor::new(Client::new(&upnp_soap::http::Config::default()));
    KeeperHandle::spawn(machine, status, exec)
}
