//! The async driver, for a tokio runtime (feature `tokio`): Godot's `UPNP` and `UPNPDevice`
//! with `async` calls.
//!
//! It runs the same pure logic as [`crate::blocking`] ([`crate::mapping`],
//! [`crate::device`], [`crate::discover`]); only the I/O differs: HTTP is `upnp_soap::tokio`'s
//! client on tokio sockets, SSDP is `upnp_ssdp::net::tokio::Searcher` on a tokio socket.

use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use upnp_soap::actions::PortMapping;
use upnp_soap::firewall::{
    CheckPinholeWorking, DeletePinhole, FirewallStatus, GetFirewallStatus, GetPinholePackets,
    UpdatePinhole,
};
use upnp_soap::tokio::Client;
use upnp_ssdp::net::tokio::Searcher;

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

/// Godot's `UPNP`, async: discovery, the list of devices (Godot's methods: see
/// [`facade::Upnp`]), and the default gateway's port mappings.
pub type Upnp = facade::Upnp<Client>;

/// Godot's `UPNPDevice`, async: one device, its properties (through `Deref` to [`Device`]),
/// and the calls on it.
pub type UpnpDevice = facade::UpnpDevice<Client>;

/// The handle of a keeper task ([`Upnp::keep`]). Awaiting [`KeeperHandle::stop`] takes as long
/// as removing what the keeper mapped (never anything else, nor a mapping that no longer
/// points at us): the call in flight ([`Limits::call`](crate::Limits::call)) plus
/// [`Keep::stop_within`], at most.
///
/// Dropping the handle stops the keeper too, but cannot wait: the task removes the mappings
/// in the background, as long as the runtime runs. A runtime shut down first leaves them to
/// the router, which drops them when their lease ends ([`Keep::lease`], 1 hour by default).
#[derive(Debug)]
pub struct KeeperHandle {
    stop: Option<oneshot::Sender<()>>,
    events: mpsc::Receiver<KeeperEvent>,
    status: Arc<Mutex<Status>>,
    task: Option<JoinHandle<()>>,
}

impl Upnp {
    /// Godot's `discover`: clear the list, search for `options.timeout` ms and probe each
    /// answering device (while the search goes on, several at once). The number of devices
    /// found, or [`Error::NoDevices`]. Ends by `options.timeout` + [`Limits::probe`](crate::Limits::probe).
    pub async fn discover(&mut self, options: &DiscoverOptions) -> Result<usize, Error> {
        self.clear_devices();
        let found = self.run_discovery(Goal::Every, options).await?;
        self.set_devices(found);
        Ok(self.get_device_count())
    }

    /// Find one gateway quickly; see [`crate::blocking::Upnp::find_gateway`].
    pub async fn find_gateway(&mut self, options: &DiscoverOptions) -> Result<&UpnpDevice, Error> {
        self.clear_devices();
        let found = self.run_discovery(Goal::FirstPublic, options).await?;
        self.set_devices(found);
        self.get_gateway()
    }

    /// The [`Discovery`] machine's loop: the search and every probe (each a task of a
    /// [`JoinSet`], aborted when the discovery is over) awaited together.
    async fn run_discovery(
        &self,
        goal: Goal,
        options: &DiscoverOptions,
    ) -> Result<Vec<Device>, Error> {
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
        outcome
    }

    /// A device from a description URL the user gave (no discovery), probed within
    /// [`Limits::probe`](crate::Limits::probe).
    pub async fn device_at(&self, description_url: &str) -> UpnpDevice {
        let client = self.client.until(later(Instant::now(), self.limits.probe));
        let device = probe(&client, Probe::new(Device::new(description_url, ""), None)).await;
        self.device(device)
    }

    /// Rebuild a gateway found before with one exchange instead of a search; see
    /// [`crate::blocking::Upnp::revalidate`].
    pub async fn revalidate(&mut self, saved: Device) -> Result<&UpnpDevice, Error> {
        let deadline = later(Instant::now(), self.limits.revalidate);
        let device = probe(&self.client.until(deadline), Probe::revalidate(saved)).await;
        self.revalidated(device)
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

    /// Keep ports open until stopped (see [`crate::keeper`]), in a task of the current
    /// runtime; like [`crate::blocking::Upnp::keep`]. Must be called within a tokio runtime
    /// ([`Error::InvalidParam`] otherwise).
    ///
    /// ```no_run
    /// # async fn keep() -> Result<(), upnp_igd::Error> {
    /// use upnp_igd::keeper::{Keep, upnp::Find};
    ///
    /// let mut keeper = upnp_igd::tokio::Upnp::new().keep(Keep::new().udp(7777), Find::default())?;
    /// while let Some(event) = keeper.next_event().await {
    ///     println!("{event}");
    /// #   break;
    /// }
    /// keeper.stop().await; // removes the mapping
    /// # Ok(())
    /// # }
    /// ```
    pub fn keep(&self, keep: Keep, find: Find) -> Result<KeeperHandle, Error> {
        let runtime = runtime()?;
        let machine = self.keeper(keep, find)?;
        let upnp = self.fresh();
        Ok(KeeperHandle::spawn(
            &runtime,
            machine.status(),
            |stopped, sender, status| keep_task(upnp, machine, stopped, sender, status),
        ))
    }
}

fn runtime() -> Result<tokio::runtime::Handle, Error> {
    tokio::runtime::Handle::try_current()
        .map_err(|_| Error::InvalidParam("the keeper needs a tokio runtime"))
}

impl KeeperHandle {
    /// Run the keeper `task` makes in a task of `runtime`.
    fn spawn<F>(
        runtime: &tokio::runtime::Handle,
        status: Status,
        task: impl FnOnce(oneshot::Receiver<()>, mpsc::Sender<KeeperEvent>, Arc<Mutex<Status>>) -> F,
    ) -> KeeperHandle
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel();
        let (sender, events) = mpsc::channel(MAX_EVENTS);
        let status = Arc::new(Mutex::new(status));
        let task = runtime.spawn(task(stopped, sender, Arc::clone(&status)));
        KeeperHandle {
            stop: Some(stop),
            events,
            status,
            task: Some(task),
        }
    }

    /// The next event, as it happens; `None` once the keeper is stopped (after
    /// [`KeeperEvent::Stopped`]). At most [`MAX_EVENTS`] wait unread; past that, new ones are
    /// dropped ([`KeeperHandle::status`] is always current).
    pub async fn next_event(&mut self) -> Option<KeeperEvent> {
        self.events.recv().await
    }

    /// The events, as a tokio channel (for `select!`).
    pub fn events(&mut self) -> &mut mpsc::Receiver<KeeperEvent> {
        &mut self.events
    }

    /// The state now: the gateway, the external address, each port and what holds it.
    pub fn status(&self) -> Status {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stop: remove the mappings made; the events not read yet.
    pub async fn stop(mut self) -> Vec<KeeperEvent> {
        drop(self.stop.take());
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        let mut rest = Vec::new();
        while let Ok(event) = self.events.try_recv() {
            rest.push(event);
        }
        rest
    }
}

/// The keeper's task: the machine's steps over the network until it is done. Stopping is
/// the handle's sender going away.
async fn keep_task(
    mut upnp: Upnp,
    mut machine: UpnpKeeper,
    mut stopped: oneshot::Receiver<()>,
    events: mpsc::Sender<KeeperEvent>,
    status: Arc<Mutex<Status>>,
) {
    let mut stopping = false;
    loop {
        if !stopping && !matches!(stopped.try_recv(), Err(oneshot::error::TryRecvError::Empty)) {
            stopping = true;
            machine.stop(Instant::now());
        }
        match machine.poll(Instant::now()) {
            UpnpStep::Call {
                url,
                request,
                deadline,
            } => {
                let answer = upnp.client.until(deadline).call(&url, &request).await;
                machine.answered(answer, Instant::now());
            }
            UpnpStep::Search(options) => {
                let found = upnp.find_gateway(&options).await.map(|d| d.device.clone());
                machine.found(found, Instant::now());
            }
            UpnpStep::Probe(url) => {
                let device = upnp.device_at(&url).await.device;
                machine.found(Ok(device), Instant::now());
            }
            UpnpStep::Route(url) => machine.routed(local_address_towards(&url), Instant::now()),
            UpnpStep::Wait(until) if stopping => tokio::time::sleep_until(until.into()).await,
            UpnpStep::Wait(until) => {
                tokio::select! {
                    () = tokio::time::sleep_until(until.into()) => {}
                    _ = &mut stopped => {
                        stopping = true;
                        machine.stop(Instant::now());
                    }
                }
            }
            UpnpStep::Done => break,
        }
        machine.publish(|e| drop(events.try_send(e)), &status);
    }
    machine.publish(|e| drop(events.try_send(e)), &status);
}

impl UpnpDevice {
    /// Godot's `query_external_address`, within [`Limits::call`](crate::Limits::call).
    pub async fn query_external_address(&self) -> Result<IpAddr, Error> {
        self.run(self.external_address_plan()).await
    }

    /// Godot's `add_port_mapping`: validate, look at the port (another client's mapping is
    /// never replaced), add with fallbacks, read back what was granted.
    pub async fn add_port_mapping(&self, request: &MappingRequest) -> Result<Granted, Error> {
        self.run(self.add_plan(request)).await
    }

    /// Godot's `delete_port_mapping` (only a mapping to us).
    pub async fn delete_port_mapping(&self, port: i64, proto: &str) -> Result<(), Error> {
        self.run(self.delete_plan(port, proto)).await
    }

    /// Every mapping on the gateway (see [`crate::mapping::ListSequence`]), at most
    /// [`Limits::list_entries`](crate::Limits::list_entries), within [`Limits::list`](crate::Limits::list).
    pub async fn list_port_mappings(&self) -> Result<Vec<PortMapping>, Error> {
        self.run(self.list_plan()).await
    }

    /// The gateway's IPv6 firewall: whether it is on, and whether pinholes may be opened.
    pub async fn firewall_status(&self) -> Result<FirewallStatus, Error> {
        self.run(self.pinhole_plan(GetFirewallStatus)).await
    }

    /// Open an IPv6 pinhole (to our own global address unless the request names one):
    /// checked before anything is sent ([`PinholeRequest::action`]), within
    /// [`Limits::call`](crate::Limits::call).
    pub async fn open_pinhole(&self, request: &PinholeRequest) -> Result<Pinhole, Error> {
        let add = self.pinhole_action(request)?;
        let unique_id = self.run(self.pinhole_plan(add.clone())).await?;
        Ok(Pinhole::opened(&add, unique_id))
    }

    /// Give a pinhole its lease again (from now).
    pub async fn renew_pinhole(&self, pinhole: &Pinhole) -> Result<(), Error> {
        let update = UpdatePinhole {
            unique_id: pinhole.unique_id,
            lease_time: pinhole::lease_time(pinhole.lease)?,
        };
        self.run(self.pinhole_plan(update)).await
    }

    /// Close a pinhole.
    pub async fn close_pinhole(&self, unique_id: u16) -> Result<(), Error> {
        self.run(self.pinhole_plan(DeletePinhole { unique_id }))
            .await
    }

    /// How many packets a pinhole has let in.
    pub async fn pinhole_packets(&self, unique_id: u16) -> Result<u32, Error> {
        self.run(self.pinhole_plan(GetPinholePackets { unique_id }))
            .await
    }

    /// Whether traffic has come through a pinhole.
    pub async fn pinhole_working(&self, unique_id: u16) -> Result<bool, Error> {
        pinhole::working(
            self.run(self.pinhole_plan(CheckPinholeWorking { unique_id }))
                .await,
        )
    }

    /// Run a planned sequence to its end, within its time limit.
    async fn run<S: Sequence>(&self, plan: Result<Plan<S>, Error>) -> Result<S::Output, Error> {
        let mut plan = plan?;
        let client = self.client.until(later(Instant::now(), plan.limit));
        while let Some(request) = plan.request() {
            plan.answer(client.call(&plan.url, &request).await);
        }
        plan.result()
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

/// A gateway reached one way or another: what [`Upnp::find_way`] found.
pub type Found = pmp::Found<UpnpDevice, PmpClient>;

impl Upnp {
    /// Find a gateway the way `via` says, every way at once (see the blocking
    /// [`crate::blocking::Upnp::find_way`]).
    pub async fn find_way(
        &mut self,
        options: &DiscoverOptions,
        via: Via,
        gateway: Option<IpAddr>,
    ) -> Result<Found, Error> {
        let limits = self.limits.clone();
        let target = Target::named_or_default(gateway, self.settings.discover_ipv6);
        let pmp = async {
            match Way::of(via) {
                Some(way) => Some(PmpClient::probe(target, way, &limits).await),
                None => None,
            }
        };
        let upnp = async {
            match via.upnp() {
                true => Some(self.find_gateway(options).await.cloned()),
                false => None,
            }
        };
        let (upnp, pmp) = tokio::join!(upnp, pmp);
        pmp::prefer(upnp, pmp)
    }
}

/// The async client of a gateway's PCP or NAT-PMP service (see the blocking
/// [`crate::blocking::PmpClient`]).
#[derive(Debug)]
pub struct PmpClient {
    client: pcp_natpmp::net::tokio::Client,
    session: Session,
    limits: crate::Limits,
}

impl PmpClient {
    /// A client of the gateway `target` names speaking `way`, not probed (needs a tokio
    /// runtime).
    pub fn new(target: Target, way: Way, limits: &crate::Limits) -> Result<PmpClient, Error> {
        let client = open_pmp(target, way)?;
        let session = Session::new(way, client.local_addr());
        Ok(PmpClient {
            client,
            session,
            limits: limits.clone(),
        })
    }

    /// A client that has asked the gateway which version it speaks.
    pub async fn probe(
        target: Target,
        way: Way,
        limits: &crate::Limits,
    ) -> Result<PmpClient, Error> {
        let mut client = PmpClient::new(target, way, limits)?;
        let method = client.run(client.session.probe()).await?;
        client.session.probed(method);
        Ok(client)
    }

    /// The way it speaks.
    pub fn method(&self) -> Method {
        self.session.method()
    }

    /// What it knows: the way and our address.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Map.
    pub async fn add(&mut self, mapping: PmpMapping) -> Result<PmpGranted, Error> {
        self.run(self.session.add(mapping)).await
    }

    /// Unmap.
    pub async fn delete(&mut self, mapping: PmpMapping) -> Result<Method, Error> {
        self.run(self.session.delete(mapping)).await
    }

    /// The gateway's external address.
    pub async fn external_ip(&mut self) -> Result<PmpAddress, Error> {
        let nonce = pcp_natpmp::Nonce::random()?;
        self.run(self.session.external(nonce)).await
    }

    /// Keep ports open through this gateway until stopped, in a task of the current runtime;
    /// like [`crate::blocking::PmpClient::keep`] (announcements heard where UDP 5350 can be
    /// bound). Must be called within a tokio runtime.
    pub fn keep(self, keep: Keep) -> Result<KeeperHandle, Error> {
        let runtime = runtime()?;
        let gateway = self.client.gateway();
        let seed = pcp_natpmp::Nonce::random()?;
        let machine = PmpKeeper::of_client(keep, self.session, gateway, &self.limits, seed)?;
        let client = Some(self.client);
        Ok(KeeperHandle::spawn(
            &runtime,
            machine.status(),
            |stopped, sender, status| pmp_keep_task(client, machine, stopped, sender, status),
        ))
    }

    async fn run<S: PmpSequence>(&mut self, mut sequence: S) -> Result<S::Output, Error> {
        let deadline = later(Instant::now(), self.limits.call);
        let mut next = sequence.start();
        loop {
            match next {
                PmpNext::Done(result) => return result,
                PmpNext::Send(request) => {
                    let gateway = self.client.gateway();
                    let mut exchange =
                        pcp_natpmp::Exchange::new(request, gateway, Instant::now(), deadline)?;
                    next = sequence.handle(self.client.run(&mut exchange).await);
                }
            }
        }
    }
}

/// Keep ports open through PCP or NAT-PMP, in a task of the current runtime; see
/// [`crate::blocking::keep_pmp`].
pub fn keep_pmp(
    keep: Keep,
    way: Way,
    target: Target,
    limits: &crate::Limits,
) -> Result<KeeperHandle, Error> {
    let runtime = runtime()?;
    let machine = PmpKeeper::validated(keep, way, target, limits, pcp_natpmp::Nonce::random()?)?;
    Ok(KeeperHandle::spawn(
        &runtime,
        machine.status(),
        |stopped, sender, status| pmp_keep_task(None, machine, stopped, sender, status),
    ))
}

/// The PCP/NAT-PMP keeper's task: the machine's steps over UDP until it is done, and what
/// the gateway announces.
async fn pmp_keep_task(
    mut client: Option<pcp_natpmp::net::tokio::Client>,
    mut machine: PmpKeeper,
    mut stopped: oneshot::Receiver<()>,
    events: mpsc::Sender<KeeperEvent>,
    status: Arc<Mutex<Status>>,
) {
    let mut stopping = false;
    let mut listener: Option<pcp_natpmp::net::tokio::Listener> = None;
    // The gateway a listener was last tried for: tried once per gateway, so that a socket
    // that fails is not bound again at every step.
    let mut tried: Option<IpAddr> = None;
    loop {
        if !stopping && !matches!(stopped.try_recv(), Err(oneshot::error::TryRecvError::Empty)) {
            stopping = true;
            machine.stop(Instant::now());
        }
        let gateway = machine.gateway().map(|g| g.ip());
        if gateway.is_some() && gateway != tried {
            // Where UDP 5350 cannot be bound, nothing is heard; the checks go on.
            tried = gateway;
            listener = gateway.and_then(|g| pcp_natpmp::net::tokio::Listener::bind(g).ok());
        }
        match machine.poll(Instant::now()) {
            PmpStep::Open(target) => {
                machine.opened(reopen(&mut client, target, machine.way()), Instant::now());
            }
            PmpStep::Send { request, deadline } => {
                let answer = ask(client.as_mut(), request, deadline).await;
                machine.answered(answer, Instant::now());
            }
            PmpStep::Wait(until) if stopping => tokio::time::sleep_until(until.into()).await,
            PmpStep::Wait(until) => {
                let wait = until.saturating_duration_since(Instant::now());
                tokio::select! {
                    () = tokio::time::sleep_until(until.into()) => {}
                    _ = &mut stopped => {
                        stopping = true;
                        machine.stop(Instant::now());
                    }
                    heard = hear(listener.as_mut(), wait) => match heard {
                        Ok(Some(announcement)) => machine.announced(announcement, Instant::now()),
                        Ok(None) => {}
                        Err(_) => listener = None,
                    },
                }
            }
            PmpStep::Done => break,
        }
        machine.publish(|e| drop(events.try_send(e)), &status);
    }
    machine.publish(|e| drop(events.try_send(e)), &status);
}

/// The next announcement within `wait`, or never without a listener.
async fn hear(
    listener: Option<&mut pcp_natpmp::net::tokio::Listener>,
    wait: std::time::Duration,
) -> Result<Option<pcp_natpmp::Announcement>, pcp_natpmp::Error> {
    match listener {
        Some(listener) => listener.next_within(wait).await,
        None => std::future::pending().await,
    }
}

/// `request` through `client` until `deadline`: the gateway's answer.
async fn ask(
    client: Option<&mut pcp_natpmp::net::tokio::Client>,
    request: pcp_natpmp::Request,
    deadline: Instant,
) -> Result<pcp_natpmp::Response, pcp_natpmp::Error> {
    let Some(client) = client else {
        return Err(crate::keeper::pmp::no_client());
    };
    let gateway = client.gateway();
    let mut exchange = pcp_natpmp::Exchange::new(request, gateway, Instant::now(), deadline)?;
    client.run(&mut exchange).await
}

/// A client to `target` in place of `client` (kept when none can be opened): our address
/// and port, and the gateway's.
fn reopen(
    client: &mut Option<pcp_natpmp::net::tokio::Client>,
    target: Target,
    way: Way,
) -> Result<(std::net::SocketAddr, std::net::SocketAddr), Error> {
    let opened = client.insert(open_pmp(target, way)?);
    Ok((opened.local_addr(), opened.gateway()))
}

/// A client to the gateway `target` names now.
fn open_pmp(target: Target, way: Way) -> Result<pcp_natpmp::net::tokio::Client, Error> {
    let (local, gateway) = crate::route::pmp_endpoints(target, way)?;
    Ok(pcp_natpmp::net::tokio::Client::connect_from(
        local, gateway,
    )?)
}
