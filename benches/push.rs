//! `cargo bench --bench push`: `consilium push` of a 30-case, 120-document manifest (a few KiB a
//! document) against one `consilium serve` process (SQLite + filesystem blobs in a temporary
//! directory), with `--jobs 1` and then `--jobs 8`. Each run gets its own copy of the manifest
//! (other external references), so both create and upload everything. Prints documents per second.
//! The per-key rate limit is lifted for the run (with the defaults, 20 requests a second after a
//! burst of 240, the second run would measure the limiter).
#![allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const CASES: usize = 30;

fn consilium(data: &Path, port: u16) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_consilium"));
    command
        .env("CONSILIUM__DATA_DIR", data.join("data"))
        .env("CONSILIUM__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("CONSILIUM__SERVER__METRICS_BIND", "127.0.0.1:0")
        .env("CONSILIUM__LOG__FILTER", "error")
        // Throughput, not the per-key rate limit, is measured here.
        .env("CONSILIUM__PARTNERS__REQUESTS_BURST", "100000")
        .env("CONSILIUM__PARTNERS__REQUESTS_PER_MINUTE", "1000000")
        .current_dir(data);
    command
}

fn pdf(size: usize) -> Vec<u8> {
    let mut bytes = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n%".to_vec();
    while bytes.len() < size - 1 {
        bytes.push(b'a' + (bytes.len() % 26) as u8);
    }
    bytes.push(b'\n');
    bytes
}

fn png(seed: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(24, 24, |x, y| {
        image::Rgb([
            (x * 9 + seed) as u8,
            (y * 7 + seed * 3) as u8,
            ((x ^ y) + seed * 11) as u8,
        ])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("png");
    out.into_inner()
}

/// The same shape as the API tests' manifest: four documents a case, all different.
fn manifest(dir: &Path, prefix: &str) -> PathBuf {
    let mut cases = Vec::new();
    for n in 0..CASES {
        let folder = format!("{prefix}-{n:04}");
        std::fs::create_dir_all(dir.join(&folder)).expect("dir");
        let documents = [
            (format!("{folder}/referral.pdf"), "report", pdf(3000 + n)),
            (
                format!("{folder}/notes.txt"),
                "report",
                format!("Notes {n}.\n{}", "Observation. ".repeat(100 + n)).into_bytes(),
            ),
            (format!("{folder}/scan.png"), "image", png(n as u32)),
            (
                format!("{folder}/guarantee letter.pdf"),
                "guarantee_letter",
                pdf(2000 + n),
            ),
        ];
        let mut listed = Vec::new();
        for (path, category, bytes) in documents {
            std::fs::write(dir.join(&path), bytes).expect("write");
            listed.push(json!({"path": path, "category": category}));
        }
        cases.push(json!({
            "external_reference": format!("{prefix}-{n:04}"),
            "full_name": format!("Bench Patient {n}"),
            "email": format!("bench{n}@example.org"),
            "service": "records_review",
            "condition": "Benchmark case.",
            "sponsor_reference": format!("LG-{n:04}"),
            "documents": listed,
        }));
    }
    let path = dir.join(format!("{prefix}.json"));
    std::fs::write(
        &path,
        serde_json::to_vec(&json!({"cases": cases})).expect("json"),
    )
    .expect("write");
    path
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let mut server: Child = consilium(dir.path(), port)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the server");
    let deadline = Instant::now() + Duration::from_mins(1);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = consilium(dir.path(), port)
        .args(["partner", "create-key", "--name", "bench", "--org", "bench"])
        .output()
        .expect("create key");
    let key = String::from_utf8_lossy(&out.stdout)
        .trim_end()
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned();

    println!(
        "consilium push: {CASES} cases, {} documents, one server (SQLite + fs)",
        CASES * 4
    );
    for (jobs, prefix) in [("1", "jobs1"), ("8", "jobs8")] {
        let manifest = manifest(dir.path(), prefix);
        let started = Instant::now();
        let out = consilium(dir.path(), port)
            .args([
                "push",
                "--server",
                &format!("http://127.0.0.1:{port}"),
                "--jobs",
                jobs,
                "--json",
            ])
            .arg(&manifest)
            .env("CONSILIUM_PARTNER_KEY", &key)
            .stderr(Stdio::null())
            .output()
            .expect("push");
        let wall = started.elapsed().as_secs_f64();
        let report: Value = serde_json::from_slice(&out.stdout).expect("report");
        let uploaded = report["summary"]["documents_uploaded"]
            .as_u64()
            .unwrap_or(0);
        assert!(
            out.status.success() && uploaded == (CASES * 4) as u64,
            "{report}"
        );
        println!(
            "  --jobs {jobs}: {uploaded} documents in {wall:.2} s = {:.1} documents/s (client's own measure {:.1}/s)",
            uploaded as f64 / wall,
            report["summary"]["documents_per_second"]
                .as_f64()
                .unwrap_or(0.0)
        );
    }
    let _ = server.kill();
    let _ = server.wait();
}
