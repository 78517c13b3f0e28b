//! The blocking executor: performs the I/O of [`crate::machine`] with the workspace's
//! blocking clients, and the one loop that drives every machine.
//!
//! A lone I/O runs inline, on the caller's thread (no thread for a simple call); several at
//! once (a discovery's probes beside its search) run on threads, at most [`MAX_THREADS`],
//! each started with `thread::Builder` (when none can be had, the I/O runs inline). Every
//! completion, answer, announcement and stop request arrives through one inbox.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use upnp_soap::blocking::Client;
use upnp_ssdp::net::Searcher;

use crate::error::Error;
use crate::keeper::pmp::no_client;
use crate::machine::{Completed, INBOX, Input, Io, Machine, Output, Token};
use crate::pmp::{Target, Way};
use crate::route;

/// Threads performing I/O for one loop at once, at most; past that, I/O runs inline.
const MAX_THREADS: usize = 16;

/// How often a search or listener thread looks whether its loop is over.
const SLICE: Duration = Duration::from_millis(50);

/// Where a loop's inputs arrive: its own I/O's completions and a caller's stop request.
pub(crate) struct Inbox {
    pub(crate) sender: mpsc::SyncSender<Input>,
    receiver: mpsc::Receiver<Input>,
}

impl Inbox {
    pub(crate) fn new() -> Inbox {
        let (sender, receiver) = mpsc::sync_channel(INBOX);
        Inbox { sender, receiver }
    }
}

/// A flag cleared when it is dropped: tells a loop's threads that it is over.
#[derive(Debug)]
struct Alive(Arc<AtomicBool>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

/// What a thread needs to perform an exchange: the HTTP client and the PCP/NAT-PMP client.
#[derive(Clone, Debug)]
struct Work {
    http: Client,
    pmp: Option<Arc<Mutex<pcp_natpmp::net::Client>>>,
}

impl Work {
    fn perform(&self, io: Io) -> Completed {
        match io {
            Io::Fetch { url, deadline } => {
                Completed::Fetched(self.http.until(deadline).get_description(&url))
            }
            Io::Call {
                url,
                request,
                deadline,
            } => Completed::Called(self.http.until(deadline).call(&url, &request)),
            Io::Route(to) => route::completed(&to),
            Io::Exchange { request, deadline } => {
                Completed::Exchanged(self.exchange(request, deadline))
            }
            Io::Stun {
                bind,
                server,
                request,
                from_any,
                deadline,
            } => Completed::Stunned(stun(bind, server, &request, from_any, deadline)),
            // The loop's own (a search, a client, a listener): never handed over.
            _ => Completed::Opened(Err(Error::Misuse("not an exchange"))),
        }
    }

    fn exchange(
        &self,
        request: pcp_natpmp::Request,
        deadline: Instant,
    ) -> Result<pcp_natpmp::Response, pcp_natpmp::Error> {
        let client = self.pmp.as_ref().ok_or_else(no_client)?;
        let mut client = client.lock().unwrap_or_else(PoisonError::into_inner);
        let gateway = client.gateway();
        let mut exchange = pcp_natpmp::Exchange::new(request, gateway, Instant::now(), deadline)?;
        client.run(&mut exchange)
    }
}

/// Performs machines' I/O with blocking sockets; keeps the PCP/NAT-PMP client opened last
/// and the listener of announcements between runs.
#[derive(Debug)]
pub(crate) struct Executor {
    work: Work,
    listening: Option<Alive>,
    notified: Option<Alive>,
}

impl Executor {
    pub(crate) fn new(http: Client) -> Executor {
        Executor {
            work: Work { http, pmp: None },
            listening: None,
            notified: None,
        }
    }

    /// Open a PCP/NAT-PMP client (in place of the one before): our address and the gateway's.
    pub(crate) fn open_pmp(
        &mut self,
        target: Target,
        way: Way,
    ) -> Result<(SocketAddr, SocketAddr), Error> {
        let (local, gateway) = route::pmp_endpoints(target, way)?;
        let client = pcp_natpmp::net::Client::connect_from(local, gateway)?;
        let opened = (client.local_addr(), client.gateway());
        self.work.pmp = Some(Arc::new(Mutex::new(client)));
        Ok(opened)
    }

    /// Drive `machine` to its end; its events go to `deliver`.
    pub(crate) fn run<M: Machine>(
        &mut self,
        machine: &mut M,
        inbox: Inbox,
        mut deliver: impl FnMut(M::Event),
    ) -> Result<M::Value, Error> {
        let alive = Alive(Arc::new(AtomicBool::new(true)));
        let mut starts: Vec<(Token, Io)> = Vec::new();
        let mut threads = 0usize;
        loop {
            let until = match machine.poll(Instant::now()) {
                Output::Start(token, io) => {
                    starts.push((token, io));
                    continue;
                }
                Output::Event(event) => {
                    deliver(event);
                    continue;
                }
                Output::Done(value) => {
                    (self.listening, self.notified) = (None, None);
                    return value;
                }
                Output::Wait(until) => until,
            };
            let lone = starts.len() == 1 && threads == 0;
            let mut answered = false;
            for (token, io) in starts.drain(..) {
                let done = match io {
                    Io::OpenPmp { target, way } => Completed::Opened(self.open_pmp(target, way)),
                    Io::Search(options) => match search(token, &options, &inbox.sender, &alive) {
                        Ok(()) => {
                            threads += 1;
                            continue;
                        }
                        Err(e) => Completed::Searched(Err(e)),
                    },
                    Io::Listen(gateway) => {
                        self.listening = None;
                        match announcements(token, gateway, &inbox.sender) {
                            Ok(alive) => {
                                self.listening = Some(alive);
                                continue;
                            }
                            Err(e) => Completed::Deaf(e),
                        }
                    }
                    Io::Notifications { gateway, interface } => {
                        self.notified = None;
                        match notifications(token, gateway, interface, &inbox.sender) {
                            Ok(alive) => {
                                self.notified = Some(alive);
                                continue;
                            }
                            Err(e) => Completed::Deaf(e),
                        }
                    }
                    Io::Route(to) if route::is_immediate(&to) => route::completed(&to),
                    io if lone || threads >= MAX_THREADS => self.work.perform(io),
                    io if spawn(&self.work, token, io.clone(), &inbox.sender) => {
                        threads += 1;
                        continue;
                    }
                    // No thread to spare: here, still within the I/O's deadline.
                    io => self.work.perform(io),
                };
                machine.handle(Input::Completed(token, done), Instant::now());
                answered = true;
            }
            if answered {
                continue;
            }
            let wait = until.saturating_duration_since(Instant::now());
            if let Ok(input) = inbox.receiver.recv_timeout(wait) {
                // A listener's end is no thread's: listeners are not counted.
                if matches!(&input, Input::Completed(_, done) if !matches!(done, Completed::Deaf(_)))
                {
                    threads = threads.saturating_sub(1);
                }
                machine.handle(input, Instant::now());
            }
        }
    }
}

/// `io` on a thread of its own, its completion to `inbox`; `false` when no thread can be had.
fn spawn(work: &Work, token: Token, io: Io, inbox: &mpsc::SyncSender<Input>) -> bool {
    let (work, inbox) = (work.clone(), inbox.clone());
    let io_thread = move || drop(inbox.send(Input::Completed(token, work.perform(io))));
    thread::Builder::new()
        .name("igd-io".into())
        .spawn(io_thread)
        .is_ok()
}

/// The search on a thread of its own: each answer to `inbox`, then its end.
fn search(
    token: Token,
    options: &upnp_ssdp::SearchOptions,
    inbox: &mpsc::SyncSender<Input>,
    alive: &Alive,
) -> Result<(), upnp_ssdp::Error> {
    let mut searcher = Searcher::start(options)?;
    let (inbox, alive) = (inbox.clone(), Arc::clone(&alive.0));
    thread::Builder::new()
        .name("upnp-search".into())
        .spawn(move || {
            while alive.load(Ordering::Relaxed) {
                let input = match searcher.next_within(SLICE) {
                    None => Input::Completed(token, Completed::Searched(Ok(()))),
                    Some(Ok(None)) => continue,
                    Some(Ok(Some(answer))) => Input::Answer(token, answer),
                    Some(Err(e)) => Input::Completed(token, Completed::Searched(Err(e))),
                };
                let last = matches!(input, Input::Completed(..));
                if inbox.send(input).is_err() || last {
                    return;
                }
            }
        })
        .map(drop)
        .map_err(|source| upnp_ssdp::Error::Io {
            context: "start the search thread",
            source,
        })
}

/// One STUN transaction ([`Io::Stun`]) on a blocking socket.
fn stun(
    bind: SocketAddr,
    server: SocketAddr,
    request: &[u8],
    from_any: bool,
    deadline: Instant,
) -> std::io::Result<(SocketAddr, Vec<u8>)> {
    let socket = std::net::UdpSocket::bind(bind)?;
    let mut buf = vec![0; crate::reach::MAX_ANSWER + 1];
    let mut sent = 0;
    let mut resend = Instant::now();
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        if now >= resend {
            socket.send_to(request, server)?;
            sent += 1;
            resend = now + crate::reach::resend_after(sent);
        }
        let wait = resend.min(deadline).saturating_duration_since(now);
        socket.set_read_timeout(Some(wait.max(std::time::Duration::from_millis(1))))?;
        match socket.recv_from(&mut buf) {
            Ok((len, from)) if from_any || from.ip() == server.ip() => {
                return Ok((from, buf.get(..len).unwrap_or_default().to_vec()));
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                        | std::io::ErrorKind::ConnectionRefused
                ) => {}
            Err(e) => return Err(e),
        }
    }
}

/// `gateway`'s PCP/NAT-PMP announcements (UDP 5350), while the flag returned lives.
fn announcements(
    token: Token,
    gateway: IpAddr,
    inbox: &mpsc::SyncSender<Input>,
) -> Result<Alive, Error> {
    let mut heard = pcp_natpmp::net::Listener::bind(gateway)?;
    listen(
        token,
        move || Ok::<_, pcp_natpmp::Error>(heard.next_within(SLICE * 5)?.map(Input::Heard)),
        inbox,
    )
}

/// What `gateway` sends to the SSDP group, heard on the interface holding `interface`,
/// while the flag returned lives.
fn notifications(
    token: Token,
    gateway: IpAddr,
    interface: IpAddr,
    inbox: &mpsc::SyncSender<Input>,
) -> Result<Alive, Error> {
    let mut heard = upnp_ssdp::net::Listener::open(interface)?.only_from(gateway);
    let next = move || {
        Ok::<_, upnp_ssdp::Error>(
            heard
                .recv_within(SLICE * 5)?
                .map(|(f, d)| Input::notified(f, d)),
        )
    };
    listen(token, next, inbox)
}

/// Hand what `next` hears (an announcement, a notification) to `inbox` on a thread of its
/// own until the flag returned is dropped or `next` fails (then [`Completed::Deaf`] with
/// `token`).
fn listen<E: Into<Error>>(
    token: Token,
    mut next: impl FnMut() -> Result<Option<Input>, E> + Send + 'static,
    inbox: &mpsc::SyncSender<Input>,
) -> Result<Alive, Error> {
    let alive = Arc::new(AtomicBool::new(true));
    let (on, inbox) = (Arc::clone(&alive), inbox.clone());
    thread::Builder::new()
        .name("igd-listener".into())
        .spawn(move || {
            while on.load(Ordering::Relaxed) {
                match next() {
                    Ok(Some(heard)) => {
                        if let Err(mpsc::TrySendError::Disconnected(_)) = inbox.try_send(heard) {
                            return;
                        }
                    }
                    Ok(None) => {}
                    Err(e) => {
                        let deaf = Input::Completed(token, Completed::Deaf(e.into()));
                        let _ = inbox.try_send(deaf);
                        return;
                    }
                }
            }
        })
        .map_err(Error::Thread)?;
    Ok(Alive(alive))
}
