//! A one-node Slurm cluster for the Slurm executor's test: munged, slurmctld
//! and slurmd started as root in a folder of their own with a generated
//! `slurm.conf` (`proctrack/linuxproc`, `task/none`, no accounting,
//! `select/cons_tres` over the node's real CPUs and memory, ports on
//! localhost, and a fake `gpu` gres of count 2 so GPU requests are
//! scheduled), and stopped by the process ids it started, never by name.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::Result;

/// A running cluster; dropped, it stops its daemons.
pub(crate) struct Cluster {
    dir: PathBuf,
    /// The pid files of the daemons it started, in the order they stop.
    pids: Vec<PathBuf>,
}

/// `program`'s path: on the PATH, or in /usr/sbin (Debian's daemons).
fn find(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// A free TCP port on localhost (bound and released).
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn run(program: &Path, args: &[&str], env: &[(&str, &Path)]) -> Result<()> {
    let out = Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "{} failed: {}",
            program.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    Ok(())
}

impl Cluster {
    /// Why no cluster can start here (not root, or a program missing), if so.
    pub(crate) fn unavailable() -> Option<String> {
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        if !root {
            return Some("the Slurm and munge daemons need root".to_owned());
        }
        let missing: Vec<&str> = crate::setup::SLURM_PROGRAMS
            .into_iter()
            .filter(|p| find(p).is_none())
            .collect();
        (!missing.is_empty()).then(|| {
            format!(
                "{} not installed (`cargo xtask setup --slurm`)",
                missing.join(", ")
            )
        })
    }

    /// Starts munged, slurmctld and slurmd in `dir` (created, emptied first)
    /// and waits until the node is idle.
    pub(crate) fn start(dir: &Path) -> Result<Cluster> {
        if dir.exists() {
            fs::remove_dir_all(dir)?;
        }
        for sub in ["munge", "ctld", "d", "log", "dev"] {
            fs::create_dir_all(dir.join(sub))?;
        }
        let mut cluster = Cluster {
            dir: dir.to_owned(),
            pids: Vec::new(),
        };
        let need = |p: &str| find(p).ok_or_else(|| format!("{p} is not installed"));
        let socket = start_munge(&dir.join("munge"))?;
        cluster.pids.push(dir.join("munge/munged.pid"));
        let host = Command::new("hostname")
            .arg("-s")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())?;
        write_config(dir, &host, &socket)?;
        let conf_path = dir.join("slurm.conf");
        let env = [("SLURM_CONF", conf_path.as_path())];
        run(&need("slurmctld")?, &[], &env)?;
        cluster.pids.push(dir.join("slurmctld.pid"));
        run(&need("slurmd")?, &["-N", &host], &env)?;
        cluster.pids.insert(0, dir.join("slurmd.pid"));
        // The node registers within seconds.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let state = Command::new(need("sinfo")?)
                .args(["-h", "-o", "%T"])
                .envs(env)
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                .unwrap_or_default();
            if state == "idle" {
                return Ok(cluster);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the test cluster's node did not come up (state `{state}`); logs in {}",
                    dir.join("log").display()
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// The environment Slurm's commands need to find this cluster.
    pub(crate) fn env(&self) -> (&'static str, OsString) {
        ("SLURM_CONF", self.dir.join("slurm.conf").into_os_string())
    }
}

/// munged with a key of its own, its socket, pid and log files in `dir`; the socket.
fn start_munge(dir: &Path) -> Result<PathBuf> {
    let key = dir.join("munge.key");
    let mut random = vec![0u8; 1024];
    {
        use std::io::Read as _;
        fs::File::open("/dev/urandom")?.read_exact(&mut random)?;
    }
    fs::write(&key, &random)?;
    set_mode(&key, 0o400)?;
    set_mode(dir, 0o700)?;
    let socket = dir.join("munge.socket");
    let munged = find("munged").ok_or("munged is not installed")?;
    run(
        &munged,
        &[
            "--force",
            &format!("--key-file={}", key.display()),
            &format!("--socket={}", socket.display()),
            &format!("--pid-file={}", dir.join("munged.pid").display()),
            &format!("--log-file={}", dir.join("munged.log").display()),
            &format!("--seed-file={}", dir.join("munged.seed").display()),
        ],
        &[],
    )?;
    Ok(socket)
}

/// `slurm.conf` and `gres.conf` of a one-node cluster in `dir`: the node's
/// CPUs and memory, free ports on localhost, two fake GPUs (files slurmd
/// counts, logging that they are no devices), jobs scheduled as soon as
/// their dependencies end.
fn write_config(dir: &Path, host: &str, socket: &Path) -> Result<()> {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let memory = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map_or(4096, |kb| (kb / 1024).saturating_sub(1024).max(1024));
    // Two fake GPUs: files slurmd counts (it logs that they are no devices).
    for g in 0..2 {
        fs::write(dir.join(format!("dev/gpu{g}")), "")?;
    }
    let (ctld_port, d_port) = (free_port()?, free_port()?);
    let conf = format!(
            "ClusterName=nmltest\n\
             SlurmctldHost={host}(127.0.0.1)\n\
             SlurmUser=root\nSlurmdUser=root\n\
             AuthType=auth/munge\nAuthInfo=socket={socket}\nCredType=cred/munge\n\
             SlurmctldPort={ctld_port}\nSlurmdPort={d_port}\n\
             StateSaveLocation={dir}/ctld\nSlurmdSpoolDir={dir}/d\n\
             SlurmctldPidFile={dir}/slurmctld.pid\nSlurmdPidFile={dir}/slurmd.pid\n\
             SlurmctldLogFile={dir}/log/slurmctld.log\nSlurmdLogFile={dir}/log/slurmd.log\n\
             ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n\
             SelectType=select/cons_tres\nSelectTypeParameters=CR_Core_Memory\n\
             AccountingStorageType=accounting_storage/none\nJobCompType=jobcomp/none\n\
             JobAcctGatherType=jobacct_gather/none\n\
             SchedulerType=sched/builtin\nSchedulerParameters=batch_sched_delay=0,sched_min_interval=0\nMinJobAge=5\n\
             GresTypes=gpu\nMpiDefault=none\nReturnToService=2\n\
             NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory} Gres=gpu:2 State=UNKNOWN\n\
             PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n",
            socket = socket.display(),
            dir = dir.display(),
        );
    fs::write(dir.join("slurm.conf"), conf)?;
    fs::write(
        dir.join("gres.conf"),
        format!(
            "NodeName={host} Name=gpu File={}/dev/gpu[0-1]\n",
            dir.display()
        ),
    )?;
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    Ok(())
}

impl Drop for Cluster {
    /// Stops the daemons it started (slurmd, slurmctld, munged), by their pid files.
    fn drop(&mut self) {
        for pid_file in &self.pids {
            let Some(pid) = fs::read_to_string(pid_file)
                .ok()
                .and_then(|p| p.trim().parse::<u32>().ok())
            else {
                continue;
            };
            let _ = Command::new("kill").arg(pid.to_string()).status();
            // Gone when /proc no longer has it.
            let deadline = Instant::now() + Duration::from_secs(10);
            while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}
