//! `pman metrics`: the Prometheus text exposition format, read back by the
//! reference parser (python's prometheus_client) and, where Debian's
//! node exporter is installed, scraped through its textfile collector.

#[macro_use]
mod common;

use common::*;
use std::process::{Command, Stdio};

/// Parses `text` with prometheus_client; prints one `name labels value`
/// line per sample, sorted, and `TYPE name type` per family. `None` when
/// python3 or prometheus_client is missing.
fn parse_with_prometheus_client(env: &Env, text: &str) -> Option<Result<String, String>> {
    let probe = Command::new("python3").args(["-c", "import prometheus_client"]).output().ok()?;
    if !probe.status.success() {
        return None;
    }
    let file = env.path("metrics.prom");
    std::fs::write(&file, text).unwrap();
    let script = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for family in text_string_to_metric_families(open(sys.argv[1]).read()):
    out.append("TYPE %s %s" % (family.name, family.type))
    for s in family.samples:
        labels = ",".join("%s=%s" % kv for kv in sorted(s.labels.items()))
        out.append("%s {%s} %g" % (s.name, labels, s.value))
print("\n".join(sorted(out)))
"#;
    let out = Command::new("python3").args(["-c", script]).arg(&file).stderr(Stdio::piped()).output().ok()?;
    Some(if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    })
}

fn metrics_config(env: &Env) {
    env.write_config(&format!(
        "{}{}",
        prog("web", "sleep 1000", ""),
        prog("idle", "sleep 1000", "autostart=false"),
    ));
}

#[test]
fn every_family_has_help_and_type_and_one_sample_per_program() {
    let env = Env::new();
    metrics_config(&env);
    let _daemon = Daemon::start(&env);
    env.wait_state("web", "RUNNING", secs(10.0));
    env.track(env.running_pid("web"));
    let out = env.pman(&["metrics"]);
    assert_eq!(out.code, 0, "{out}");
    let text = &out.stdout;
    for family in [
        "pman_up",
        "pman_programs",
        "pman_program_up",
        "pman_program_state",
        "pman_program_restarts_total",
        "pman_program_uptime_seconds",
        "pman_program_rss_bytes",
        "pman_program_cpu_seconds_total",
        "pman_program_health_failing",
        "pman_log_errors_total",
    ] {
        assert!(
            text.contains(&format!("\n# HELP {family} ")) || text.starts_with(&format!("# HELP {family} ")),
            "HELP {family}\n{text}"
        );
        assert!(text.contains(&format!("# TYPE {family} ")), "TYPE {family}\n{text}");
    }
    let lines = out.lines();
    assert!(lines.contains(&"pman_up 1"), "{text}");
    assert!(lines.contains(&"pman_programs 2"), "{text}");
    assert!(lines.contains(&"pman_program_up{program=\"web\"} 1"), "{text}");
    assert!(lines.contains(&"pman_program_up{program=\"idle\"} 0"), "{text}");
    assert!(lines.contains(&"pman_program_state{program=\"web\",state=\"RUNNING\"} 1"), "{text}");
    assert!(lines.contains(&"pman_program_state{program=\"idle\",state=\"STOPPED\"} 1"), "{text}");
    assert!(lines.contains(&"pman_program_state{program=\"web\",state=\"FATAL\"} 0"), "{text}");
    let rss =
        lines.iter().find(|l| l.starts_with("pman_program_rss_bytes{program=\"web\"} ")).expect("web's rss");
    let bytes: u64 = rss.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(bytes > 0 && bytes % 1024 == 0, "{rss}");
    assert!(!text.contains("pman_program_rss_bytes{program=\"idle\"}"), "no rss without a process\n{text}");
    assert!(text.ends_with('\n'));
}

#[test]
fn the_reference_parser_reads_it() {
    let env = Env::new();
    metrics_config(&env);
    let _daemon = Daemon::start(&env);
    env.wait_state("web", "RUNNING", secs(10.0));
    env.track(env.running_pid("web"));
    let out = env.pman(&["metrics"]);
    let parsed = match parse_with_prometheus_client(&env, &out.stdout) {
        None => skip!("python3 with prometheus_client is not installed (pip install prometheus_client)"),
        Some(result) => {
            result.unwrap_or_else(|e| panic!("prometheus_client rejects it: {e}\n{}", out.stdout))
        }
    };
    for want in [
        "TYPE pman_up gauge",
        "TYPE pman_program_restarts counter",
        "TYPE pman_program_cpu_seconds counter",
        "TYPE pman_log_errors counter",
        "pman_up {} 1",
        "pman_programs {} 2",
        "pman_program_up {program=web} 1",
        "pman_program_state {program=idle,state=STOPPED} 1",
        "pman_program_restarts_total {program=web} 0",
        "pman_program_health_failing {program=web} 0",
        "pman_log_errors_total {program=idle} 0",
    ] {
        assert!(parsed.lines().any(|l| l == want), "{want:?} not in\n{parsed}");
    }
    assert!(
        parsed.lines().any(|l| l.starts_with("pman_program_cpu_seconds_total {program=web} ")),
        "{parsed}"
    );
}

/// `pman_program_health_failing` is 1 while a program's health check
/// fails, 0 while it passes or is pending.
#[test]
fn the_health_gauge_follows_the_checks() {
    let env = Env::new();
    let check = |file: &str| {
        format!(
            "healthcheck=/bin/sh -c 'test -e $DIR/{file}'\nhealthcheck_interval=1\nhealthcheck_retries=1000"
        )
    };
    env.write_config(&format!(
        "{}{}{}",
        prog("bad", "sleep 1000", &check("missing")),
        prog("good", "sleep 1000", &check("pman.conf")),
        prog("later", "sleep 1000", "healthcheck=/bin/true\nhealthcheck_interval=300"),
    ));
    let _daemon = Daemon::start(&env);
    for name in ["bad", "good", "later"] {
        env.running_pid(name);
    }
    wait_until(secs(10.0), "both checks ended", || {
        let out = env.pman(&["status", "--json"]).stdout;
        out.contains("\"health\":\"failing\"") && out.contains("\"health\":\"ok\"")
    });
    let out = env.pman(&["metrics"]);
    let lines = out.lines();
    assert!(lines.contains(&"pman_program_health_failing{program=\"bad\"} 1"), "{out}");
    assert!(lines.contains(&"pman_program_health_failing{program=\"good\"} 0"), "{out}");
    assert!(lines.contains(&"pman_program_health_failing{program=\"later\"} 0"), "{out}");
    match parse_with_prometheus_client(&env, &out.stdout) {
        None => skip!("python3 with prometheus_client is not installed (pip install prometheus_client)"),
        Some(result) => {
            let parsed =
                result.unwrap_or_else(|e| panic!("prometheus_client rejects it: {e}\n{}", out.stdout));
            assert!(parsed.lines().any(|l| l == "pman_program_health_failing {program=bad} 1"), "{parsed}");
        }
    }
}

#[test]
fn without_a_daemon_pman_up_is_0_and_the_exit_code_1() {
    let env = Env::new();
    metrics_config(&env);
    let out = env.pman(&["metrics"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.lines().contains(&"pman_up 0"), "{out}");
    assert!(out.stderr.contains("daemon not running"), "{out}");
    if let Some(result) = parse_with_prometheus_client(&env, &out.stdout) {
        result.unwrap_or_else(|e| panic!("prometheus_client rejects it: {e}\n{}", out.stdout));
    }
}

/// GET http://127.0.0.1:PORT/metrics; `None` until something answers.
fn scrape(port: u16) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(secs(10.0))).ok()?;
    stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).ok()?;
    (reply.starts_with("HTTP/1.0 200") || reply.starts_with("HTTP/1.1 200")).then_some(reply)
}

#[test]
fn node_exporter_serves_it_through_its_textfile_collector() {
    let exporter = "prometheus-node-exporter";
    if Command::new(exporter).arg("--version").output().is_err() {
        skip!("{exporter} is not installed (apt-get install prometheus-node-exporter)");
    }
    let env = Env::new();
    metrics_config(&env);
    let _daemon = Daemon::start(&env);
    env.wait_state("web", "RUNNING", secs(10.0));
    env.track(env.running_pid("web"));
    // What a cron line on the router does: write a temp file, rename it in.
    let dir = env.path("textfile");
    std::fs::create_dir_all(&dir).unwrap();
    let out = env.pman(&["metrics"]);
    assert_eq!(out.code, 0, "{out}");
    std::fs::write(dir.join("pman.prom.tmp"), &out.stdout).unwrap();
    std::fs::rename(dir.join("pman.prom.tmp"), dir.join("pman.prom")).unwrap();

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(exporter)
        .args(["--collector.disable-defaults", "--collector.textfile"])
        .arg(format!("--collector.textfile.directory={}", dir.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(env.path("exporter.err")).unwrap())
        .spawn()
        .expect("start node exporter");
    let mut child = KillOnDrop(child);
    let mut body = None;
    let up = eventually(secs(20.0), || {
        body = scrape(port);
        body.is_some()
    });
    child.stop();
    assert!(up, "node exporter did not answer on port {port}: {}", env.read("exporter.err"));
    let body = body.unwrap();
    // A file it could not parse shows as node_textfile_scrape_error 1.
    assert!(body.lines().any(|l| l == "node_textfile_scrape_error 0"), "{body}");
    assert!(body.lines().any(|l| l == "pman_program_up{program=\"web\"} 1"), "{body}");
    assert!(body.lines().any(|l| l == "pman_program_state{program=\"idle\",state=\"STOPPED\"} 1"), "{body}");
    assert!(body.contains("# TYPE pman_program_restarts_total counter"), "{body}");
}

/// A child process killed (and reaped) when the test ends, however it ends.
struct KillOnDrop(std::process::Child);

impl KillOnDrop {
    fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.stop();
    }
}
