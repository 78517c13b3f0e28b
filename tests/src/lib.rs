//! Helpers of the lab suite: end-to-end tests against miniupnpd, run by `cargo xtask test`
//! on the LAN host of the lab that `cargo xtask lab up` makes.
//!
//! Every test starts with [`Lab::get`], which reads the lab's facts from the environment and
//! fails the test unless the process really is inside the lab's LAN namespace: the suite's
//! multicast must never reach the machine's own network.

pub mod hostile;

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, Ipv6Addr};
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
    /// The LAN host's IPv6 address (a ULA).
    pub host_addr6: Ipv6Addr,
    /// The router's LAN address.
    pub router_addr: Ipv4Addr,
    /// The router's IPv6 LAN address.
    pub router_addr6: Ipv6Addr,
    /// The router's WAN (external) address.
    pub wan_addr: Ipv4Addr,
    /// The ISP host's address, on the WAN side.
    pub isp_addr: Ipv4Addr,
    /// miniupnpd's HTTP port.
    pub http_port: u16,
    /// The router's device UUID.
    pub uuid: String,
    /// 1 or 2: the IGD version miniupnpd serves.
    pub igd_version: u32,
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
            http_port: parsed("IGD_LAB_HTTP_PORT"),
            uuid: var("IGD_LAB_UUID"),
            igd_version: var("IGD_LAB_IGD_VERSION")
                .trim_start_matches('v')
                .parse()
                .expect("IGD_LAB_IGD_VERSION is v1 or v2"),
        }
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
