//! The HTTP probe of `sickbay.health_url`: one GET, its status and response time.
//! The only importer of reqwest in the engine.

use std::time::{Duration, Instant};

/// What one probe saw.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeResult {
    /// The HTTP status, or `None` when nothing answered in time.
    pub status: Option<u16>,
    pub response_time_ms: f64,
    /// Why there was no answer.
    pub error: Option<String>,
}

/// Whether a probe's answer (`None`: none within the timeout) is a pass: a 2xx status.
pub fn answered_ok(status: Option<u16>) -> bool {
    status.is_some_and(|s| (200..300).contains(&s))
}

impl ProbeResult {
    /// A 2xx answer within the timeout.
    pub fn ok(&self) -> bool {
        answered_ok(self.status)
    }

    /// The log form: `status:503` or `status:timeout`.
    pub fn details(&self) -> String {
        match (self.status, &self.error) {
            (Some(s), _) => format!("status:{s} response_ms:{:.0}", self.response_time_ms),
            (None, Some(e)) if e.contains("timed out") => "status:timeout".to_string(),
            (None, _) => "status:unreachable".to_string(),
        }
    }
}

#[derive(Clone)]
pub struct Prober {
    client: reqwest::Client,
}

impl Prober {
    pub fn new(timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("sickbay/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self { client }
    }

    pub async fn probe(&self, url: &str) -> ProbeResult {
        let started = Instant::now();
        let result = self.client.get(url).send().await;
        let response_time_ms = started.elapsed().as_secs_f64() * 1000.0;
        match result {
            Ok(resp) => ProbeResult {
                status: Some(resp.status().as_u16()),
                response_time_ms,
                error: None,
            },
            Err(e) => ProbeResult {
                status: None,
                response_time_ms,
                error: Some(if e.is_timeout() {
                    "timed out".to_string()
                } else {
                    e.to_string()
                }),
            },
        }
    }
}
