//! Progress of a push: bars on a terminal (overall and per file, with rate and ETA), plain numbered
//! lines otherwise (on stderr when the report goes to stdout).

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{StreamExt, stream};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::UPLOAD_CHUNK;

/// Bars on a terminal; plain lines (one per event) when output goes to a file or a pipe.
pub(super) struct Progress {
    multi: Option<MultiProgress>,
    overall: ProgressBar,
    total_docs: usize,
    done: AtomicUsize,
    to_stderr: bool,
}

impl Progress {
    pub(super) fn new(total_docs: usize, total_bytes: u64, json: bool) -> Self {
        let terminal = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
        let (multi, overall) = if terminal {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let overall = multi.add(ProgressBar::new(total_bytes));
            overall.set_style(
                ProgressStyle::with_template(
                    "{msg:>20} [{wide_bar}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            overall.set_message(format!("0/{total_docs} documents"));
            overall.enable_steady_tick(Duration::from_millis(200));
            (Some(multi), overall)
        } else {
            (None, ProgressBar::hidden())
        };
        Self {
            multi,
            overall,
            total_docs,
            done: AtomicUsize::new(0),
            to_stderr: json,
        }
    }

    pub(super) fn line(&self, text: &str) {
        let numbered = format!(
            "[{:>w$}/{}] {text}",
            self.done.load(Ordering::Relaxed),
            self.total_docs,
            w = self.total_docs.to_string().len()
        );
        match &self.multi {
            Some(multi) => {
                let _ = multi.println(numbered);
            }
            None if self.to_stderr => eprintln!("{numbered}"),
            None => println!("{numbered}"),
        }
    }

    pub(super) fn file_bar(&self, label: &str, size: u64) -> ProgressBar {
        let Some(multi) = &self.multi else {
            return ProgressBar::hidden();
        };
        let bar = multi.insert_before(&self.overall, ProgressBar::new(size));
        bar.set_style(
            ProgressStyle::with_template(
                "  {msg:40!} [{bar:20}] {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec:>12} ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message(label.to_owned());
        bar
    }

    /// The body of one attempt, moving the file's bar and the overall bar as it is sent.
    pub(super) fn body(
        &self,
        bytes: &Bytes,
        bar: &ProgressBar,
        sent: &Arc<AtomicU64>,
    ) -> reqwest::Body {
        let (bar, overall, sent) = (bar.clone(), self.overall.clone(), Arc::clone(sent));
        let chunks: Vec<Bytes> = (0..bytes.len())
            .step_by(UPLOAD_CHUNK)
            .map(|start| bytes.slice(start..(start + UPLOAD_CHUNK).min(bytes.len())))
            .collect();
        reqwest::Body::wrap_stream(stream::iter(chunks).map(move |chunk| {
            let n = chunk.len() as u64;
            bar.inc(n);
            overall.inc(n);
            sent.fetch_add(n, Ordering::Relaxed);
            Ok::<_, std::io::Error>(chunk)
        }))
    }

    /// Takes back the bytes of an attempt that did not succeed.
    pub(super) fn unsend(&self, bytes: u64) {
        self.overall
            .set_position(self.overall.position().saturating_sub(bytes));
    }

    /// One document settled; `skipped_bytes` are counted as done without being sent.
    pub(super) fn document_done(&self, skipped_bytes: u64) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        self.overall.inc(skipped_bytes);
        self.overall
            .set_message(format!("{done}/{} documents", self.total_docs));
    }

    pub(super) fn finish(&self) {
        self.overall.finish_and_clear();
    }
}
