//! Helpers of the lab suite: end-to-end tests against miniupnpd, run by `cargo xtask test`
//! on the LAN host of the lab that `cargo xtask lab up` makes.
//!
//! Every test starts with [`Lab::get`], which reads the lab's facts from the environment and
//! fails the test unless the process really is inside the lab's LAN namespace: the suite's
//! multicast must never reach the machine's own network.

pub mod hostile;
pub mod quirky;

use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, Ipv6Addr, TcpListener, UdpSocket};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The lab, as `cargo xtask lab` describes it in `IGD_LAB_*` variables.
#[derive(Clone, Debug)]
pub struct Lab {
    /// The namespace prefix.
    pub prefix: String,
    /// The LAN host's interface (`lan0`).
    pub lan_if: String,
    /// The router's namespace.
    pub rtr_ns: String,
    /// The router's LAN interface (`rlan0`).
    pub router_lan_if: String,
    /// The LAN host's address.
    pub host_addr: Ipv4Addr,
    /// The LAN host's IPv6 address (global unicast: IPv6 is routed, not translated).
    pub host_addr6: Ipv6Addr,
    /// The router's LAN address.
    pub router_addr: Ipv4Addr,
    /// The router's IPv6 LAN address.
    pub router_addr6: Ipv6Addr,
    /// The router's WAN (external) address.
    pub wan_addr: Ipv4Addr,
    /// The ISP host's address, on the WAN side.
    pub isp_addr: Ipv4Addr,
    /// Its second address (the STUN server answers a change request from it).
    pub isp_addr2: Ipv4Addr,
    /// The STUN server's port on the ISP host (coturn).
    pub stun_port: u16,
    /// The router's IPv6 WAN address.
    pub wan_addr6: Ipv6Addr,
    /// The ISP host's IPv6 address.
    pub isp_addr6: Ipv6Addr,
    /// miniupnpd's HTTP port.
    pub http_port: u16,
    /// The router's device UUID.
    pub uuid: String,
    /// 1 or 2: the IGD version miniupnpd serves.
    pub igd_version: u32,
    /// Behind a second NAT (`cargo xtask lab up --double-nat`): our router's WAN address is
    /// private ([`Lab::inner_wan_addr`]) behind a plain NAT whose WAN is [`Lab::wan_addr`].
    pub double_nat: bool,
    /// Our router's WAN address behind the ISP box (double NAT only).
    pub inner_wan_addr: Ipv4Addr,
    /// The ISP box's namespace (double NAT only).
    pub box_ns: String,
    /// The ISP box's LAN address: the router in front of ours (double NAT only).
    pub box_addr: Ipv4Addr,
}

fn var(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) => v,
        Err(_) => panic!(
            "{name} is not set: the lab suite runs on the lab's LAN host, via `cargo xtask test`"
        ),
    }
}

fn parsed<T: std::str::FromStr>(name: &str) -> T {
    let v = var(name);
    v.parse()
        .unwrap_or_else(|_| panic!("{name}={v:?} does not parse"))
}

impl Lab {
    /// The lab's facts. Panics (failing the test, never skipping it) unless this process
    /// runs inside the lab's LAN namespace.
    pub fn get() -> Lab {
        let lan_ns = var("IGD_LAB_LAN_NS");
        let ours = std::fs::metadata("/proc/self/ns/net").expect("read /proc/self/ns/net");
        let lab = std::fs::metadata(format!("/run/netns/{lan_ns}"))
            .unwrap_or_else(|e| panic!("namespace {lan_ns}: {e}; is the lab up?"));
        assert!(
            ours.ino() == lab.ino() && ours.dev() == lab.dev(),
            "refusing to run: this process is not in network namespace {lan_ns}"
        );
        Lab {
            prefix: var("IGD_LAB_PREFIX"),
            lan_if: var("IGD_LAB_LAN_IF"),
            rtr_ns: var("IGD_LAB_RTR_NS"),
            router_lan_if: var("IGD_LAB_ROUTER_LAN_IF"),
            host_addr: parsed("IGD_LAB_HOST_ADDR"),
            host_addr6: parsed("IGD_LAB_HOST_ADDR6"),
            router_addr: parsed("IGD_LAB_ROUTER_ADDR"),
            router_addr6: parsed("IGD_LAB_ROUTER_ADDR6"),
            wan_addr: parsed("IGD_LAB_WAN_ADDR"),
            isp_addr: parsed("IGD_LAB_ISP_ADDR"),
            isp_addr2: parsed("IGD_LAB_ISP_ADDR2"),
            stun_port: parsed("IGD_LAB_STUN_PORT"),
            wan_addr6: parsed("IGD_LAB_WAN_ADDR6"),
            isp_addr6: parsed("IGD_LAB_ISP_ADDR6"),
            http_port: parsed("IGD_LAB_HTTP_PORT"),
            uuid: var("IGD_LAB_UUID"),
            igd_version: var("IGD_LAB_IGD_VERSION")
                .trim_start_matches('v')
                .parse()
                .expect("IGD_LAB_IGD_VERSION is v1 or v2"),
            double_nat: var("IGD_LAB_TOPOLOGY") == "double-nat",
            inner_wan_addr: parsed("IGD_LAB_INNER_WAN_ADDR"),
            box_ns: var("IGD_LAB_BOX_NS"),
            box_addr: parsed("IGD_LAB_BOX_ADDR"),
        }
    }

    /// Run a shell command on the ISP host (the Internet side of the router).
    pub fn on_isp(&self, script: &str) -> bool {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &format!("{}-isp", self.prefix),
                "bash",
                "-c",
                script,
            ])
            .stderr(std::process::Stdio::null())
            .status()
            .expect("run ip netns exec")
            .success()
    }

    /// Whether a UDP datagram sent from the ISP host to the router's WAN address and `port`
    /// arrives at `socket` on the LAN host.
    pub fn udp_arrives(&self, socket: &UdpSocket, port: u16, payload: &str) -> bool {
        self.udp_arrives_at(socket, self.wan_addr, port, payload)
    }

    /// Whether a UDP datagram sent from the ISP host to `addr`:`port` arrives at `socket`.
    pub fn udp_arrives_at(
        &self,
        socket: &UdpSocket,
        addr: impl Into<std::net::IpAddr>,
        port: u16,
        payload: &str,
    ) -> bool {
        let addr = addr.into();
        socket
            .set_read_timeout(Some(Duration::from_millis(700)))
            .unwrap();
        for _ in 0..3 {
            self.on_isp(&format!("printf '{payload}' > /dev/udp/{addr}/{port}"));
            let mut buf = [0u8; 64];
            if let Ok((n, _)) = socket.recv_from(&mut buf) {
                if &buf[..n] == payload.as_bytes() {
                    return true;
                }
            }
        }
        false
    }

    /// Whether a TCP connection from the ISP host to the router's WAN address reaches
    /// `listener`.
    pub fn tcp_arrives(&self, listener: &TcpListener, port: u16, payload: &str) -> bool {
        self.tcp_arrives_at(listener, self.wan_addr, port, payload)
    }

    /// Whether a TCP connection from the ISP host to `addr`:`port` reaches `listener`.
    pub fn tcp_arrives_at(
        &self,
        listener: &TcpListener,
        addr: impl Into<std::net::IpAddr>,
        port: u16,
        payload: &str,
    ) -> bool {
        let addr = addr.into();
        listener.set_nonblocking(false).unwrap();
        let sent = self.on_isp(&format!(
            "timeout 3 bash -c 'exec 3<>/dev/tcp/{addr}/{port}; printf {payload} >&3'"
        ));
        if !sent {
            return false;
        }
        listener.set_nonblocking(true).unwrap();
        match listener.accept() {
            Ok((mut stream, _)) => {
                stream.set_nonblocking(false).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(2)))
                    .unwrap();
                let mut got = String::new();
                let _ = stream.read_to_string(&mut got);
                got == payload
            }
            Err(_) => false,
        }
    }

    /// The router's nftables ruleset.
    pub fn nft_rules(&self) -> String {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &format!("{}-rtr", self.prefix),
                "nft",
                "list",
                "ruleset",
            ])
            .output()
            .expect("nft list ruleset");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run `ip` in the router's namespace; whether it succeeded.
    fn ip_on_router(&self, args: &[&str]) -> bool {
        Command::new("ip")
            .args(["-n", &self.rtr_ns])
            .args(args)
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Restart the router as a reboot does: miniupnpd stops, its mappings and their rules
    /// are forgotten, and it starts again with the same configuration. Returns once it
    /// listens again.
    pub fn restart_router(&self) {
        self.restart_router_with("miniupnpd.conf");
    }

    /// Restart the router as [`Lab::restart_router`] does, after `pause` with no router at
    /// all (a reboot that takes a while).
    pub fn restart_router_after(&self, pause: Duration) {
        self.restart_router_paused("miniupnpd.conf", pause);
    }

    /// Until the guard is dropped, the router drops the first two of every three TCP SYNs
    /// that reach its HTTP port from the LAN (an nftables table of its own, `numgen inc`:
    /// deterministic, unlike random loss). [`SynLoss::dropped`] counts what it dropped.
    pub fn drop_two_syns_in_three(&self) -> SynLoss {
        self.router_drops(
            "igdsyn",
            &format!(
                "tcp dport {} tcp flags & (syn | ack) == syn numgen inc mod 3 != 2",
                self.http_port
            ),
        )
    }

    /// Until the guard is dropped, the router ignores multicast M-SEARCHes from the LAN
    /// (as miniupnpd on FreeBSD, miniupnp#802): only one sent to it by unicast is answered.
    /// [`SynLoss::dropped`] counts what it dropped.
    pub fn deaf_to_multicast(&self) -> SynLoss {
        self.router_drops("igdmcast", "ip daddr 239.255.255.250 udp dport 1900")
    }

    /// The same over IPv6: the router ignores M-SEARCHes sent to its IPv6 address.
    pub fn deaf_to_unicast6(&self) -> SynLoss {
        self.router_drops(
            "igducast6",
            &format!("ip6 daddr {} udp dport 1900", self.router_addr6),
        )
    }

    /// The same over IPv6: the router ignores M-SEARCHes to the IPv6 SSDP groups.
    pub fn deaf_to_multicast6(&self) -> SynLoss {
        self.router_drops(
            "igdmcast6",
            "ip6 daddr { ff02::c, ff05::c, ff0e::c } udp dport 1900",
        )
    }

    /// Until the guard is dropped, the router ignores M-SEARCHes sent to it by unicast: only
    /// the multicast ones reach it.
    pub fn deaf_to_unicast(&self) -> SynLoss {
        self.router_drops(
            "igducast",
            &format!("ip daddr {} udp dport 1900", self.router_addr),
        )
    }

    /// Until the guard is dropped, the LAN host has a second interface (one end of a veth
    /// pair whose other end is also on the LAN host, 10.99.0.1/24) that the system's
    /// multicast routes pick (239.0.0.0/8 and ff00::/8 go out of it), as a VPN, Docker or
    /// Hyper-V adapter does: a search out of the default interface alone never reaches the router.
    /// Run on the LAN host (the lab suite is); nothing leaves its namespace.
    pub fn multicast_route_elsewhere(&self) -> MulticastElsewhere {
        let guard = MulticastElsewhere;
        guard.remove();
        for args in [
            &[
                "link", "add", "igdmc0", "type", "veth", "peer", "name", "igdmc1",
            ][..],
            &["addr", "add", "10.99.0.1/24", "dev", "igdmc0"],
            &["link", "set", "igdmc1", "up"],
            &["link", "set", "igdmc0", "multicast", "on", "up"],
            &["route", "add", "239.0.0.0/8", "dev", "igdmc0"],
            &[
                "-6",
                "route",
                "add",
                "multicast",
                "ff00::/8",
                "dev",
                "igdmc0",
                "table",
                "local",
                "metric",
                "1",
            ],
        ] {
            let ok = Command::new("ip").args(args).status().expect("ip");
            assert!(ok.success(), "ip {args:?}");
        }
        guard
    }

    /// Until the guard is dropped, the router answers no mapping protocol: every SSDP and
    /// PCP/NAT-PMP datagram from the LAN is dropped (a network without UPnP, PCP or NAT-PMP).
    pub fn silent_router(&self) -> SynLoss {
        self.router_drops("igdsilent", "udp dport { 1900, 5351 }")
    }

    /// An nftables table `table` in the router that drops what `matches` from the LAN, and
    /// counts it, until the guard is dropped.
    fn router_drops(&self, table: &str, matches: &str) -> SynLoss {
        self.router_rule(table, false, matches, "drop")
    }

    /// Until the guard is dropped, the router counts the connections to its HTTP port it
    /// refuses (the resets it sends to the LAN while nothing listens there: every attempt
    /// made while the router is gone). [`SynLoss::dropped`] is the count.
    pub fn count_refused(&self) -> SynLoss {
        let resets = format!("tcp sport {} tcp flags & rst == rst", self.http_port);
        self.router_rule("igdrefused", true, &resets, "accept")
    }

    /// Until the guard is dropped, the router counts the connections made to its HTTP port
    /// from the LAN: one per exchange (SOAP call or description fetch).
    pub fn count_connections(&self) -> SynLoss {
        let syns = format!(
            "tcp dport {} tcp flags & (syn | ack) == syn",
            self.http_port
        );
        self.router_rule("igdconnections", false, &syns, "accept")
    }

    /// Until the guard is dropped, the router counts the SSDP datagrams it gets from the LAN
    /// (M-SEARCHes, multicast or unicast).
    pub fn count_searches(&self) -> SynLoss {
        self.router_rule("igdsearches", false, "udp dport 1900", "accept")
    }

    /// Until the guard is dropped, nothing the router multicasts to the SSDP group reaches
    /// the LAN (its NOTIFYs: a router that never announces itself); search answers, sent by
    /// unicast, still do. [`SynLoss::dropped`] counts what was dropped.
    pub fn notifications_blocked(&self) -> SynLoss {
        self.router_rule(
            "igdnonotify",
            true,
            "ip daddr 239.255.255.250 udp dport 1900",
            "drop",
        )
    }

    /// Multicast `datagram` to the SSDP group `count` times, `interval` apart, `{n}` in it
    /// replaced by 1, 2, ...: from the router's own LAN address (run in its namespace) when
    /// `from_router`, else from the LAN host's. `sender` is the `lab-notify` program.
    pub fn notify(
        &self,
        sender: &str,
        from_router: bool,
        datagram: &str,
        count: u32,
        interval: Duration,
    ) {
        let (count, interval) = (count.to_string(), interval.as_millis().to_string());
        let mut command = match from_router {
            true => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", &self.rtr_ns, sender]);
                c.arg(self.router_addr.to_string());
                c
            }
            false => {
                let mut c = Command::new(sender);
                c.arg(self.host_addr.to_string());
                c
            }
        };
        let mut child = command
            .args([&count, &interval])
            .stdin(Stdio::piped())
            .spawn()
            .expect("lab-notify");
        std::io::Write::write_all(
            &mut child.stdin.take().expect("lab-notify's stdin"),
            datagram.as_bytes(),
        )
        .expect("write the datagram");
        assert!(child.wait().expect("lab-notify").success(), "lab-notify");
    }

    /// An SSDP NOTIFY of the router's root device (`nts`: `ssdp:alive` or `ssdp:byebye`),
    /// as miniupnpd sends it, with boot id `boot` (`{n}` for [`Lab::notify`] to number).
    pub fn router_notify(&self, nts: &str, boot: &str) -> String {
        format!(
            "NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nCACHE-CONTROL: max-age=120\r\n\
             LOCATION: {location}\r\nNT: upnp:rootdevice\r\nNTS: {nts}\r\n\
             SERVER: Debian/12 UPnP/1.1 MiniUPnPd/2.3\r\nUSN: uuid:{uuid}::upnp:rootdevice\r\n\
             BOOTID.UPNP.ORG: {boot}\r\nCONFIGID.UPNP.ORG: 1337\r\n\r\n",
            location = self.description_url(),
            uuid = self.uuid,
        )
    }

    /// An nftables table `table` in the router that counts what `matches` from the LAN (to
    /// the LAN when `outgoing`) and gives it `verdict`, until the guard is dropped.
    fn router_rule(&self, table: &str, outgoing: bool, matches: &str, verdict: &str) -> SynLoss {
        // What the router sends (resets) is seen on the way out; the rest on the way in.
        let (hook, dir) = match outgoing {
            true => ("output", "oifname"),
            false => ("input", "iifname"),
        };
        self.router_rule_at(table, hook, dir, matches, verdict)
    }

    /// Until the guard is dropped, the router counts the datagrams from the LAN it forwards
    /// that look for a router in front of it: M-SEARCHes (1900), PCP/NAT-PMP (5351) and
    /// TTL-limited probes (33434).
    pub fn count_forwarded_probes(&self) -> SynLoss {
        let probes = "udp dport { 1900, 5351, 33434 }";
        self.router_rule_at("igdfwdprobe", "forward", "iifname", probes, "accept")
    }

    /// [`Lab::router_rule`] at an nftables `hook`, matching the LAN interface as `dir`.
    fn router_rule_at(
        &self,
        table: &str,
        hook: &str,
        dir: &str,
        matches: &str,
        verdict: &str,
    ) -> SynLoss {
        let rules = format!(
            "table inet {table} {{
  chain in {{
    type filter hook {hook} priority -300;
    {dir} \"{lan}\" {matches} counter {verdict}
  }}
}}",
            lan = self.router_lan_if,
        );
        let guard = SynLoss {
            ns: self.rtr_ns.clone(),
            table: table.to_owned(),
        };
        guard.delete();
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.rtr_ns, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("nft");
        std::io::Write::write_all(
            &mut child.stdin.take().expect("nft's stdin"),
            rules.as_bytes(),
        )
        .expect("write the rules");
        assert!(
            child.wait().expect("nft").success(),
            "the {table} rules load"
        );
        guard
    }

    /// Restart the router serving HTTP on the next port (`http_port + 1`: its LOCATION
    /// changes); it comes back on its own port when the guard is dropped. Returns once it
    /// listens again.
    pub fn router_moved(&self) -> RouterMoved<'_> {
        self.restart_router_with("miniupnpd-moved.conf");
        RouterMoved { lab: self }
    }

    /// Restart the router with UPnP off (NAT-PMP and PCP only, on UDP 5351); it comes back
    /// with UPnP when the guard is dropped.
    pub fn without_upnp(&self) -> UpnpOff<'_> {
        self.restart_router_with("miniupnpd-noupnp.conf");
        UpnpOff { lab: self }
    }

    fn restart_router_with(&self, conf: &str) {
        self.restart_router_paused(conf, Duration::ZERO);
    }

    fn restart_router_paused(&self, conf: &str, pause: Duration) {
        self.restart_miniupnpd(&self.rtr_ns, "", conf, pause, true);
    }

    /// Stop the miniupnpd of `ns` (its files named with `prefix`: "" for our router,
    /// "box-" for the ISP box), flush its chains, and, when `start`, start it again with
    /// `conf` after `pause`; returns once it listens.
    fn restart_miniupnpd(&self, ns: &str, prefix: &str, conf: &str, pause: Duration, start: bool) {
        let state = PathBuf::from(var("IGD_LAB_STATE_DIR"));
        let pid_file = state.join(format!("{prefix}miniupnpd.pid"));
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
        {
            let _ = Command::new("kill").arg(pid.to_string()).status();
            // Gone, or a zombie its parent has not reaped yet (`cargo xtask test` started it
            // and still runs): either way it no longer serves.
            let gone = (0..100).any(|_| {
                std::thread::sleep(Duration::from_millis(50));
                std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
                    stat.rsplit_once(')')
                        .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
                })
            });
            assert!(gone, "miniupnpd (pid {pid}) did not stop");
        }
        let _ = std::fs::remove_file(state.join(format!("{prefix}leases")));
        for chain in ["miniupnpd", "prerouting_miniupnpd", "postrouting_miniupnpd"] {
            let _ = Command::new("ip")
                .args(["netns", "exec", ns, "nft", "flush", "chain", "inet"])
                .args(["filter", chain])
                .status();
        }
        if !start {
            return;
        }
        std::thread::sleep(pause);
        let command_file = match prefix {
            "" => "router-command".to_owned(),
            _ => format!("{prefix}command"),
        };
        let command = std::fs::read_to_string(state.join(command_file))
            .expect("the router's command line (written by `cargo xtask lab up`)");
        let conf = state.join(conf).display().to_string();
        let mut lines = command.lines();
        let program = lines.next().expect("a program");
        // The configuration file named after `-f`.
        let mut args: Vec<&str> = Vec::new();
        let mut after_f = false;
        for arg in lines {
            args.push(if after_f { conf.as_str() } else { arg });
            after_f = arg == "-f";
        }
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(state.join(format!("{prefix}miniupnpd.log")))
            .expect("the router's log");
        use std::os::unix::process::CommandExt;
        let router = Command::new(program)
            .args(args)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log again"))
            .stderr(log)
            .spawn()
            .expect("start miniupnpd again");
        // Reaped when it exits (the next restart), so that it does not linger as a zombie.
        let mut router = router;
        std::thread::spawn(move || router.wait());
        let upnp = !conf.ends_with("noupnp.conf");
        let http_port = match conf.ends_with("moved.conf") {
            true => self.http_port + 1,
            false => self.http_port,
        };
        let listening = (0..200).any(|_| {
            std::thread::sleep(Duration::from_millis(50));
            let (flags, port) = if upnp {
                ("-Hlnt", http_port)
            } else {
                ("-Hlnu", 5351)
            };
            Command::new("ip")
                .args(["netns", "exec", ns, "ss", flags])
                .arg(format!("sport = :{port}"))
                .output()
                .is_ok_and(|out| !out.stdout.is_empty())
        });
        assert!(listening, "miniupnpd did not listen again");
    }

    /// Give the router's WAN side the address `new` instead of the lab's (the ISP renumbers
    /// it); the lab's address comes back when the guard is dropped.
    pub fn renumber_wan(&self, new: Ipv4Addr) -> Renumbered<'_> {
        self.set_wan(self.wan_addr, new);
        Renumbered { lab: self, new }
    }

    fn set_wan(&self, old: Ipv4Addr, new: Ipv4Addr) {
        let (old, new) = (format!("{old}/24"), format!("{new}/24"));
        assert!(self.ip_on_router(&["addr", "del", &old, "dev", "rwan0"]));
        assert!(self.ip_on_router(&["addr", "add", &new, "dev", "rwan0"]));
        // Deleting the address took the default route along.
        let _ = self.ip_on_router(&[
            "route",
            "replace",
            "default",
            "via",
            &self.isp_addr.to_string(),
        ]);
    }

    /// The root description URL miniupnpd announces over IPv4.
    pub fn description_url(&self) -> String {
        format!(
            "http://{}:{}/rootDesc.xml",
            self.router_addr, self.http_port
        )
    }

    /// The root description URL miniupnpd announces over IPv6.
    pub fn description_url6(&self) -> String {
        format!(
            "http://[{}]:{}/rootDesc.xml",
            self.router_addr6, self.http_port
        )
    }

    /// Run `upnpc` (miniupnpc's reference client) on the LAN interface; its stdout.
    pub fn upnpc(&self, args: &[&str]) -> String {
        let out = Command::new("upnpc")
            .args(["-m", &self.lan_if])
            .args(args)
            .output()
            .expect("run upnpc");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Lab {
    /// Stop the ISP box's miniupnpd (double NAT only): the box is a plain NAT until the
    /// guard is dropped, when it starts again with UPnP, NAT-PMP and PCP.
    pub fn box_plain(&self) -> BoxChanged<'_> {
        self.restart_miniupnpd(&self.box_ns, "box-", "", Duration::ZERO, false);
        BoxChanged { lab: self }
    }

    /// Restart the ISP box's miniupnpd with UPnP off (NAT-PMP and PCP only) until the guard
    /// is dropped.
    pub fn box_without_upnp(&self) -> BoxChanged<'_> {
        self.restart_box_with("box-miniupnpd-noupnp.conf");
        BoxChanged { lab: self }
    }

    /// Restart the ISP box's miniupnpd (its mappings lost, as in a reboot).
    pub fn restart_box(&self) {
        self.restart_box_with("box-miniupnpd.conf");
    }

    fn restart_box_with(&self, conf: &str) {
        self.restart_miniupnpd(&self.box_ns, "box-", conf, Duration::ZERO, true);
    }

    /// The ISP box's nftables ruleset (`nft list ruleset` in its namespace).
    pub fn box_nft_rules(&self) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.box_ns, "nft", "list", "ruleset"])
            .output()
            .expect("run nft in the box's namespace");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// The ISP box changed ([`Lab::box_plain`], [`Lab::box_without_upnp`]); back to UPnP on
/// drop.
pub struct BoxChanged<'a> {
    lab: &'a Lab,
}

impl Drop for BoxChanged<'_> {
    fn drop(&mut self) {
        self.lab.restart_box();
    }
}

/// The router running with UPnP off; restarted with UPnP on drop.
pub struct UpnpOff<'a> {
    lab: &'a Lab,
}

impl UpnpOff<'_> {
    /// Restart the router as [`Lab::restart_router`] does, still without UPnP.
    pub fn restart_router(&self) {
        self.lab.restart_router_with("miniupnpd-noupnp.conf");
    }
}

impl Drop for UpnpOff<'_> {
    fn drop(&mut self) {
        self.lab.restart_router();
    }
}

/// Run the `upnp` CLI (`cargo xtask test` builds it and names it in IGD_LAB_UPNP_BIN) with
/// the lab's cache directory.
pub fn upnp_cli(args: &[&str]) -> std::process::Output {
    let bin = std::env::var("IGD_LAB_UPNP_BIN")
        .unwrap_or_else(|_| format!("{}/../target/debug/upnp", env!("CARGO_MANIFEST_DIR")));
    Command::new(&bin)
        .args(args)
        .env("XDG_CACHE_HOME", cache_home())
        .output()
        .unwrap_or_else(|e| panic!("run {bin} (build it with `cargo build -p upnp-cli`): {e}"))
}

/// The one JSON document a `--json` command printed.
pub fn one_document(out: &std::process::Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(text.lines().count(), 1, "one document per line: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The router serving its description on the next HTTP port ([`Lab::router_moved`]); back
/// on its own port when dropped.
pub struct RouterMoved<'a> {
    lab: &'a Lab,
}

impl Drop for RouterMoved<'_> {
    fn drop(&mut self) {
        self.lab.restart_router();
    }
}

/// The router's WAN address renumbered; restored on drop.
pub struct Renumbered<'a> {
    lab: &'a Lab,
    new: Ipv4Addr,
}

impl Drop for Renumbered<'_> {
    fn drop(&mut self) {
        self.lab.set_wan(self.new, self.lab.wan_addr);
    }
}

/// tcpdump on the router's LAN interface, capturing what reaches miniupnpd's HTTP port.
pub struct Capture {
    child: Child,
    file: PathBuf,
}

impl Lab {
    /// Start capturing, on the router's side, the TCP payloads sent to miniupnpd's HTTP
    /// port (as text, `tcpdump -A`); returns once tcpdump listens.
    pub fn capture_http(&self) -> Capture {
        let file = std::env::temp_dir().join(format!("igd-lab-capture-{}.txt", std::process::id()));
        let out = std::fs::File::create(&file).expect("create the capture file");
        let mut child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.rtr_ns,
                "tcpdump",
                "-i",
                &self.router_lan_if,
            ])
            .args(["-l", "-U", "-A", "-s", "0", "-n"])
            .arg(format!("tcp dst port {}", self.http_port))
            .stdout(out)
            .stderr(Stdio::piped())
            .spawn()
            .expect("run tcpdump in the router's namespace");
        let stderr = child.stderr.take().expect("tcpdump's stderr");
        let mut lines = BufReader::new(stderr).lines();
        loop {
            match lines.next() {
                Some(Ok(line)) if line.contains("listening on") => break,
                Some(Ok(_)) => {}
                _ => panic!("tcpdump did not start"),
            }
        }
        std::thread::spawn(move || lines.for_each(drop));
        Capture { child, file }
    }
}

impl Capture {
    /// Stop capturing; what was captured.
    pub fn stop(mut self) -> String {
        // Let the last packets be written, then stop tcpdump politely so it flushes.
        std::thread::sleep(Duration::from_millis(300));
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let text = std::fs::read_to_string(&self.file).expect("read the capture");
        let _ = std::fs::remove_file(&self.file);
        text
    }
}

/// The cache directory (`XDG_CACHE_HOME`) the `upnp` CLI gets in this test process: one of
/// its own, empty at first, so that no earlier run's gateway is reused across processes.
pub fn cache_home() -> std::path::PathBuf {
    static DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("upnp-lab-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    })
    .clone()
}

/// The LAN host's multicast route leads elsewhere while this lives
/// ([`Lab::multicast_route_elsewhere`]).
#[derive(Debug)]
pub struct MulticastElsewhere;

impl MulticastElsewhere {
    fn remove(&self) {
        let _ = Command::new("ip")
            .args(["link", "del", "igdmc0"])
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for MulticastElsewhere {
    fn drop(&mut self) {
        self.remove();
    }
}

/// The router drops packets while this lives ([`Lab::drop_two_syns_in_three`],
/// [`Lab::deaf_to_multicast`]).
#[derive(Debug)]
pub struct SynLoss {
    ns: String,
    table: String,
}

impl SynLoss {
    /// The packets dropped so far.
    pub fn dropped(&self) -> u64 {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns,
                "nft",
                "list",
                "table",
                "inet",
                &self.table,
            ])
            .output()
            .expect("nft list table");
        let text = String::from_utf8_lossy(&out.stdout);
        text.split_once("packets ")
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    fn delete(&self) {
        let _ = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns,
                "nft",
                "delete",
                "table",
                "inet",
                &self.table,
            ])
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for SynLoss {
    fn drop(&mut self) {
        self.delete();
    }
}
