//! Ingest benchmark (`cargo bench --bench ingest`): 8 MiB files through the gateway
//! (`POST /api/v1/requests`) into an S3 server over loopback, against PUTs of the same bytes straight
//! to that server with `aws-sdk-s3`; and the gateway's peak RSS with 64 uploads in flight.
//!
//! Two processes:
//! - this one runs the S3 server (s3s + s3s-fs on 127.0.0.1:0, serving a temporary directory, with
//!   each PUT timed), drives the load (reqwest for the gateway, `aws-sdk-s3` for the direct PUTs),
//!   and reads the gateway's `/proc/<pid>/status` (`VmHWM` is its peak RSS) and `/proc/<pid>/stat`;
//! - the gateway runs alone in a child process: this binary re-executed as `ingest --gateway
//!   S3_ENDPOINT DATA_DIR`, which assembles `Services` (SQLite in DATA_DIR, an `S3Store` with explicit
//!   credentials) and an `Application` on port 0, prints the port, and serves until its stdin closes.
//!
//! Throughput: `ROUNDS` x `THROUGHPUT_UPLOADS` files per path at each concurrency, gateway and direct
//! alternating; at one in flight, the S3 server's timing of each PUT splits a request's time into
//! before the PUT (for the gateway: receiving the form, inspection, SHA-256, sealing, signing), the
//! PUT, and after it (SQL commit). Memory: `MEMORY_UPLOADS` uploads at once, with the upload budget's
//! wait raised so that they queue for room rather than fail.
//!
//! Hostile requests (first, on a gateway of their own): the attack run's deflate bombs (a deflated
//! `.dcm` that inflates to 256 MiB, a CD export of 250 of them at 4 MiB each, a zip entry whose
//! header hides a 1000:1 ratio), each once, with the gateway's CPU time against that of an honest
//! 8 MiB request on the same gateway (the baseline: the ratio is reported); then
//! `HOSTILE_AT_ONCE` of each at once, with the gateway's peak RSS.
//!
//! `cargo bench --bench ingest -- hostile` runs the hostile phase alone.
//!
//! `CONSILIUM__…` variables in the environment are applied on top of the gateway's settings (e.g.
//! `CONSILIUM__INTAKE__UPLOAD_BUDGET_BYTES=…`, `CONSILIUM__SERVER__WORKERS=4`).

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
use s3s::dto;
use s3s::{S3Request, S3Response, S3Result};
use tokio::io::{AsyncBufReadExt, BufReader};

#[path = "../tests/api/bombs.rs"]
mod bombs;

const BUCKET: &str = "consilium-bench";
const S3_ACCESS_KEY: &str = "consilium-bench-access";
const S3_SECRET_KEY: &str = "consilium-bench-secret-key";

/// Each file: exactly the default per-file limit (`intake.max_file_bytes`), 8 MiB.
const FILE_BYTES: usize = 8 * 1024 * 1024;
/// Uploads per throughput measurement.
const THROUGHPUT_UPLOADS: usize = 32;
/// Throughput measurements per path and concurrency (alternating gateway and direct).
const ROUNDS: usize = 3;
/// Concurrency levels of the throughput phase.
const THROUGHPUT_CONCURRENCY: [usize; 2] = [1, 4];
/// Uploads in flight at once in the memory phase.
const MEMORY_UPLOADS: usize = 64;
const RATIO_TARGET: f64 = 0.8;
const RSS_TARGET_MIB: f64 = 400.0;
/// Hostile requests in flight at once in the hostile phase.
const HOSTILE_AT_ONCE: usize = 8;
/// Most gateway CPU one hostile request (under 8 MiB) may cost.
const HOSTILE_CPU_TARGET_SECONDS: f64 = 2.0;
/// Most gateway RSS with `HOSTILE_AT_ONCE` hostile requests at once.
const HOSTILE_RSS_TARGET_MIB: f64 = 256.0;
/// Honest requests whose CPU time is the hostile phase's baseline, and hostile requests of each
/// kind whose CPU time is averaged (the kernel counts CPU time in 10 ms ticks).
const BASELINE_UPLOADS: usize = 4;
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
    // `cargo bench` passes `--bench` and any filter: `hostile` runs the hostile phase alone.
    let hostile_only = args.iter().skip(1).any(|a| a == "hostile");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(bench(hostile_only));
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
            (
                "CONSILIUM__SERVER__METRICS_BIND".into(),
                "127.0.0.1:0".into(),
            ),
            ("CONSILIUM__SERVER__ENVIRONMENT".into(), "test".into()),
            ("CONSILIUM__DATABASE__URL".into(), database_url),
            // Back-pressure, not refusals: every upload of the memory phase waits for room, and
            // this one client may have them all going at once.
            (
                "CONSILIUM__INTAKE__UPLOAD_BUDGET_WAIT_SECONDS".into(),
                "120".into(),
            ),
            (
                "CONSILIUM__INTAKE__MAX_UPLOADS_PER_CLIENT".into(),
                "128".into(),
            ),
            // Hundreds of requests from one address: the submission rate limit is not measured.
            ("CONSILIUM__FORM__SUBMISSION_BURST".into(), "100000".into()),
            (
                "CONSILIUM__FORM__SUBMISSIONS_PER_MINUTE".into(),
                "100000".into(),
            ),
        ]);
        vars.extend(std::env::vars().filter(|(k, _)| k.starts_with("CONSILIUM__")));
        let config_dir = tempfile::tempdir().expect("config dir");
        let settings = Settings::load_from(config_dir.path(), None, environment_from(Some(vars)))
            .expect("settings");
        drop(config_dir);
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

/// When the S3 server started and finished handling one PUT (its body included).
#[derive(Clone, Copy)]
struct PutTiming {
    start: Instant,
    end: Instant,
}

type PutLog = Arc<std::sync::Mutex<Vec<PutTiming>>>;

/// s3s-fs with the PUTs timed (the operations the gateway and the benchmark use).
struct TimedFs {
    fs: s3s_fs::FileSystem,
    puts: PutLog,
}

#[async_trait::async_trait]
impl s3s::S3 for TimedFs {
    async fn put_object(
        &self,
        req: S3Request<dto::PutObjectInput>,
    ) -> S3Result<S3Response<dto::PutObjectOutput>> {
        let start = Instant::now();
        let result = self.fs.put_object(req).await;
        let end = Instant::now();
        self.puts
            .lock()
            .expect("put log")
            .push(PutTiming { start, end });
        result
    }

    async fn head_bucket(
        &self,
        req: S3Request<dto::HeadBucketInput>,
    ) -> S3Result<S3Response<dto::HeadBucketOutput>> {
        self.fs.head_bucket(req).await
    }

    async fn get_object(
        &self,
        req: S3Request<dto::GetObjectInput>,
    ) -> S3Result<S3Response<dto::GetObjectOutput>> {
        self.fs.get_object(req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<dto::DeleteObjectInput>,
    ) -> S3Result<S3Response<dto::DeleteObjectOutput>> {
        self.fs.delete_object(req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<dto::ListObjectsV2Input>,
    ) -> S3Result<S3Response<dto::ListObjectsV2Output>> {
        self.fs.list_objects_v2(req).await
    }
}

struct S3Server {
    endpoint: String,
    root: tempfile::TempDir,
    puts: PutLog,
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
        let puts = PutLog::default();
        let fs = TimedFs {
            fs: s3s_fs::FileSystem::new(root.path()).expect("s3s-fs"),
            puts: Arc::clone(&puts),
        };
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
            puts,
            task,
        }
    }

    /// The PUTs the server started at or after `since`.
    fn puts_since(&self, since: Instant) -> Vec<PutTiming> {
        let puts = self.puts.lock().expect("put log");
        puts.iter().filter(|p| p.start >= since).copied().collect()
    }

    /// Bytes and objects in the bucket (to check that every upload landed), which are then
    /// removed.
    fn take_stored(&self) -> (u64, usize) {
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
                    std::fs::remove_file(entry.path()).expect("remove object");
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

/// One request's status (0 when it failed) and when it ran.
#[derive(Clone, Copy)]
struct Outcome {
    status: u16,
    start: Instant,
    end: Instant,
}

/// One upload through the gateway.
async fn upload(client: &reqwest::Client, address: &str, payload: &Bytes) -> Outcome {
    let start = Instant::now();
    let status = match client
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
    };
    Outcome {
        status,
        start,
        end: Instant::now(),
    }
}

/// One PUT of the same bytes straight to the S3 server.
async fn put_direct(client: &aws_sdk_s3::Client, key: String, payload: &Bytes) -> Outcome {
    let start = Instant::now();
    let status = match client
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .content_type("application/octet-stream")
        .body(ByteStream::from(payload.clone()))
        .send()
        .await
    {
        Ok(_) => 200,
        Err(e) => {
            eprintln!("direct PUT failed: {e:?}");
            0
        }
    };
    Outcome {
        status,
        start,
        end: Instant::now(),
    }
}

/// Runs `count` operations with at most `concurrency` in flight; their outcomes and the wall time.
async fn run<F, Fut>(count: usize, concurrency: usize, op: F) -> (Vec<Outcome>, Duration)
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let started = Instant::now();
    let outcomes = futures_util::stream::iter(0..count)
        .map(op)
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await;
    (outcomes, started.elapsed())
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

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    Gateway,
    Direct,
}

/// Where a request's time went, from the client's and the S3 server's clocks: before the S3
/// server started on its PUT, the PUT itself (body included), after the PUT until the response.
#[derive(Default, Clone, Copy)]
struct Split {
    before: Duration,
    put: Duration,
    after: Duration,
    samples: u32,
}

impl Split {
    /// Pairs each request with the one S3 PUT that started during it (sequential runs only).
    fn add(&mut self, outcomes: &[Outcome], puts: &[PutTiming]) {
        for o in outcomes {
            let mut during = puts
                .iter()
                .filter(|p| p.start >= o.start && p.start <= o.end);
            let (Some(put), None) = (during.next(), during.next()) else {
                continue;
            };
            self.before += put.start - o.start;
            self.put += put.end - put.start;
            self.after += o.end.saturating_duration_since(put.end);
            self.samples += 1;
        }
    }

    fn mean_ms(&self) -> (f64, f64, f64) {
        let n = f64::from(self.samples.max(1));
        (ms(self.before) / n, ms(self.put) / n, ms(self.after) / n)
    }
}

/// Every run of one path at one concurrency, across the rounds.
struct Tally {
    path: Route,
    concurrency: usize,
    files: usize,
    elapsed: Duration,
    gateway_cpu: f64,
    latencies: Vec<Duration>,
    round_rates: Vec<f64>,
    split: Split,
}

impl Tally {
    fn new(path: Route, concurrency: usize) -> Self {
        Self {
            path,
            concurrency,
            files: 0,
            elapsed: Duration::ZERO,
            gateway_cpu: 0.0,
            latencies: Vec::new(),
            round_rates: Vec::new(),
            split: Split::default(),
        }
    }

    fn rate(&self) -> f64 {
        throughput(self.files, self.elapsed)
    }
}

struct Bench {
    s3_server: S3Server,
    gateway: Gateway,
    http: reqwest::Client,
    s3: aws_sdk_s3::Client,
    payload: Bytes,
}

impl Bench {
    /// One measurement: `THROUGHPUT_UPLOADS` files along `tally.path`, then the objects it stored
    /// are checked and removed (so that writeback of earlier runs does not weigh on later ones).
    async fn measure(&self, tally: &mut Tally) {
        let concurrency = tally.concurrency;
        let cpu_before = self.gateway.cpu_seconds();
        let since = Instant::now();
        let (outcomes, elapsed) = match tally.path {
            Route::Gateway => {
                run(THROUGHPUT_UPLOADS, concurrency, |_| {
                    upload(&self.http, &self.gateway.address, &self.payload)
                })
                .await
            }
            Route::Direct => {
                run(THROUGHPUT_UPLOADS, concurrency, |i| {
                    put_direct(
                        &self.s3,
                        format!("direct/c{concurrency}/{i}"),
                        &self.payload,
                    )
                })
                .await
            }
        };
        let expected = if tally.path == Route::Gateway {
            201
        } else {
            200
        };
        let statuses: Vec<u16> = outcomes.iter().map(|o| o.status).collect();
        assert!(
            statuses.iter().all(|s| *s == expected),
            "every upload stored (statuses: {statuses:?})"
        );
        tally.gateway_cpu += self.gateway.cpu_seconds() - cpu_before;
        tally.files += THROUGHPUT_UPLOADS;
        tally.elapsed += elapsed;
        tally
            .round_rates
            .push(throughput(THROUGHPUT_UPLOADS, elapsed));
        tally
            .latencies
            .extend(outcomes.iter().map(|o| o.end - o.start));
        if concurrency == 1 {
            tally
                .split
                .add(&outcomes, &self.s3_server.puts_since(since));
        }
        let (_, objects) = self.s3_server.take_stored();
        assert_eq!(objects, THROUGHPUT_UPLOADS, "every upload is in the bucket");
    }

    async fn memory(&self) -> Memory {
        let gateway = &self.gateway;
        let hwm_before_kib = gateway.status_kib("VmHWM");
        let peak_reset = gateway.reset_peak();
        let sampler = RssSampler::start(gateway.pid);
        let (outcomes, elapsed) = run(MEMORY_UPLOADS, MEMORY_UPLOADS, |_| {
            upload(&self.http, &gateway.address, &self.payload)
        })
        .await;
        let sampled_max_kib = sampler.finish();
        let hwm_kib = gateway.status_kib("VmHWM");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rss_after_kib = gateway.status_kib("VmRSS");
        let mut statuses = HashMap::new();
        for o in &outcomes {
            *statuses.entry(o.status).or_insert(0) += 1;
        }
        let (_, stored_objects) = self.s3_server.take_stored();
        Memory {
            statuses,
            elapsed,
            latencies: outcomes.iter().map(|o| o.end - o.start).collect(),
            hwm_before_kib,
            peak_reset,
            hwm_kib,
            sampled_max_kib,
            rss_after_kib,
            stored_objects,
        }
    }
}

struct Memory {
    statuses: HashMap<u16, usize>,
    elapsed: Duration,
    latencies: Vec<Duration>,
    hwm_before_kib: Option<u64>,
    peak_reset: bool,
    hwm_kib: Option<u64>,
    sampled_max_kib: u64,
    rss_after_kib: Option<u64>,
    stored_objects: usize,
}

async fn bench(hostile_only: bool) {
    let s3_server = S3Server::start().await;
    let hostile = hostile_phase(&s3_server).await;
    if hostile_only {
        println!();
        report_hostile(&hostile);
        return;
    }
    let gateway = Gateway::start(&s3_server.endpoint).await;
    let bench = Bench {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(MEMORY_UPLOADS)
            .build()
            .expect("http client"),
        s3: s3_client(&s3_server.endpoint),
        payload: pdf(FILE_BYTES),
        s3_server,
        gateway,
    };
    let idle_rss_kib = bench.gateway.status_kib("VmRSS");
    warm_up(&bench).await;

    let mut tallies: Vec<(Tally, Tally)> = THROUGHPUT_CONCURRENCY
        .iter()
        .map(|&c| (Tally::new(Route::Gateway, c), Tally::new(Route::Direct, c)))
        .collect();
    for round in 0..ROUNDS {
        for (gateway, direct) in &mut tallies {
            // Alternate which path goes first, so neither always follows the other.
            if round % 2 == 0 {
                bench.measure(gateway).await;
                bench.measure(direct).await;
            } else {
                bench.measure(direct).await;
                bench.measure(gateway).await;
            }
        }
    }
    let memory = bench.memory().await;
    let Bench { gateway, .. } = bench;
    gateway.stop().await;
    report(&tallies, &memory, idle_rss_kib);
    report_hostile(&hostile);
}

// ---------------------------------------------------------------------------------------------
// Hostile requests
// ---------------------------------------------------------------------------------------------

/// One kind of hostile request: a file under a field, for a service.
struct HostileKind {
    what: &'static str,
    field: &'static str,
    service: &'static str,
    filename: &'static str,
    bytes: Bytes,
}

fn hostile_kinds() -> Vec<HostileKind> {
    const MIB: u32 = 1024 * 1024;
    let lying_stream = bombs::repeated_deflate(b'a', 60);
    let text = vec![b'a'; 60 * MIB as usize];
    vec![
        HostileKind {
            what: "deflated .dcm inflating to 256 MiB",
            field: "image",
            service: "records_and_images_review",
            filename: "ct.dcm",
            bytes: Bytes::from(bombs::deflated_dicom(256)),
        },
        HostileKind {
            what: "CD export of 250 deflated DICOM, 4 MiB each",
            field: "image",
            service: "records_and_images_review",
            filename: "cd.zip",
            bytes: Bytes::from(bombs::deflated_dicom_cd(250, 4)),
        },
        HostileKind {
            what: "zip entry of 60 MiB whose header claims 1 MiB compressed",
            field: "report",
            service: "records_review",
            filename: "notes.zip",
            bytes: Bytes::from(bombs::zip_with_raw_entry(
                "notes.txt",
                &lying_stream,
                MIB,
                60 * MIB,
                crc32fast::hash(&text),
            )),
        },
    ]
}

fn hostile_form(kind: &HostileKind) -> Form {
    let part = Part::stream_with_length(
        reqwest::Body::from(kind.bytes.clone()),
        kind.bytes.len() as u64,
    )
    .file_name(kind.filename);
    Form::new()
        .text("full_name", "Amelia Zanzibar-Quint")
        .text("email", "amelia.quint@example.org")
        .text("service", kind.service)
        .text("condition", "A second opinion on my CT.")
        .text("terms_accepted", "true")
        .part(kind.field, part)
}

async fn send_hostile(client: &reqwest::Client, address: &str, kind: &HostileKind) -> u16 {
    match client
        .post(format!("{address}/api/v1/requests"))
        .multipart(hostile_form(kind))
        .send()
        .await
    {
        Ok(response) => {
            let status = response.status().as_u16();
            let _ = response.bytes().await;
            status
        }
        Err(e) => {
            eprintln!("hostile request failed: {e}");
            0
        }
    }
}

struct HostileResult {
    what: &'static str,
    size: usize,
    status: u16,
    cpu_seconds: f64,
    at_once_statuses: Vec<u16>,
    at_once_peak_kib: Option<u64>,
    peak_reset: bool,
}

struct Hostile {
    baseline_cpu_seconds: f64,
    idle_rss_kib: Option<u64>,
    results: Vec<HostileResult>,
}

/// Each hostile kind once (CPU), then `HOSTILE_AT_ONCE` at once (peak RSS), on a fresh gateway;
/// honest uploads on the same gateway give the CPU baseline.
async fn hostile_phase(s3_server: &S3Server) -> Hostile {
    let gateway = Gateway::start(&s3_server.endpoint).await;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(HOSTILE_AT_ONCE)
        .build()
        .expect("http client");
    let payload = pdf(FILE_BYTES);
    let idle_rss_kib = gateway.status_kib("VmRSS");
    // Warm: connections, SQLite, the first PUT.
    assert_eq!(upload(&http, &gateway.address, &payload).await.status, 201);
    let before = gateway.cpu_seconds();
    for _ in 0..BASELINE_UPLOADS {
        assert_eq!(upload(&http, &gateway.address, &payload).await.status, 201);
    }
    #[allow(clippy::cast_precision_loss)]
    let baseline_cpu_seconds = (gateway.cpu_seconds() - before) / BASELINE_UPLOADS as f64;
    s3_server.take_stored();

    let mut results = Vec::new();
    for kind in hostile_kinds() {
        let before = gateway.cpu_seconds();
        let mut status = 0;
        for _ in 0..BASELINE_UPLOADS {
            status = send_hostile(&http, &gateway.address, &kind).await;
        }
        #[allow(clippy::cast_precision_loss)]
        let cpu_seconds = (gateway.cpu_seconds() - before) / BASELINE_UPLOADS as f64;
        let peak_reset = gateway.reset_peak();
        let at_once_statuses: Vec<u16> = futures_util::future::join_all(
            (0..HOSTILE_AT_ONCE).map(|_| send_hostile(&http, &gateway.address, &kind)),
        )
        .await;
        results.push(HostileResult {
            what: kind.what,
            size: kind.bytes.len(),
            status,
            cpu_seconds,
            at_once_statuses,
            at_once_peak_kib: gateway.status_kib("VmHWM"),
            peak_reset,
        });
    }
    let (_, stored) = s3_server.take_stored();
    assert_eq!(stored, 0, "no hostile request left a blob");
    gateway.stop().await;
    Hostile {
        baseline_cpu_seconds,
        idle_rss_kib,
        results,
    }
}

fn report_hostile(hostile: &Hostile) {
    println!(
        "  hostile requests (a gateway of their own, idle RSS {}): baseline: an honest {} MiB \
         request costs {:.0} ms of gateway CPU",
        hostile
            .idle_rss_kib
            .map_or_else(|| "?".into(), |k| format!("{:.0} MiB", kib_to_mib(k))),
        FILE_BYTES / (1024 * 1024),
        hostile.baseline_cpu_seconds * 1000.0,
    );
    for r in &hostile.results {
        let peak = r.at_once_peak_kib.map(kib_to_mib);
        println!(
            "    {} ({} KiB): {}, {:.0} ms of gateway CPU = {:.2} x baseline (target <= {} s) {}; \
             {HOSTILE_AT_ONCE} at once: statuses {:?}, gateway peak RSS {}{} (target <= \
             {HOSTILE_RSS_TARGET_MIB} MiB) {}",
            r.what,
            r.size / 1024,
            r.status,
            r.cpu_seconds * 1000.0,
            r.cpu_seconds / hostile.baseline_cpu_seconds.max(0.001),
            HOSTILE_CPU_TARGET_SECONDS,
            verdict(r.status == 422 && r.cpu_seconds <= HOSTILE_CPU_TARGET_SECONDS),
            r.at_once_statuses,
            peak.map_or_else(|| "unknown".into(), |p| format!("{p:.0} MiB")),
            if r.peak_reset { "" } else { " (lifetime peak)" },
            verdict(
                r.at_once_statuses.iter().all(|s| *s == 422)
                    && peak.is_some_and(|p| p <= HOSTILE_RSS_TARGET_MIB)
            ),
        );
    }
}

/// Connections, SQLite, the SDK's first request; and a check of the receipt.
async fn warm_up(bench: &Bench) {
    let response = bench
        .http
        .post(format!("{}/api/v1/requests", bench.gateway.address))
        .multipart(request_form(&bench.payload))
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
    for i in 0..2 {
        let o = upload(&bench.http, &bench.gateway.address, &bench.payload).await;
        assert_eq!(o.status, 201);
        let o = put_direct(&bench.s3, format!("warmup/{i}"), &bench.payload).await;
        assert_eq!(o.status, 200);
    }
    let (bytes, objects) = bench.s3_server.take_stored();
    assert_eq!(objects, 5, "warm-up objects");
    assert!(bytes >= 5 * FILE_BYTES as u64, "whole objects");
}

fn report(tallies: &[(Tally, Tally)], memory: &Memory, idle_rss_kib: Option<u64>) {
    let size = FILE_BYTES / (1024 * 1024);
    println!();
    println!(
        "ingest benchmark: {size} MiB PDF files (= intake.max_file_bytes), S3 server (s3s-fs) \
         over loopback; {ROUNDS} rounds x {THROUGHPUT_UPLOADS} files per path and concurrency"
    );
    let mut worst_ratio = f64::INFINITY;
    for (gateway, direct) in tallies {
        let (g, d) = (gateway.rate(), direct.rate());
        let ratio = g / d;
        worst_ratio = worst_ratio.min(ratio);
        let round_ratios: Vec<String> = gateway
            .round_rates
            .iter()
            .zip(&direct.round_rates)
            .map(|(g, d)| format!("{:.2}", g / d))
            .collect();
        println!(
            "  {c} in flight: gateway: {gn} x {size} MiB in {:.2} s = {g:.1} MiB/s; direct S3 PUT: \
             {dn} x {size} MiB in {:.2} s = {d:.1} MiB/s; ratio {ratio:.2} (target >= {RATIO_TARGET}) \
             {}",
            gateway.elapsed.as_secs_f64(),
            direct.elapsed.as_secs_f64(),
            verdict(ratio >= RATIO_TARGET),
            c = gateway.concurrency,
            gn = gateway.files,
            dn = direct.files,
        );
        #[allow(clippy::cast_precision_loss)]
        let cpu_per_file = gateway.gateway_cpu / gateway.files as f64 * 1000.0;
        println!(
            "      per-round ratios [{}]; median latency gateway {:.1} ms, direct {:.1} ms; \
             gateway process CPU {cpu_per_file:.1} ms per file",
            round_ratios.join(", "),
            ms(median(gateway.latencies.clone())),
            ms(median(direct.latencies.clone())),
        );
        if gateway.split.samples > 0 && direct.split.samples > 0 {
            let (gb, gp, ga) = gateway.split.mean_ms();
            let (db, dp, da) = direct.split.mean_ms();
            println!(
                "      mean per file, gateway: {gb:.1} ms until the S3 server starts its PUT \
                 (receive the form, inspect, SHA-256, seal, sign), {gp:.1} ms S3 PUT, {ga:.1} ms \
                 after it (SQL commit, response); direct: {db:.1} ms until the PUT starts \
                 (sign), {dp:.1} ms S3 PUT, {da:.1} ms after"
            );
        }
    }
    report_memory(memory, idle_rss_kib);
    let peak = memory.hwm_kib.map(kib_to_mib);
    println!(
        "  summary: worst gateway/direct ratio {worst_ratio:.2} (target >= {RATIO_TARGET}), \
         peak RSS {} with {MEMORY_UPLOADS} in flight (target <= {RSS_TARGET_MIB} MiB)",
        peak.map_or_else(|| "unknown".into(), |p| format!("{p:.0} MiB")),
    );
}

fn report_memory(memory: &Memory, idle_rss_kib: Option<u64>) {
    let size = FILE_BYTES / (1024 * 1024);
    let mut statuses: Vec<_> = memory.statuses.iter().collect();
    statuses.sort();
    let statuses = statuses
        .iter()
        .map(|(status, count)| format!("{count} x {status}"))
        .collect::<Vec<_>>()
        .join(", ");
    let peak = memory.hwm_kib.map(kib_to_mib);
    let created = memory.statuses.get(&201).copied().unwrap_or(0);
    println!(
        "  {MEMORY_UPLOADS} uploads of {size} MiB in flight: {statuses} in {:.2} s ({:.1} MiB/s, \
         slowest {:.0} ms), {} objects in the bucket; gateway peak RSS {} \
         (target <= {RSS_TARGET_MIB} MiB) {}",
        memory.elapsed.as_secs_f64(),
        throughput(MEMORY_UPLOADS, memory.elapsed),
        ms(memory.latencies.iter().max().copied().unwrap_or_default()),
        memory.stored_objects,
        peak.map_or_else(|| "unknown".into(), |p| format!("{p:.0} MiB")),
        verdict(
            created == MEMORY_UPLOADS
                && memory.stored_objects == created
                && peak.is_some_and(|p| p <= RSS_TARGET_MIB)
        ),
    );
    let show =
        |kib: Option<u64>| kib.map_or_else(|| "?".into(), |k| format!("{:.0} MiB", kib_to_mib(k)));
    println!(
        "      gateway RSS: idle {}, VmHWM before this phase {}, VmHWM of this phase {}{}, \
         largest VmRSS sampled {:.0} MiB, VmRSS 0.5 s after {}",
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
}

fn verdict(ok: bool) -> &'static str {
    if ok { "[ok]" } else { "[MISSED]" }
}
