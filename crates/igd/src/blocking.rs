//! The blocking driver: Godot's `UPNP` and `UPNPDevice`, calls that block like Godot's.
//!
//! Everything that decides lives in the pure modules ([`crate::mapping`],
//! [`crate::device`], [`crate::discover`]); this module only moves their requests over the
//! network. It owns no runtime, so it works when called from inside one (a game or server that
//! already runs tokio), but each call blocks its thread until the call's deadline at most: in
//! async code prefer [`crate::tokio`], or `spawn_blocking`.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use upnp_soap::actions::PortMapping;
use upnp_soap::blocking::Client;
use upnp_soap::firewall::{
    CheckPinholeWorking, DeletePinhole, FirewallStatus, GetFirewallStatus, GetPinholePackets,
    UpdatePinhole,
};
use upnp_ssdp::net::Searcher;

use crate::device::{Device, Probe, ProbeStep};
use crate::discover::{DiscoverOptions, Discovery, DiscoveryStep, Goal, search_options};
use crate::error::Error;
use crate::facade::{self, Plan};
use crate::keeper::pmp::{PmpKeeper, PmpStep};
use crate::keeper::upnp::{Find, UpnpKeeper, UpnpStep};
use crate::keeper::{Event as KeeperEvent, Keep, MAX_EVENTS, Status};
use crate::limits::later;
use crate::mapping::{Granted, MappingRequest, Sequence};
use crate::pinhole::{self, Pinhole, PinholeRequest};
use crate::pmp::{
    self, Method, PmpAddress, PmpGranted, PmpMapping, PmpNext, PmpSequence, Session, Target, Via,
    Way,
};
use crate::route::{fill_our_addr, local_address_towards};

#[cfg(test)]
mod tests;

/// Godot's `UPNP`: discovery, the list of devices (Godot's methods: see
/// [`facade::Upnp`]), and the default gateway's port mappings.
pub type Upnp = facade::Upnp<Client>;

/// Godot's `UPNPDevice`: one device, its properties (through `Deref` to [`Device`]),
/// and the calls on it.
pub type UpnpDevice = facade::UpnpDevice<Client>;

impl Upnp {
    /// Godot's `discover`: clear the list, search for `options.timeout` ms and probe each
    /// answering device (while the search goes on, several at once). The number of devices
    /// found, or [`Error::NoDevices`]. Ends by `options.timeout` + [`Limits::probe`](crate::Limits::probe).
    pub fn discover(&mut self, options: &DiscoverOptions) -> Result<usize, Error> {
        self.clear_devices();
        let found = self.run_discovery(Goal::Every, options)?;
        self.set_devices(found);
        Ok(self.get_device_count())
    }

    /// Find one gateway quickly: probe each device as soon as it answers and stop at the
    /// first valid gateway with a public address; else, once the search and the probes are
    /// over, the best one found. Unlike [`Upnp::discover`], it does not wait out the timeout
    /// when a good gateway answers early. The devices probed become the device list.
    pub fn find_gateway(&mut self, options: &DiscoverOptions) -> Result<&UpnpDevice, Error> {
        self.clear_devices();
        let found = self.run_discovery(Goal::FirstPublic, options)?;
        self.set_devices(found);
        self.get_gateway()
    }

    /// The [`Discovery`] machine's loop: the search on a thread of its own, each probe on
    /// its own thread, their events through one channel.
    fn run_discovery(&self, goal: Goal, options: &DiscoverOptions) -> Result<Vec<Device>, Error> {
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
                .map_err(|source| upnp_ssdp::Error::Io {
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
        outcome
    }

    /// A device from a description URL the user gave (no discovery), probed within
    /// [`Limits::probe`](crate::Limits::probe).
    pub fn device_at(&self, description_url: &str) -> UpnpDevice {
        let client = self.client.until(later(Instant::now(), self.limits.probe));
        self.device(probe(
            &client,
            Probe::new(Device::new(description_url, ""), None),
        ))
    }

    /// Rebuild a gateway found before (`saved`: the [`Device`] of a probe, e.g. written and
    /// read back with feature `serde`) with one exchange instead of a search
    /// ([`Probe::revalidate`] says what is checked), within [`Limits::revalidate`](crate::Limits::revalidate).
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
        let deadline = later(Instant::now(), self.limits.revalidate);
        let device = probe(&self.client.until(deadline), Probe::revalidate(saved));
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
        let upnp = self.fresh();
        let status = machine.status();
        KeeperHandle::spawn(status, move |wake, _, events, shared| {
            keep_loop(upnp, machine, &wake, &events, &shared);
        })
    }
}

/// A keeper running on its own thread ([`Upnp::keep`], [`PmpClient::keep`], [`keep_pmp`]).
/// Stopping it, or dropping it, removes every mapping it made (only those, and only where
/// they still point at us) and waits for that: at most the call in flight
/// ([`Limits::call`](crate::Limits::call)) plus [`Keep::stop_within`].
#[derive(Debug)]
pub struct KeeperHandle {
    wake: Option<mpsc::SyncSender<Wake>>,
    events: mpsc::Receiver<KeeperEvent>,
    status: Arc<Mutex<Status>>,
    thread: Option<thread::JoinHandle<()>>,
}

/// What wakes a keeper's thread.
#[derive(Debug)]
enum Wake {
    /// The handle stops it.
    Stop,
    /// An announcement from the gateway (PCP, NAT-PMP).
    Heard(pcp_natpmp::Announcement),
}

/// Announcements waiting for the keeper's thread, at most; more are dropped.
const MAX_HEARD: usize = 8;

impl KeeperHandle {
    /// Run `keeper` on a thread of its own: it gets the wake channel (and a sender for
    /// announcements), the events' sender and the shared state.
    fn spawn(
        status: Status,
        keeper: impl FnOnce(
            mpsc::Receiver<Wake>,
            mpsc::SyncSender<Wake>,
            mpsc::SyncSender<KeeperEvent>,
            Arc<Mutex<Status>>,
        ) + Send
        + 'static,
    ) -> Result<KeeperHandle, Error> {
        let (wake, woken) = mpsc::sync_channel(MAX_HEARD);
        let (sender, events) = mpsc::sync_channel(MAX_EVENTS);
        let status = Arc::new(Mutex::new(status));
        let shared = Arc::clone(&status);
        let heard = wake.clone();
        let thread = thread::Builder::new()
            .name("igd-keeper".into())
            .spawn(move || keeper(woken, heard, sender, shared))
            .map_err(|source| upnp_ssdp::Error::Io {
                context: "start the keeper thread",
                source,
            })?;
        Ok(KeeperHandle {
            wake: Some(wake),
            events,
            status,
            thread: Some(thread),
        })
    }

    /// Every change, as it happens (at most [`MAX_EVENTS`] waiting: older ones unread past
    /// that are dropped; [`KeeperHandle::status`] is always current). The channel ends after
    /// [`KeeperEvent::Stopped`].
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
        if let Some(wake) = self.wake.take() {
            // Waits only while the thread has announcements to read (it reads them in turn);
            // an error means the thread is over already.
            let _ = wake.send(Wake::Stop);
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

/// What a keeper's thread waits for next: until `until`, the handle's stop, or an
/// announcement (`None`: the time came).
fn wait_for(woken: &mpsc::Receiver<Wake>, until: Instant) -> Option<Wake> {
    match woken.recv_timeout(until.saturating_duration_since(Instant::now())) {
        Ok(wake) => Some(wake),
        Err(mpsc::RecvTimeoutError::Timeout) => None,
        // The handle is gone without a word: stop.
        Err(mpsc::RecvTimeoutError::Disconnected) => Some(Wake::Stop),
    }
}

/// Whether the handle asked to stop since the last look (announcements read on the way are
/// handed to `heard`).
fn stop_asked(
    woken: &mpsc::Receiver<Wake>,
    mut heard: impl FnMut(pcp_natpmp::Announcement),
) -> bool {
    loop {
        match woken.try_recv() {
            Ok(Wake::Heard(announcement)) => heard(announcement),
            Ok(Wake::Stop) | Err(mpsc::TryRecvError::Disconnected) => return true,
            Err(mpsc::TryRecvError::Empty) => return false,
        }
    }
}

/// The keeper's thread: the machine's steps over the network until it is done. Stopping is
/// the handle's sender going away.
fn keep_loop(
    mut upnp: Upnp,
    mut machine: UpnpKeeper,
    woken: &mpsc::Receiver<Wake>,
    events: &mpsc::SyncSender<KeeperEvent>,
    status: &Mutex<Status>,
) {
    let mut stopping = false;
    loop {
        if !stopping && stop_asked(woken, |_| {}) {
            stopping = true;
            machine.stop(Instant::now());
        }
        match machine.poll(Instant::now()) {
            UpnpStep::Search(options) => {
                let found = upnp.find_gateway(&options).map(|d| d.device.clone());
                machine.found(found, Instant::now());
            }
            UpnpStep::Probe(url) => {
                let device = upnp.device_at(&url).device;
                machine.found(Ok(device), Instant::now());
            }
            UpnpStep::Route(url) => machine.routed(local_address_towards(&url), Instant::now()),
            UpnpStep::Call {
                url,
                request,
                deadline,
            } => {
                let answer = upnp.client.until(deadline).call(&url, &request);
                machine.answered(answer, Instant::now());
            }
            UpnpStep::Wait(until) if stopping => {
                thread::sleep(until.saturating_duration_since(Instant::now()));
            }
            UpnpStep::Wait(until) => {
                if let Some(Wake::Stop) = wait_for(woken, until) {
                    stopping = true;
                    machine.stop(Instant::now());
                }
            }
            UpnpStep::Done => break,
        }
        machine.publish(|e| drop(events.try_send(e)), status);
    }
    machine.publish(|e| drop(events.try_send(e)), status);
}

impl UpnpDevice {
    /// Godot's `query_external_address`, within [`Limits::call`](crate::Limits::call).
    pub fn query_external_address(&self) -> Result<IpAddr, Error> {
        self.run(self.external_address_plan())
    }

    /// Godot's `add_port_mapping`: validate, look at the port (another client's mapping is
    /// never replaced), add with fallbacks, read back what was granted.
    pub fn add_port_mapping(&self, request: &MappingRequest) -> Result<Granted, Error> {
        self.run(self.add_plan(request))
    }

    /// Godot's `delete_port_mapping` (only a mapping to us).
    pub fn delete_port_mapping(&self, port: i64, proto: &str) -> Result<(), Error> {
        self.run(self.delete_plan(port, proto))
    }

    /// Every mapping on the gateway (see [`crate::mapping::ListSequence`]), at most
    /// [`Limits::list_entries`](crate::Limits::list_entries), within [`Limits::list`](crate::Limits::list).
    pub fn list_port_mappings(&self) -> Result<Vec<PortMapping>, Error> {
        self.run(self.list_plan())
    }

    /// The gateway's IPv6 firewall: whether it is on, and whether pinholes may be opened.
    pub fn firewall_status(&self) -> Result<FirewallStatus, Error> {
        self.run(self.pinhole_plan(GetFirewallStatus))
    }

    /// Open an IPv6 pinhole (to our own global address unless the request names one):
    /// checked before anything is sent ([`PinholeRequest::action`]), within
    /// [`Limits::call`](crate::Limits::call).
    pub fn open_pinhole(&self, request: &PinholeRequest) -> Result<Pinhole, Error> {
        let add = self.pinhole_action(request)?;
        let unique_id = self.run(self.pinhole_plan(add.clone()))?;
        Ok(Pinhole::opened(&add, unique_id))
    }

    /// Give a pinhole its lease again (from now).
    pub fn renew_pinhole(&self, pinhole: &Pinhole) -> Result<(), Error> {
        let update = UpdatePinhole {
            unique_id: pinhole.unique_id,
            lease_time: pinhole::lease_time(pinhole.lease)?,
        };
        self.run(self.pinhole_plan(update))
    }

    /// Close a pinhole.
    pub fn close_pinhole(&self, unique_id: u16) -> Result<(), Error> {
        self.run(self.pinhole_plan(DeletePinhole { unique_id }))
    }

    /// How many packets a pinhole has let in.
    pub fn pinhole_packets(&self, unique_id: u16) -> Result<u32, Error> {
        self.run(self.pinhole_plan(GetPinholePackets { unique_id }))
    }

    /// Whether traffic has come through a pinhole.
    pub fn pinhole_working(&self, unique_id: u16) -> Result<bool, Error> {
        pinhole::working(self.run(self.pinhole_plan(CheckPinholeWorking { unique_id })))
    }

    /// Run a planned sequence to its end, within its time limit.
    fn run<S: Sequence>(&self, plan: Result<Plan<S>, Error>) -> Result<S::Output, Error> {
        let mut plan = plan?;
        let client = self.client.until(later(Instant::now(), plan.limit));
        while let Some(request) = plan.request() {
            plan.answer(client.call(&plan.url, &request));
        }
        plan.result()
    }
}

/// What the search and the probes tell the discovery loop.
enum Event {
    Answer(upnp_ssdp::search::Response),
    SearchEnded(Option<upnp_ssdp::Error>),
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

/// A gateway reached one way or another: what [`Upnp::find_way`] found.
pub type Found = pmp::Found<UpnpDevice, PmpClient>;

impl Upnp {
    /// Find a gateway the way `via` says: with [`Via::Auto`], a UPnP search and a PCP /
    /// NAT-PMP probe of `gateway` (the default gateway when `None`) at once, preferring UPnP,
    /// then PCP, then NAT-PMP ([`crate::pmp`] says why). Godot's methods keep UPnP only.
    pub fn find_way(
        &mut self,
        options: &DiscoverOptions,
        via: Via,
        gateway: Option<IpAddr>,
    ) -> Result<Found, Error> {
        let (limits, ipv6) = (self.limits.clone(), self.settings.discover_ipv6);
        let pmp = Way::of(via).map(|way| {
            let target = Target::named_or_default(gateway, ipv6);
            thread::spawn(move || PmpClient::probe(target, way, &limits))
        });
        let upnp = via.upnp().then(|| self.find_gateway(options).cloned());
        let pmp = pmp.map(|probe| {
            probe
                .join()
                .unwrap_or(Err(Error::InvalidParam("the PCP/NAT-PMP probe failed")))
        });
        pmp::prefer(upnp, pmp)
    }
}

/// A client of a gateway's PCP or NAT-PMP service (UDP 5351): map, unmap, and its external
/// address, each within [`Limits::call`](crate::Limits::call).
#[derive(Debug)]
pub struct PmpClient {
    client: pcp_natpmp::net::Client,
    session: Session,
    limits: crate::Limits,
}

impl PmpClient {
    /// A client of the gateway `target` names speaking `way`, not probed. An IPv6 gateway
    /// opens pinholes to our global address ([`Target`] says how).
    pub fn new(target: Target, way: Way, limits: &crate::Limits) -> Result<PmpClient, Error> {
        let client = open_pmp(target, way)?;
        Ok(PmpClient {
            session: Session::new(way, client.local_addr()),
            client,
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
    pub fn gateway(&self) -> std::net::SocketAddr {
        self.client.gateway()
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
        let gateway = self.client.gateway();
        let seed = pcp_natpmp::Nonce::random()?;
        let machine = PmpKeeper::of_client(keep, self.session, gateway, &self.limits, seed)?;
        spawn_pmp(machine, Some(self.client))
    }

    /// Run `sequence` to its end, every exchange by one deadline.
    fn run<S: PmpSequence>(&mut self, mut sequence: S) -> Result<S::Output, Error> {
        let deadline = later(Instant::now(), self.limits.call);
        let mut next = sequence.start();
        loop {
            let request = match next {
                PmpNext::Send(request) => request,
                PmpNext::Done(result) => return result,
            };
            let mut exchange = pcp_natpmp::Exchange::new(
                request,
                self.client.gateway(),
                Instant::now(),
                deadline,
            )?;
            next = sequence.handle(self.client.run(&mut exchange));
        }
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
    let machine = PmpKeeper::validated(keep, way, target, limits, pcp_natpmp::Nonce::random()?)?;
    spawn_pmp(machine, None)
}

fn spawn_pmp(
    machine: PmpKeeper,
    client: Option<pcp_natpmp::net::Client>,
) -> Result<KeeperHandle, Error> {
    let status = machine.status();
    KeeperHandle::spawn(status, move |woken, heard, events, shared| {
        pmp_keep_loop(client, machine, &woken, &heard, &events, &shared);
    })
}

/// The PCP/NAT-PMP keeper's thread: the machine's steps over UDP until it is done, and
/// what the gateway announces.
fn pmp_keep_loop(
    mut client: Option<pcp_natpmp::net::Client>,
    mut machine: PmpKeeper,
    woken: &mpsc::Receiver<Wake>,
    heard: &mpsc::SyncSender<Wake>,
    events: &mpsc::SyncSender<KeeperEvent>,
    status: &Mutex<Status>,
) {
    let mut stopping = false;
    let mut listening: Option<(IpAddr, Arc<AtomicBool>)> = None;
    loop {
        if !stopping && stop_asked(woken, |a| machine.announced(a, Instant::now())) {
            stopping = true;
            machine.stop(Instant::now());
        }
        let gateway = machine.gateway().map(|g| g.ip());
        if !stopping && gateway.is_some() && gateway != listening.as_ref().map(|l| l.0) {
            if let Some((_, on)) = listening.take() {
                on.store(false, Ordering::Relaxed);
            }
            listening = gateway.map(|gateway| (gateway, listen(gateway, heard.clone())));
        }
        match machine.poll(Instant::now()) {
            PmpStep::Open(target) => {
                machine.opened(reopen(&mut client, target, machine.way()), Instant::now());
            }
            PmpStep::Send { request, deadline } => {
                machine.answered(ask(client.as_mut(), request, deadline), Instant::now());
            }
            PmpStep::Wait(until) if stopping => {
                thread::sleep(until.saturating_duration_since(Instant::now()));
            }
            PmpStep::Wait(until) => match wait_for(woken, until) {
                Some(Wake::Stop) => {
                    stopping = true;
                    machine.stop(Instant::now());
                }
                Some(Wake::Heard(announcement)) => machine.announced(announcement, Instant::now()),
                None => {}
            },
            PmpStep::Done => break,
        }
        machine.publish(|e| drop(events.try_send(e)), status);
    }
    if let Some((_, on)) = listening {
        on.store(false, Ordering::Relaxed);
    }
    machine.publish(|e| drop(events.try_send(e)), status);
}

/// `request` through `client` until `deadline`: the gateway's answer.
fn ask(
    client: Option<&mut pcp_natpmp::net::Client>,
    request: pcp_natpmp::Request,
    deadline: Instant,
) -> Result<pcp_natpmp::Response, pcp_natpmp::Error> {
    let client = client.ok_or_else(crate::keeper::pmp::no_client)?;
    let now = Instant::now();
    client.run(&mut pcp_natpmp::Exchange::new(
        request,
        client.gateway(),
        now,
        deadline,
    )?)
}

/// A client to `target` in place of `client` (kept when none can be opened): our address
/// and port, and the gateway's.
fn reopen(
    client: &mut Option<pcp_natpmp::net::Client>,
    target: Target,
    way: Way,
) -> Result<(std::net::SocketAddr, std::net::SocketAddr), Error> {
    let opened = client.insert(open_pmp(target, way)?);
    Ok((opened.local_addr(), opened.gateway()))
}

/// A client to the gateway `target` names now.
fn open_pmp(target: Target, way: Way) -> Result<pcp_natpmp::net::Client, Error> {
    let (local, gateway) = crate::route::pmp_endpoints(target, way)?;
    Ok(pcp_natpmp::net::Client::connect_from(local, gateway)?)
}

/// How long the announcement thread listens before it looks whether it is still wanted.
const LISTEN_SLICE: Duration = Duration::from_millis(250);

/// Listen for `gateway`'s announcements on a thread of its own, handing them to the keeper's
/// thread, until the flag returned is cleared (or the keeper is gone). Where UDP 5350
/// cannot be bound, nothing is heard: the keeper still checks at every interval.
fn listen(gateway: IpAddr, heard: mpsc::SyncSender<Wake>) -> Arc<AtomicBool> {
    let on = Arc::new(AtomicBool::new(true));
    let Ok(mut listener) = pcp_natpmp::net::Listener::bind(gateway) else {
        return on;
    };
    let wanted = Arc::clone(&on);
    let _ = thread::Builder::new()
        .name("igd-announcements".into())
        .spawn(move || {
            while wanted.load(Ordering::Relaxed) {
                match listener.next_within(LISTEN_SLICE) {
                    Ok(Some(announcement)) => {
                        if let Err(mpsc::TrySendError::Disconnected(_)) =
                            heard.try_send(Wake::Heard(announcement))
                        {
                            return;
                        }
                    }
                    Ok(None) => {}
                    Err(_) => return,
                }
            }
        });
    on
}
