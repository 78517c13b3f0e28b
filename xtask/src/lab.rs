//! `cargo xtask lab up|down|status|exec`: a real router (miniupnpd) in network namespaces.
//!
//! ```text
//!   PREFIX-lan                    PREFIX-rtr                             PREFIX-isp
//!   lan0 192.168.77.10/24 ------- rlan0 192.168.77.1/24
//!        2001:db8:77::10/64             2001:db8:77::1/64
//!                                       miniupnpd (UPnP IGD, NAT-PMP, PCP,
//!                                       IPv6 pinholes)
//!                                       rwan0 11.0.0.7/24  ----------  isp0 11.0.0.1/24
//!                                             2001:db8:11::7/64             2001:db8:11::1/64
//! ```
//!
//! The WAN address is public-looking because miniupnpd refuses private ones. IPv6 is routed,
//! not translated, as on the Internet: the ISP routes the LAN's prefix (2001:db8:77::/64,
//! global unicast, from the documentation range) to the router, whose firewall drops what
//! comes in unless a pinhole lets it. Everything the
//! lab does stays inside these namespaces: the machine's own network is never touched, and no
//! SSDP multicast is ever sent outside them.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::cmd::{self, Result};

pub const LAN_IF: &str = "lan0";
pub const HOST_ADDR: &str = "192.168.77.10";
pub const HOST_ADDR6: &str = "2001:db8:77::10";
pub const ROUTER_LAN_IF: &str = "rlan0";
pub const ROUTER_ADDR: &str = "192.168.77.1";
pub const ROUTER_ADDR6: &str = "2001:db8:77::1";
pub const ROUTER_WAN_IF: &str = "rwan0";
pub const WAN_ADDR: &str = "11.0.0.7";
pub const ISP_IF: &str = "isp0";
/// Behind a second NAT (`lab up --double-nat`): the ISP box between our router and the ISP,
/// its LAN side (our router's WAN, private) and its WAN side (the public address).
pub const BOX_LAN_IF: &str = "blan0";
pub const BOX_WAN_IF: &str = "bwan0";
pub const BOX_LAN_ADDR: &str = "192.168.1.1";
/// The ISP box's second LAN address: its STUN server answers a change request from it.
pub const BOX_LAN_ADDR2: &str = "192.168.1.2";
/// The ISP box's device UUID (its miniupnpd).
pub const BOX_UUID: &str = "5b2e8d1c-8cf0-11e0-98ee-001a6bd2d0b0";
/// Our router's WAN address behind the ISP box.
pub const INNER_WAN_ADDR: &str = "192.168.1.10";
pub const ISP_ADDR: &str = "11.0.0.1";
/// The ISP host's second address: the STUN server answers from it too (RFC 5780).
pub const ISP_ADDR2: &str = "11.0.0.2";
/// The STUN server's port on the ISP host (coturn, STUN only).
pub const STUN_PORT: u16 = 3478;
pub const WAN_ADDR6: &str = "2001:db8:11::7";
pub const ISP_ADDR6: &str = "2001:db8:11::1";
/// The LAN's IPv6 prefix, routed by the ISP to the router.
pub const LAN_PREFIX6: &str = "2001:db8:77::/64";
pub const HTTP_PORT: u16 = 5000;
pub const UUID: &str = "3d3cec3a-8cf0-11e0-98ee-001a6bd2d07b";

/// The Debian packages the lab needs, and a program each provides.
const PACKAGES: &[(&str, &str)] = &[
    ("iproute2", "ip"),
    ("nftables", "nft"),
    ("miniupnpd-nftables", "miniupnpd"),
    ("miniupnpc", "upnpc"),
    // The lab suite captures our requests on the router's side.
    ("tcpdump", "tcpdump"),
    // The benchmark measures peak memory with GNU time.
    ("time", "time"),
    // A STUN server on the ISP side with two addresses (RFC 5780), for `upnp check`.
    ("coturn", "turnserver"),
];

/// Which IGD description miniupnpd serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Igd {
    V1,
    V2,
}

impl Igd {
    fn parse(s: &str) -> Result<Self> {
        match s {
            "v1" | "1" => Ok(Igd::V1),
            "v2" | "2" => Ok(Igd::V2),
            _ => Err(format!("--igd takes v1 or v2, not {s:?}")),
        }
    }

    pub fn number(self) -> u8 {
        match self {
            Igd::V1 => 1,
            Igd::V2 => 2,
        }
    }
}

pub fn run(args: &[&str]) -> Result {
    let lab = Lab::from_env();
    match args {
        ["up"] => lab.up(Igd::V2),
        ["up", "--igd", v] => lab.up(Igd::parse(v)?),
        ["up", "--double-nat"] => lab.up_double_nat(),
        ["down"] => lab.down(),
        ["status"] => lab.status(),
        ["exec", "--", command @ ..] | ["exec", command @ ..] if !command.is_empty() => {
            lab.exec_on_host(command)
        }
        _ => Err(format!(
            "usage: cargo xtask lab up [--igd v1|v2 | --double-nat] | down | status | exec -- CMD...; got {args:?}"
        )),
    }
}

/// One lab, named by its prefix.
pub struct Lab {
    pub prefix: String,
}

impl Lab {
    pub fn from_env() -> Self {
        let prefix = std::env::var("IGD_LAB_PREFIX").unwrap_or_else(|_| "igdlab".to_owned());
        Lab { prefix }
    }

    pub fn lan(&self) -> String {
        format!("{}-lan", self.prefix)
    }

    fn rtr(&self) -> String {
        format!("{}-rtr", self.prefix)
    }

    fn isp(&self) -> String {
        format!("{}-isp", self.prefix)
    }

    /// The ISP box's namespace (behind a second NAT only).
    fn isp_box(&self) -> String {
        format!("{}-box", self.prefix)
    }

    fn namespaces(&self) -> Vec<String> {
        let mut all = vec![self.lan(), self.rtr(), self.isp()];
        if self.double_nat() {
            all.push(self.isp_box());
        }
        all
    }

    /// Whether the lab up is behind a second NAT.
    fn double_nat(&self) -> bool {
        fs::read_to_string(self.state_dir().join("topology"))
            .is_ok_and(|t| t.trim() == "double-nat")
    }

    /// Namespaces are machine-wide, so the router's pid, config and log are too: every
    /// checkout using this prefix sees the same lab.
    fn state_dir(&self) -> PathBuf {
        PathBuf::from("/run/igd-lab").join(&self.prefix)
    }

    fn pid_file(&self) -> PathBuf {
        self.state_dir().join("miniupnpd.pid")
    }

    pub fn log_file(&self) -> PathBuf {
        self.state_dir().join("miniupnpd.log")
    }

    /// The facts a test needs, as environment variables.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let igd = fs::read_to_string(self.state_dir().join("igd")).unwrap_or_default();
        vec![
            ("IGD_LAB_PREFIX", self.prefix.clone()),
            ("IGD_LAB_LAN_NS", self.lan()),
            ("IGD_LAB_RTR_NS", self.rtr()),
            ("IGD_LAB_ISP_NS", self.isp()),
            ("IGD_LAB_LAN_IF", LAN_IF.to_owned()),
            ("IGD_LAB_ROUTER_LAN_IF", ROUTER_LAN_IF.to_owned()),
            ("IGD_LAB_HOST_ADDR", HOST_ADDR.to_owned()),
            ("IGD_LAB_HOST_ADDR6", HOST_ADDR6.to_owned()),
            ("IGD_LAB_ROUTER_ADDR", ROUTER_ADDR.to_owned()),
            ("IGD_LAB_ROUTER_ADDR6", ROUTER_ADDR6.to_owned()),
            ("IGD_LAB_WAN_ADDR", WAN_ADDR.to_owned()),
            ("IGD_LAB_ISP_ADDR", ISP_ADDR.to_owned()),
            ("IGD_LAB_ISP_ADDR2", ISP_ADDR2.to_owned()),
            ("IGD_LAB_STUN_PORT", STUN_PORT.to_string()),
            ("IGD_LAB_WAN_ADDR6", WAN_ADDR6.to_owned()),
            ("IGD_LAB_ISP_ADDR6", ISP_ADDR6.to_owned()),
            ("IGD_LAB_HTTP_PORT", HTTP_PORT.to_string()),
            ("IGD_LAB_UUID", UUID.to_owned()),
            ("IGD_LAB_IGD_VERSION", igd.trim().to_owned()),
            ("IGD_LAB_LOG", self.log_file().display().to_string()),
            ("IGD_LAB_STATE_DIR", self.state_dir().display().to_string()),
            (
                "IGD_LAB_TOPOLOGY",
                if self.double_nat() {
                    "double-nat"
                } else {
                    "single"
                }
                .to_owned(),
            ),
            ("IGD_LAB_INNER_WAN_ADDR", INNER_WAN_ADDR.to_owned()),
            ("IGD_LAB_BOX_NS", self.isp_box()),
            ("IGD_LAB_BOX_ADDR", BOX_LAN_ADDR.to_owned()),
        ]
    }

    fn ns_exists(&self, ns: &str) -> bool {
        PathBuf::from("/run/netns").join(ns).exists()
    }

    fn router_pid(&self) -> Option<u32> {
        read_pid(&self.pid_file())
    }

    fn running_igd(&self) -> Option<Igd> {
        self.router_pid()?;
        let igd = fs::read_to_string(self.state_dir().join("igd")).ok()?;
        Igd::parse(igd.trim()).ok()
    }

    pub fn up(&self, igd: Igd) -> Result {
        self.up_with(igd, false)
    }

    /// The lab behind a second NAT: our router (miniupnpd, IGDv2) has a private WAN address
    /// (192.168.1.10, found public with STUN) behind the ISP box (a plain NAT, 192.168.1.1
    /// on its LAN, the public 11.0.0.7 on its WAN), then the ISP host. IPv4 only.
    pub fn up_double_nat(&self) -> Result {
        self.up_with(Igd::V2, true)
    }

    fn up_with(&self, igd: Igd, double: bool) -> Result {
        preflight()?;
        if self.namespaces().iter().all(|ns| self.ns_exists(ns))
            && self.running_igd() == Some(igd)
            && self.double_nat() == double
        {
            eprintln!("lab {} is already up (IGDv{})", self.prefix, igd.number());
            return Ok(());
        }
        self.down()?;
        fs::create_dir_all(self.state_dir()).map_err(|e| e.to_string())?;
        let topology = if double { "double-nat" } else { "single" };
        fs::write(self.state_dir().join("topology"), topology).map_err(|e| e.to_string())?;
        self.make_network()?;
        // The STUN server first: a router behind a second NAT asks it at start.
        self.start_stun()?;
        if double {
            self.start_box_router()?;
        }
        self.start_router(igd)?;
        eprintln!(
            "lab {} is up: router {ROUTER_ADDR} (LAN) / {WAN_ADDR} (WAN), IGDv{}, description \
             http://{ROUTER_ADDR}:{HTTP_PORT}/rootDesc.xml",
            self.prefix,
            igd.number()
        );
        Ok(())
    }

    fn make_network(&self) -> Result {
        let (lan, rtr, isp) = (self.lan(), self.rtr(), self.isp());
        let double = self.double_nat();
        for ns in self.namespaces() {
            cmd::output(&mut cmd::new("ip", &["netns", "add", &ns]))?;
            ip(&ns, &["link", "set", "lo", "up"])?;
        }
        // Each veth end is created directly in its namespace: nothing appears in the
        // machine's own namespace, even for a moment.
        cmd::output(&mut cmd::new(
            "ip",
            &[
                "link",
                "add",
                "name",
                LAN_IF,
                "netns",
                &lan,
                "type",
                "veth",
                "peer",
                "name",
                ROUTER_LAN_IF,
                "netns",
                &rtr,
            ],
        ))?;
        // Our router's WAN side: the ISP, or the ISP box and the ISP behind it.
        let isp_box = self.isp_box();
        let wan_links: Vec<[&str; 4]> = match double {
            false => vec![[ROUTER_WAN_IF, &rtr, ISP_IF, &isp]],
            true => vec![
                [ROUTER_WAN_IF, &rtr, BOX_LAN_IF, &isp_box],
                [BOX_WAN_IF, &isp_box, ISP_IF, &isp],
            ],
        };
        for [name, ns, peer, peer_ns] in wan_links {
            cmd::output(&mut cmd::new(
                "ip",
                &[
                    "link", "add", "name", name, "netns", ns, "type", "veth", "peer", "name", peer,
                    "netns", peer_ns,
                ],
            ))?;
        }
        if double {
            self.make_isp_box()?;
        }
        let host = format!("{HOST_ADDR}/24");
        let host6 = format!("{HOST_ADDR6}/64");
        let router = format!("{ROUTER_ADDR}/24");
        let router6 = format!("{ROUTER_ADDR6}/64");
        let wan = match double {
            false => format!("{WAN_ADDR}/24"),
            true => format!("{INNER_WAN_ADDR}/24"),
        };
        let isp_addr = format!("{ISP_ADDR}/24");
        let isp_addr2 = format!("{ISP_ADDR2}/24");
        let wan6 = format!("{WAN_ADDR6}/64");
        let isp_addr6 = format!("{ISP_ADDR6}/64");
        for (ns, dev, addr) in [
            (&lan, LAN_IF, host.as_str()),
            (&lan, LAN_IF, host6.as_str()),
            (&rtr, ROUTER_LAN_IF, router.as_str()),
            (&rtr, ROUTER_LAN_IF, router6.as_str()),
            (&rtr, ROUTER_WAN_IF, wan.as_str()),
            (&rtr, ROUTER_WAN_IF, wan6.as_str()),
            (&isp, ISP_IF, isp_addr.as_str()),
            (&isp, ISP_IF, isp_addr2.as_str()),
            (&isp, ISP_IF, isp_addr6.as_str()),
        ] {
            // Behind the box, IPv6 stops at our router's WAN side (IPv4 only there).
            if double && ns == &rtr && dev == ROUTER_WAN_IF && addr.contains(':') {
                continue;
            }
            ip(ns, &["addr", "add", addr, "dev", dev, "nodad"])?;
        }
        for (ns, dev) in [
            (&lan, LAN_IF),
            (&rtr, ROUTER_LAN_IF),
            (&rtr, ROUTER_WAN_IF),
            (&isp, ISP_IF),
        ] {
            ip(ns, &["link", "set", dev, "up"])?;
        }
        ip(&lan, &["route", "add", "default", "via", ROUTER_ADDR])?;
        ip(
            &lan,
            &["-6", "route", "add", "default", "via", ROUTER_ADDR6],
        )?;
        if double {
            ip(&rtr, &["route", "add", "default", "via", BOX_LAN_ADDR])?;
        } else {
            ip(&rtr, &["route", "add", "default", "via", ISP_ADDR])?;
            ip(&rtr, &["-6", "route", "add", "default", "via", ISP_ADDR6])?;
            // IPv6 is routed: the ISP sends the LAN's prefix to the router, whose firewall
            // decides.
            ip(&isp, &["-6", "route", "add", LAN_PREFIX6, "via", WAN_ADDR6])?;
        }
        // The ISP host knows no route to the LAN: only forwarded ports reach it, as on the
        // Internet.
        cmd::output(&mut cmd::new(
            "ip",
            &[
                "netns",
                "exec",
                &rtr,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
                "net.ipv6.conf.all.forwarding=1",
            ],
        ))?;
        let rules = self.state_dir().join("rules.nft");
        fs::write(&rules, NFT_RULES).map_err(|e| e.to_string())?;
        cmd::output(&mut cmd::new(
            "ip",
            &[
                "netns",
                "exec",
                &rtr,
                "nft",
                "-f",
                &rules.display().to_string(),
            ],
        ))?;
        // The link-local addresses need a moment even without DAD.
        wait_for(
            "IPv6 link-local address on the LAN",
            Duration::from_secs(5),
            || {
                cmd::output(&mut cmd::new(
                    "ip",
                    &[
                        "-n", &lan, "-6", "addr", "show", "dev", LAN_IF, "scope", "link",
                    ],
                ))
                .is_ok_and(|out| out.contains("inet6") && !out.contains("tentative"))
            },
        )
    }

    fn start_router(&self, igd: Igd) -> Result {
        let dir = self.state_dir();
        let lease_file = dir.join("leases");
        let _ = fs::remove_file(&lease_file);
        let conf = dir.join("miniupnpd.conf");
        let lease = lease_file.display().to_string();
        // Behind the ISP box the WAN address is private, which miniupnpd 2.3 refuses unless
        // it asks a STUN server. It asks the box's own (on the box's LAN side), which sees
        // the private address unchanged and answers from its other address: miniupnpd then
        // reports its private WAN address and maps, as a home router behind an ISP box does.
        let stun = match self.double_nat() {
            true => format!(
                "ext_perform_stun=yes\next_stun_host={BOX_LAN_ADDR}\next_stun_port={STUN_PORT}\n"
            ),
            false => String::new(),
        };
        let miniupnpd_conf = |lease: &str, upnp: bool| miniupnpd_conf(lease, upnp) + &stun;
        fs::write(&conf, miniupnpd_conf(&lease, true)).map_err(|e| e.to_string())?;
        // The same router with UPnP off (NAT-PMP and PCP only), for the lab suite's
        // `Lab::without_upnp`.
        fs::write(
            dir.join("miniupnpd-noupnp.conf"),
            miniupnpd_conf(&lease, false),
        )
        .map_err(|e| e.to_string())?;
        // The same router serving HTTP on the next port (a router back at another place),
        // for the lab suite's `Lab::router_moved`.
        let moved = miniupnpd_conf(&lease, true).replace(
            &format!("port={HTTP_PORT}\n"),
            &format!("port={}\n", HTTP_PORT + 1),
        );
        fs::write(dir.join("miniupnpd-moved.conf"), moved).map_err(|e| e.to_string())?;
        fs::write(dir.join("igd"), format!("v{}", igd.number())).map_err(|e| e.to_string())?;
        let log = fs::File::create(self.log_file()).map_err(|e| e.to_string())?;
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.rtr(), &miniupnpd()?, "-d"]);
        command.args(["-f", &conf.display().to_string()]);
        command.args(["-P", &self.pid_file().display().to_string()]);
        if igd == Igd::V1 {
            command.arg("-1");
        }
        spawn_recorded(command, &dir.join("router-command"), log, "miniupnpd")?;
        let rtr = self.rtr();
        let port = format!("sport = :{HTTP_PORT}");
        let listening = wait_for("miniupnpd to listen", Duration::from_secs(10), || {
            self.router_pid().is_some()
                && cmd::output(&mut cmd::new(
                    "ip",
                    &["netns", "exec", &rtr, "ss", "-Hlnt", &port],
                ))
                .is_ok_and(|out| !out.trim().is_empty())
                && cmd::output(&mut cmd::new(
                    "ip",
                    &["netns", "exec", &rtr, "ss", "-Hlnu", "sport = :1900"],
                ))
                .is_ok_and(|out| !out.trim().is_empty())
        });
        if let Err(e) = listening {
            let log = fs::read_to_string(self.log_file()).unwrap_or_default();
            return Err(format!("{e}\nminiupnpd log:\n{log}"));
        }
        Ok(())
    }

    /// The STUN server on the ISP host: coturn, STUN only, on both its addresses (so that
    /// it answers a change request from the other one, RFC 5780), no TLS, no CLI. Behind a
    /// second NAT, the ISP box runs one too, on its LAN side, for our router's STUN test.
    fn start_stun(&self) -> Result {
        self.start_stun_in(&self.isp(), [ISP_ADDR, ISP_ADDR2], "turnserver")?;
        if self.double_nat() {
            self.start_stun_in(
                &self.isp_box(),
                [BOX_LAN_ADDR, BOX_LAN_ADDR2],
                "box-turnserver",
            )?;
        }
        Ok(())
    }

    /// coturn in `ns` on `addrs`, its pid in `NAME.pid`, its log in `NAME.log`.
    fn start_stun_in(&self, ns: &str, addrs: [&str; 2], name: &str) -> Result {
        let turnserver = find("turnserver").ok_or("coturn's turnserver is not installed")?;
        let log = fs::File::create(self.state_dir().join(format!("{name}.log")))
            .map_err(|e| e.to_string())?;
        let port = STUN_PORT.to_string();
        let pid_file = self.state_dir().join(format!("{name}.pid"));
        let pid = pid_file.display().to_string();
        let mut command = Command::new("ip");
        command.args(["netns", "exec", ns, &turnserver]);
        command.args(["--stun-only", "--no-cli", "--no-tls", "--no-dtls", "-n"]);
        command.args(["-L", addrs[0], "-L", addrs[1], "--listening-port", &port]);
        command.args(["--pidfile", &pid, "--log-file", "stdout", "--simple-log"]);
        let child = spawn_logged(command, log, "turnserver")?;
        // `ip netns exec` execs turnserver: the child is the server.
        fs::write(&pid_file, child.id().to_string()).map_err(|e| e.to_string())?;
        let sport = format!("sport = :{STUN_PORT}");
        wait_for("the STUN server to listen", Duration::from_secs(10), || {
            cmd::output(&mut cmd::new(
                "ip",
                &["netns", "exec", ns, "ss", "-Hlnu", &sport],
            ))
            .is_ok_and(|out| out.lines().count() >= 2)
        })
    }

    /// The ISP box's router: a second miniupnpd (UPnP IGDv2, NAT-PMP and PCP) on the box,
    /// LAN 192.168.1.1, WAN 11.0.0.7, granting to 192.168.1.0/24 (our router's WAN side).
    /// Its files are the router's with a `box-` prefix; `box-miniupnpd-noupnp.conf` is the
    /// same with UPnP off, for the lab suite.
    fn start_box_router(&self) -> Result {
        let dir = self.state_dir();
        let lease = dir.join("box-leases").display().to_string();
        let _ = fs::remove_file(&lease);
        let conf = dir.join("box-miniupnpd.conf");
        fs::write(&conf, box_miniupnpd_conf(&lease, true)).map_err(|e| e.to_string())?;
        fs::write(
            dir.join("box-miniupnpd-noupnp.conf"),
            box_miniupnpd_conf(&lease, false),
        )
        .map_err(|e| e.to_string())?;
        let log = fs::File::create(dir.join("box-miniupnpd.log")).map_err(|e| e.to_string())?;
        let pid_file = dir.join("box-miniupnpd.pid");
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.isp_box(), &miniupnpd()?, "-d"]);
        command.args(["-f", &conf.display().to_string()]);
        command.args(["-P", &pid_file.display().to_string()]);
        spawn_recorded(
            command,
            &dir.join("box-command"),
            log,
            "the box's miniupnpd",
        )?;
        let isp_box = self.isp_box();
        let port = format!("sport = :{HTTP_PORT}");
        let listening = wait_for(
            "the box's miniupnpd to listen",
            Duration::from_secs(10),
            || {
                cmd::output(&mut cmd::new(
                    "ip",
                    &["netns", "exec", &isp_box, "ss", "-Hlnt", &port],
                ))
                .is_ok_and(|out| !out.trim().is_empty())
            },
        );
        if let Err(e) = listening {
            let log = fs::read_to_string(dir.join("box-miniupnpd.log")).unwrap_or_default();
            return Err(format!("{e}\nthe box's miniupnpd log:\n{log}"));
        }
        Ok(())
    }

    /// The ISP box: a NAT from 192.168.1.0/24 to the public 11.0.0.7, as an ISP's modem in
    /// router mode in front of the user's own router, with the firewall chains its own
    /// miniupnpd writes into (`start_box_router`); with that stopped, a plain NAT.
    fn make_isp_box(&self) -> Result {
        let isp_box = self.isp_box();
        let wan_addr = format!("{WAN_ADDR}/24");
        for addr in [BOX_LAN_ADDR, BOX_LAN_ADDR2] {
            ip(
                &isp_box,
                &["addr", "add", &format!("{addr}/24"), "dev", BOX_LAN_IF],
            )?;
        }
        ip(
            &isp_box,
            &["addr", "add", &wan_addr, "dev", BOX_WAN_IF, "nodad"],
        )?;
        ip(&isp_box, &["link", "set", BOX_LAN_IF, "up"])?;
        ip(&isp_box, &["link", "set", BOX_WAN_IF, "up"])?;
        ip(&isp_box, &["route", "add", "default", "via", ISP_ADDR])?;
        cmd::output(&mut cmd::new(
            "ip",
            &[
                "netns",
                "exec",
                &isp_box,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
            ],
        ))?;
        let rules = self.state_dir().join("box.nft");
        // The router's rules with the box's interfaces: the same chains for its miniupnpd.
        let box_rules = NFT_RULES
            .replace(ROUTER_LAN_IF, BOX_LAN_IF)
            .replace(ROUTER_WAN_IF, BOX_WAN_IF);
        fs::write(&rules, box_rules).map_err(|e| e.to_string())?;
        cmd::output(&mut cmd::new(
            "ip",
            &[
                "netns",
                "exec",
                &isp_box,
                "nft",
                "-f",
                &rules.display().to_string(),
            ],
        ))?;
        Ok(())
    }

    pub fn down(&self) -> Result {
        let dir = self.state_dir();
        for name in ["turnserver.pid", "box-turnserver.pid"] {
            if let Some(pid) = read_pid(&dir.join(name)) {
                let _ = cmd::output(&mut cmd::new("kill", &[&pid.to_string()]));
            }
            let _ = fs::remove_file(dir.join(name));
        }
        let box_pid = read_pid(&dir.join("box-miniupnpd.pid"));
        for pid in [self.router_pid(), box_pid].into_iter().flatten() {
            let _ = cmd::output(&mut cmd::new("kill", &[&pid.to_string()]));
            let _ = wait_for("miniupnpd to exit", Duration::from_secs(5), || {
                !PathBuf::from(format!("/proc/{pid}")).exists()
            });
            if PathBuf::from(format!("/proc/{pid}")).exists() {
                let _ = cmd::output(&mut cmd::new("kill", &["-9", &pid.to_string()]));
            }
        }
        let _ = fs::remove_file(dir.join("box-miniupnpd.pid"));
        for ns in [self.lan(), self.rtr(), self.isp(), self.isp_box()] {
            if self.ns_exists(&ns) {
                cmd::output(&mut cmd::new("ip", &["netns", "del", &ns]))?;
            }
        }
        let _ = fs::remove_file(self.state_dir().join("topology"));
        let _ = fs::remove_file(self.pid_file());
        let _ = fs::remove_file(self.state_dir().join("igd"));
        Ok(())
    }

    fn status(&self) -> Result {
        for ns in self.namespaces() {
            println!(
                "namespace {ns}: {}",
                if self.ns_exists(&ns) {
                    "present"
                } else {
                    "absent"
                }
            );
        }
        match (self.router_pid(), self.running_igd()) {
            (Some(pid), Some(igd)) => {
                println!("miniupnpd: running, pid {pid}, IGDv{}", igd.number())
            }
            _ => println!("miniupnpd: not running"),
        }
        println!("log: {}", self.log_file().display());
        Ok(())
    }

    /// Run a command on the LAN host, with the lab's facts in its environment.
    pub fn exec_on_host(&self, command: &[&str]) -> Result {
        if !self.ns_exists(&self.lan()) {
            return Err(format!(
                "lab {} is not up: run `cargo xtask lab up`",
                self.prefix
            ));
        }
        let mut c = cmd::new("ip", &["netns", "exec", &self.lan()]);
        c.arg("env");
        for (k, v) in self.env() {
            c.arg(format!("{k}={v}"));
        }
        c.args(command);
        cmd::run(&mut c)
    }
}

/// Start `command` (`what`, for errors) in its own process group (a Ctrl-C at the terminal
/// does not take it down half-way; `lab down` does), its output to `log`, after writing its
/// command line to `record`, one argument a line, for the lab suite's restarts.
fn spawn_recorded(command: Command, record: &std::path::Path, log: fs::File, what: &str) -> Result {
    let line: Vec<String> = std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    fs::write(record, line.join("\n")).map_err(|e| e.to_string())?;
    spawn_logged(command, log, what).map(drop)
}

/// Start `command` in its own process group, its output to `log`.
fn spawn_logged(mut command: Command, log: fs::File, what: &str) -> Result<std::process::Child> {
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    use std::os::unix::process::CommandExt;
    command
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    command.spawn().map_err(|e| format!("starting {what}: {e}"))
}

/// The live process whose pid `file` holds.
fn read_pid(file: &std::path::Path) -> Option<u32> {
    let pid: u32 = fs::read_to_string(file).ok()?.trim().parse().ok()?;
    PathBuf::from(format!("/proc/{pid}"))
        .exists()
        .then_some(pid)
}

fn ip(ns: &str, args: &[&str]) -> Result {
    let mut full = vec!["-n", ns];
    full.extend_from_slice(args);
    cmd::output(&mut cmd::new("ip", &full)).map(drop)
}

fn wait_for(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) -> Result {
    let start = Instant::now();
    while start.elapsed() < limit {
        if ready() {
            return Ok(());
        }
        sleep(Duration::from_millis(50));
    }
    Err(format!("timed out after {limit:?} waiting for {what}"))
}

fn find(program: &str) -> Option<String> {
    if cmd::have(program) {
        return Some(program.to_owned());
    }
    ["/usr/sbin", "/sbin"]
        .iter()
        .map(|dir| format!("{dir}/{program}"))
        .find(|p| cmd::have(p))
}

fn miniupnpd() -> Result<String> {
    find("miniupnpd").ok_or_else(|| "miniupnpd is not installed".to_owned())
}

/// Root, and the packages: installed with apt-get when missing.
pub fn preflight() -> Result {
    if !cmd::is_root() {
        return Err("the lab needs root (network namespaces, nftables, apt-get)".to_owned());
    }
    let missing: Vec<&str> = PACKAGES
        .iter()
        .filter(|(_, program)| find(program).is_none())
        .map(|(package, _)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !cmd::have("apt-get") {
        return Err(format!(
            "missing packages {missing:?} and no apt-get to install them: install them by hand"
        ));
    }
    eprintln!("installing {missing:?} with apt-get");
    cmd::run(cmd::new("apt-get", &["update", "-q"]).env("DEBIAN_FRONTEND", "noninteractive"))?;
    let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
    args.extend(&missing);
    cmd::run(cmd::new("apt-get", &args).env("DEBIAN_FRONTEND", "noninteractive"))?;
    let still: Vec<&str> = PACKAGES
        .iter()
        .filter(|(_, program)| find(program).is_none())
        .map(|(package, _)| *package)
        .collect();
    if still.is_empty() {
        Ok(())
    } else {
        Err(format!("apt-get ran but {still:?} are still missing"))
    }
}

/// The router's firewall: the chains miniupnpd writes into (its Debian package ships no
/// init script for them), a forward policy that only lets LAN traffic and mapped ports
/// through, and masquerading to the WAN.
const NFT_RULES: &str = "\
table inet filter {
  chain forward {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    iifname \"rlan0\" accept
    jump miniupnpd
  }
  chain miniupnpd {
  }
  chain prerouting {
    type nat hook prerouting priority -100; policy accept;
    jump prerouting_miniupnpd
  }
  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    jump postrouting_miniupnpd
    oifname \"rwan0\" masquerade
  }
  chain prerouting_miniupnpd {
  }
  chain postrouting_miniupnpd {
  }
}
";

fn miniupnpd_conf(lease_file: &str, upnp: bool) -> String {
    let upnp = if upnp { "yes" } else { "no" };
    format!(
        "\
ext_ifname={ROUTER_WAN_IF}
ext_ifname6={ROUTER_WAN_IF}
listening_ip={ROUTER_LAN_IF}
port={HTTP_PORT}
enable_natpmp=yes
enable_upnp={upnp}
lease_file={lease_file}
upnp_table_name=filter
upnp_nat_table_name=filter
upnp_forward_chain=miniupnpd
upnp_nat_chain=prerouting_miniupnpd
upnp_nat_postrouting_chain=postrouting_miniupnpd
secure_mode=yes
system_uptime=no
notify_interval=30
clean_ruleset_interval=600
uuid={UUID}
friendly_name=igd-rs lab router
serial=12345678
model_number=1
bitrate_up=1000000
bitrate_down=10000000
allow 1024-65535 192.168.77.0/24 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
"
    )
}

/// The ISP box's miniupnpd: the router's configuration with the box's interfaces (its LAN
/// is our router's WAN side, 192.168.1.0/24; its WAN the public 11.0.0.7), name and UUID;
/// IPv4 only.
fn box_miniupnpd_conf(lease_file: &str, upnp: bool) -> String {
    miniupnpd_conf(lease_file, upnp)
        .replace(&format!("ext_ifname6={ROUTER_WAN_IF}\n"), "")
        .replace(
            &format!("ext_ifname={ROUTER_WAN_IF}"),
            &format!("ext_ifname={BOX_WAN_IF}"),
        )
        .replace(
            &format!("listening_ip={ROUTER_LAN_IF}"),
            &format!("listening_ip={BOX_LAN_IF}"),
        )
        .replace(UUID, BOX_UUID)
        .replace("igd-rs lab router", "igd-rs lab ISP box")
        .replace("192.168.77.0/24", "192.168.1.0/24")
}
