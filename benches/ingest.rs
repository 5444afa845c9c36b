//! Ingest benchmark: 8 MiB files through the gateway into an S3 server over loopback, against
//! PUTs of the same bytes straight to that server with `aws-sdk-s3`, and the gateway's peak RSS with
//! 64 uploads in flight.
//!
//! Run with `cargo bench --bench ingest`. Three processes' worth of work, two processes:
//! - this process (the parent) runs the S3 server (s3s + s3s-fs on 127.0.0.1:0 serving a temporary
//!   directory), drives the load with reqwest and `aws-sdk-s3`, and samples the gateway's memory;
//! - the gateway runs alone in a child process (this binary re-executed with `--gateway ENDPOINT
//!   DATA_DIR`), so that `/proc/<pid>/status` `VmHWM` is the gateway's own peak RSS.
//!
//! `CONSILIUM__…` variables in the environment are applied on top of the benchmark's settings in the
//! gateway (e.g. `CONSILIUM__SERVER__WORKERS=4` or `CONSILIUM__INTAKE__UPLOAD_BUDGET_BYTES=…`).

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use consilium::config::{Settings, environment_from};
use consilium::db::SqlRepository;
use consilium::http::Application;
use consilium::services::{Services, keys};
use consilium::storage::BlobStore;
use consilium::storage::s3::S3Store;
use futures_util::StreamExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use reqwest::multipart::{Form, Part};
use tokio::io::{AsyncBufReadExt, BufReader};

const BUCKET: &str = "consilium-bench";
const S3_ACCESS_KEY: &str = "consilium-bench-access";
const S3_SECRET_KEY: &str = "consilium-bench-secret-key";

/// Each file: exactly the default per-file limit (`intake.max_file_bytes`), 8 MiB.
const FILE_BYTES: usize = 8 * 1024 * 1024;
/// Uploads per throughput measurement.
const THROUGHPUT_UPLOADS: usize = 32;
/// Concurrency levels of the throughput phase.
const THROUGHPUT_CONCURRENCY: [usize; 2] = [1, 4];
/// Uploads in flight at once in the memory phase.
const MEMORY_UPLOADS: usize = 64;
const RATIO_TARGET: f64 = 0.8;
const RSS_TARGET_MIB: f64 = 400.0;
/// Linux's `USER_HZ` (the unit of utime/stime in `/proc/<pid>/stat`) on every mainstream platform.
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--gateway") {
        let (Some(endpoint), Some(data_dir)) = (args.get(2), args.get(3)) else {
            eprintln!("usage: ingest --gateway S3_ENDPOINT DATA_DIR");
            std::process::exit(2);
        };
        run_gateway(endpoint, Path::new(data_dir));
        return;
    }
    // `cargo bench` passes `--bench` (and any filter); there is only one benchmark here.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(bench());
}

// ---------------------------------------------------------------------------------------------
// The gateway (child process)
// ---------------------------------------------------------------------------------------------

fn s3_client(endpoint: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .credentials_provider(Credentials::new(
            S3_ACCESS_KEY,
            S3_SECRET_KEY,
            None,
            None,
            "bench",
        ))
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Runs only the gateway: prints its port on stdout and serves until stdin closes (the parent
/// going away, for whatever reason, ends the gateway too).
fn run_gateway(endpoint: &str, data_dir: &Path) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let database_url = format!("sqlite://{}/consilium.db", data_dir.display());
        let mut vars: HashMap<String, String> = HashMap::from([
            ("CONSILIUM__DATA_DIR".into(), data_dir.display().to_string()),
            ("CONSILIUM__SERVER__BIND".into(), "127.0.0.1:0".into()),
            ("CONSILIUM__SERVER__ENVIRONMENT".into(), "test".into()),
            ("CONSILIUM__DATABASE__URL".into(), database_url),
            // Back-pressure, not refusals: every upload of the memory phase waits for room.
            (
                "CONSILIUM__INTAKE__UPLOAD_BUDGET_WAIT_SECONDS".into(),
                "120".into(),
            ),
        ]);
        vars.extend(std::env::vars().filter(|(k, _)| k.starts_with("CONSILIUM__")));
        let config_dir = tempfile::tempdir().expect("config dir");
        let settings = Settings::load_from(config_dir.path(), None, environment_from(Some(vars)))
            .expect("settings");
        let keys = keys::load_key_ring(&settings).expect("key ring");
        let repo = SqlRepository::connect(
            &settings.database_url().expect("database url"),
            settings.database.max_connections,
        )
        .await
        .expect("database");
        let blobs: Arc<dyn BlobStore> =
            Arc::new(S3Store::from_client(s3_client(endpoint), BUCKET.to_owned()));
        blobs.check().await.expect("the S3 server answers");
        let services =
            Arc::new(Services::assemble(settings, Arc::new(repo), blobs, keys).expect("services"));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let app = Application::with_listener(services, listener).expect("application");
        println!("{}", app.port());
        std::thread::spawn(|| {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            std::process::exit(0);
        });
        app.run_until_stopped().await.expect("gateway");
    });
}

// ---------------------------------------------------------------------------------------------
// The S3 server (parent process)
// ---------------------------------------------------------------------------------------------

struct S3Server {
    endpoint: String,
    root: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl S3Server {
    async fn start() -> Self {
        let root = tempfile::tempdir().expect("S3 root");
        std::fs::create_dir_all(root.path().join(BUCKET)).expect("bucket");
        let fs = s3s_fs::FileSystem::new(root.path()).expect("s3s-fs");
        let mut builder = s3s::service::S3ServiceBuilder::new(fs);
        builder.set_auth(s3s::auth::SimpleAuth::from_single(
            S3_ACCESS_KEY,
            S3_SECRET_KEY,
        ));
        let service = builder.build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let task = tokio::spawn(async move {
            let http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let conn = http
                    .serve_connection(TokioIo::new(socket), service.clone())
                    .into_owned();
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
        });
        Self {
            endpoint,
            root,
            task,
        }
    }

    /// Bytes and objects under the bucket (to check that every upload landed).
    fn stored(&self) -> (u64, usize) {
        let mut dirs = vec![self.root.path().join(BUCKET)];
        let (mut bytes, mut objects) = (0, 0);
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("read S3 root").flatten() {
                let Ok(meta) = entry.metadata() else { continue };
                if meta.is_dir() {
                    dirs.push(entry.path());
                } else if !entry.file_name().to_string_lossy().starts_with('.') {
                    bytes += meta.len();
                    objects += 1;
                }
            }
        }
        (bytes, objects)
    }
}

// ---------------------------------------------------------------------------------------------
// The gateway's process, seen from outside
// ---------------------------------------------------------------------------------------------

struct Gateway {
    child: tokio::process::Child,
    pid: u32,
    address: String,
    _data_dir: tempfile::TempDir,
}

impl Gateway {
    async fn start(s3_endpoint: &str) -> Self {
        let data_dir = tempfile::tempdir().expect("data dir");
        let mut child = tokio::process::Command::new(std::env::current_exe().expect("current exe"))
            .arg("--gateway")
            .arg(s3_endpoint)
            .arg(data_dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start the gateway");
        let pid = child.id().expect("gateway pid");
        let stdout = child.stdout.take().expect("gateway stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .await
            .expect("gateway port");
        let port: u16 = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("the gateway did not start (printed {line:?})"));
        Self {
            child,
            pid,
            address: format!("http://127.0.0.1:{port}"),
            _data_dir: data_dir,
        }
    }

    fn status_kib(&self, field: &str) -> Option<u64> {
        proc_status_kib(self.pid, field)
    }

    /// Resets `VmHWM` to the current RSS (`echo 5 > /proc/PID/clear_refs`, Linux ≥ 4.0).
    fn reset_peak(&self) -> bool {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5").is_ok()
    }

    fn cpu_seconds(&self) -> f64 {
        cpu_seconds(&format!("/proc/{}/stat", self.pid))
    }

    async fn stop(mut self) {
        drop(self.child.stdin.take());
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(stat_path: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(stat_path) else {
        return 0.0;
    };
    // Fields after the command name (which may contain spaces) start at field 3.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    };
    // utime is field 14, stime 15: indices 11 and 12 after the `)`.
    (f64::from(ticks(11)) + f64::from(ticks(12))) / CLOCK_TICKS_PER_SECOND
}

/// Samples a process's `VmRSS` every few milliseconds until stopped; returns the largest seen (KiB).
struct RssSampler {
    stop: Arc<AtomicBool>,
    max_kib: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

impl RssSampler {
    fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let max_kib = Arc::new(AtomicU64::new(0));
        let thread = {
            let (stop, max_kib) = (Arc::clone(&stop), Arc::clone(&max_kib));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(rss) = proc_status_kib(pid, "VmRSS") {
                        max_kib.fetch_max(rss, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        };
        Self {
            stop,
            max_kib,
            thread,
        }
    }

    fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("sampler");
        self.max_kib.load(Ordering::Relaxed)
    }
}

// ---------------------------------------------------------------------------------------------
// Load
// ---------------------------------------------------------------------------------------------

/// A PDF of exactly `len` bytes (only the header is inspected) whose body is incompressible.
fn pdf(len: usize) -> Bytes {
    const HEAD: &[u8] = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n1 0 obj\n<< /Length 0 >>\nstream\n";
    const TAIL: &[u8] = b"\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n";
    let mut bytes = Vec::with_capacity(len);
    bytes.extend_from_slice(HEAD);
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    while bytes.len() < len - TAIL.len() {
        // xorshift64
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let take = (len - TAIL.len() - bytes.len()).min(8);
        bytes.extend_from_slice(&state.to_le_bytes()[..take]);
    }
    bytes.extend_from_slice(TAIL);
    assert_eq!(bytes.len(), len);
    Bytes::from(bytes)
}

fn request_form(payload: &Bytes) -> Form {
    let report =
        Part::stream_with_length(reqwest::Body::from(payload.clone()), payload.len() as u64)
            .file_name("scan-report.pdf")
            .mime_str("application/pdf")
            .expect("mime");
    Form::new()
        .text("full_name", "Amelia Zanzibar-Quint")
        .text("email", "amelia.quint@example.org")
        .text("service", "records_review")
        .text(
            "condition",
            "Suspected sarcoidosis; I would like a review of my CT and biopsy.",
        )
        .text("terms_accepted", "true")
        .part("report", report)
}

/// One upload through the gateway; the HTTP status (0 when the request itself failed).
async fn upload(client: &reqwest::Client, address: &str, payload: &Bytes) -> u16 {
    match client
        .post(format!("{address}/api/v1/requests"))
        .multipart(request_form(payload))
        .send()
        .await
    {
        Ok(response) => {
            let status = response.status().as_u16();
            let _ = response.bytes().await;
            status
        }
        Err(e) => {
            eprintln!("upload failed: {e}");
            0
        }
    }
}

/// One PUT of the same bytes straight to the S3 server.
async fn put_direct(client: &aws_sdk_s3::Client, key: String, payload: &Bytes) -> bool {
    match client
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .content_type("application/octet-stream")
        .body(ByteStream::from(payload.clone()))
        .send()
        .await
    {
        Ok(_) => true,
        Err(e) => {
            eprintln!("direct PUT failed: {e:?}");
            false
        }
    }
}

/// Runs `count` operations with at most `concurrency` in flight; their outputs and the wall time.
async fn run<T, F, Fut>(count: usize, concurrency: usize, op: F) -> (Vec<T>, Duration)
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T>,
{
    let started = Instant::now();
    let outputs = futures_util::stream::iter(0..count)
        .map(op)
        .buffer_unordered(concurrency)
        .collect::<Vec<T>>()
        .await;
    (outputs, started.elapsed())
}

#[allow(clippy::cast_precision_loss)]
fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

#[allow(clippy::cast_precision_loss)]
fn kib_to_mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// MiB/s for `count` files of `FILE_BYTES` in `elapsed`.
fn throughput(count: usize, elapsed: Duration) -> f64 {
    mib((count * FILE_BYTES) as u64) / elapsed.as_secs_f64()
}

struct Throughput {
    concurrency: usize,
    gateway: Duration,
    gateway_cpu: f64,
    direct: Duration,
}

async fn measure_throughput(
    gateway: &Gateway,
    http: &reqwest::Client,
    s3: &aws_sdk_s3::Client,
    payload: &Bytes,
    concurrency: usize,
) -> Throughput {
    let cpu_before = gateway.cpu_seconds();
    let (statuses, gateway_time) = run(THROUGHPUT_UPLOADS, concurrency, |_| {
        upload(http, &gateway.address, payload)
    })
    .await;
    let gateway_cpu = gateway.cpu_seconds() - cpu_before;
    let created = statuses.iter().filter(|s| **s == 201).count();
    assert_eq!(
        created, THROUGHPUT_UPLOADS,
        "every gateway upload stored (statuses: {statuses:?})"
    );
    let (oks, direct_time) = run(THROUGHPUT_UPLOADS, concurrency, |i| {
        put_direct(s3, format!("direct/c{concurrency}/{i}"), payload)
    })
    .await;
    assert!(oks.iter().all(|ok| *ok), "every direct PUT stored");
    Throughput {
        concurrency,
        gateway: gateway_time,
        gateway_cpu,
        direct: direct_time,
    }
}

struct Memory {
    statuses: HashMap<u16, usize>,
    elapsed: Duration,
    hwm_before_kib: Option<u64>,
    peak_reset: bool,
    hwm_kib: Option<u64>,
    sampled_max_kib: u64,
    rss_after_kib: Option<u64>,
}

async fn measure_memory(gateway: &Gateway, http: &reqwest::Client, payload: &Bytes) -> Memory {
    let hwm_before_kib = gateway.status_kib("VmHWM");
    let peak_reset = gateway.reset_peak();
    let sampler = RssSampler::start(gateway.pid);
    let (statuses, elapsed) = run(MEMORY_UPLOADS, MEMORY_UPLOADS, |_| {
        upload(http, &gateway.address, payload)
    })
    .await;
    let sampled_max_kib = sampler.finish();
    let hwm_kib = gateway.status_kib("VmHWM");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after_kib = gateway.status_kib("VmRSS");
    let mut by_status = HashMap::new();
    for status in statuses {
        *by_status.entry(status).or_insert(0) += 1;
    }
    Memory {
        statuses: by_status,
        elapsed,
        hwm_before_kib,
        peak_reset,
        hwm_kib,
        sampled_max_kib,
        rss_after_kib,
    }
}

async fn bench() {
    let s3_server = S3Server::start().await;
    let gateway = Gateway::start(&s3_server.endpoint).await;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(MEMORY_UPLOADS)
        .build()
        .expect("http client");
    let s3 = s3_client(&s3_server.endpoint);
    let payload = pdf(FILE_BYTES);
    let idle_rss_kib = gateway.status_kib("VmRSS");

    // Warm-up (connections, SQLite, the SDK's first request) and a check of the receipt.
    let response = http
        .post(format!("{}/api/v1/requests", gateway.address))
        .multipart(request_form(&payload))
        .send()
        .await
        .expect("first upload");
    assert_eq!(response.status().as_u16(), 201, "first upload stored");
    let receipt: serde_json::Value = response.json().await.expect("receipt");
    assert_eq!(receipt["documents"][0]["size"], FILE_BYTES, "{receipt}");
    assert_eq!(
        receipt["documents"][0]["media_type"], "application/pdf",
        "{receipt}"
    );
    assert_eq!(upload(&http, &gateway.address, &payload).await, 201);
    assert!(put_direct(&s3, "warmup/0".into(), &payload).await);
    assert!(put_direct(&s3, "warmup/1".into(), &payload).await);

    let mut results = Vec::new();
    for concurrency in THROUGHPUT_CONCURRENCY {
        results.push(measure_throughput(&gateway, &http, &s3, &payload, concurrency).await);
    }
    let memory = measure_memory(&gateway, &http, &payload).await;
    let (stored_bytes, stored_objects) = s3_server.stored();
    let expected_objects = 2
        + 2
        + THROUGHPUT_CONCURRENCY.len() * 2 * THROUGHPUT_UPLOADS
        + memory.statuses.get(&201).copied().unwrap_or(0);
    gateway.stop().await;

    report(&results, &memory, idle_rss_kib);
    println!(
        "S3 bucket: {stored_objects} objects (expected {expected_objects}), {:.0} MiB",
        mib(stored_bytes)
    );
}

fn report(results: &[Throughput], memory: &Memory, idle_rss_kib: Option<u64>) {
    let size = FILE_BYTES / (1024 * 1024);
    println!();
    println!("ingest benchmark: {size} MiB PDF files, S3 (s3s-fs) over loopback");
    let mut worst_ratio = f64::INFINITY;
    for r in results {
        let gateway = throughput(THROUGHPUT_UPLOADS, r.gateway);
        let direct = throughput(THROUGHPUT_UPLOADS, r.direct);
        let ratio = gateway / direct;
        worst_ratio = worst_ratio.min(ratio);
        println!(
            "  {} in flight: gateway: {n} x {size} MiB in {:.2} s = {gateway:.1} MiB/s \
             (gateway CPU {:.2} s); direct S3 PUT: {n} x {size} MiB in {:.2} s = {direct:.1} MiB/s; \
             ratio {ratio:.2} (target >= {RATIO_TARGET}) {}",
            r.concurrency,
            r.gateway.as_secs_f64(),
            r.gateway_cpu,
            r.direct.as_secs_f64(),
            verdict(ratio >= RATIO_TARGET),
            n = THROUGHPUT_UPLOADS,
        );
    }
    let mut statuses: Vec<_> = memory.statuses.iter().collect();
    statuses.sort();
    let statuses = statuses
        .iter()
        .map(|(status, count)| format!("{count} x {status}"))
        .collect::<Vec<_>>()
        .join(", ");
    let peak = memory.hwm_kib.map(kib_to_mib);
    let all_created = memory.statuses.get(&201) == Some(&MEMORY_UPLOADS);
    println!(
        "  {MEMORY_UPLOADS} uploads in flight: {statuses} in {:.2} s ({:.1} MiB/s), gateway peak RSS \
         {} (target <= {RSS_TARGET_MIB} MiB) {}",
        memory.elapsed.as_secs_f64(),
        throughput(MEMORY_UPLOADS, memory.elapsed),
        peak.map_or_else(|| "unknown".into(), |p| format!("{p:.0} MiB")),
        verdict(all_created && peak.is_some_and(|p| p <= RSS_TARGET_MIB)),
    );
    let show =
        |kib: Option<u64>| kib.map_or_else(|| "?".into(), |k| format!("{:.0} MiB", kib_to_mib(k)));
    println!(
        "    gateway RSS: idle {}, VmHWM before this phase {}, VmHWM of this phase {}{}, \
         largest VmRSS sampled {:.0} MiB, VmRSS after {}",
        show(idle_rss_kib),
        show(memory.hwm_before_kib),
        show(memory.hwm_kib),
        if memory.peak_reset {
            ""
        } else {
            " (could not reset VmHWM: lifetime peak)"
        },
        kib_to_mib(memory.sampled_max_kib),
        show(memory.rss_after_kib),
    );
    println!(
        "  summary: worst gateway/direct ratio {worst_ratio:.2} (target >= {RATIO_TARGET}), \
         peak RSS {} with {MEMORY_UPLOADS} in flight (target <= {RSS_TARGET_MIB} MiB)",
        peak.map_or_else(|| "unknown".into(), |p| format!("{p:.0} MiB")),
    );
}

fn verdict(ok: bool) -> &'static str {
    if ok { "[ok]" } else { "[MISSED]" }
}
