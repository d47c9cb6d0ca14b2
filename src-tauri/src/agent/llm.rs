//! The LLM adapter: the only module talking to LLM APIs (through reqwest). The Anthropic
//! Messages API and OpenAI-compatible `/v1/chat/completions`, each asked for a structured
//! answer through a forced tool call. Retries 429 (after its `retry-after`), 500, 502, 503,
//! 504 and 529 with backoff, never other 4xx; the whole call is bounded by `timeout_seconds`.
//! The API key never appears in a log line, an error or Debug output.

use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use serde_json::{json, Value};

use crate::config::{self, Provider};

/// The tool the model is made to call.
pub const TOOL_NAME: &str = "record_diagnosis";
/// The Messages API version sent in `anthropic-version`.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// The keychain service under which the key may be stored (account = `api_key_env`).
pub const KEYCHAIN_SERVICE: &str = crate::agent::keychain::SERVICE;
const MAX_TOKENS: u32 = 1024;
/// Items kept from each list of the answer.
const MAX_ITEMS: usize = 20;

/// An API key. Its Debug form hides it; only the HTTP header sees it.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: String) -> Self {
        Self(key)
    }

    /// The key itself, for the request header and for the redactor.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey([hidden])")
    }
}

/// The model's structured answer, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub summary: String,
    pub root_cause: String,
    pub confidence: f64,
    pub evidence: Vec<String>,
    pub suggested_actions: Vec<String>,
}

/// Why there is no answer. Never holds the key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    #[error("the {provider} API answered HTTP {status}{kind}: {message}{request}{attempts}")]
    Http {
        provider: &'static str,
        status: u16,
        kind: String,
        message: String,
        request: String,
        attempts: String,
    },
    #[error("could not reach the {provider} API at {url}: {message}")]
    Transport {
        provider: &'static str,
        url: String,
        message: String,
    },
    #[error("no answer from the {provider} API within {seconds} s ([diagnosis] timeout_seconds)")]
    Timeout {
        provider: &'static str,
        seconds: u64,
    },
    #[error("the {provider} API's answer was malformed: {what}{request}")]
    Malformed {
        provider: &'static str,
        what: String,
        request: String,
    },
    #[error("{0}")]
    Setup(String),
}

/// The JSON schema of the answer.
pub fn answer_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "summary": {"type": "string", "description": "One sentence: what is wrong."},
            "root_cause": {"type": "string", "description": "The most likely root cause."},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1,
                           "description": "How sure, from 0 to 1."},
            "evidence": {"type": "array", "items": {"type": "string"},
                         "description": "Lines from the input that support the root cause."},
            "suggested_actions": {"type": "array", "items": {"type": "string"},
                                  "description": "Safe next steps; nothing that deletes volumes, images or data."}
        },
        "required": ["summary", "root_cause", "confidence", "evidence", "suggested_actions"]
    })
}

const TOOL_DESCRIPTION: &str = "Record the diagnosis of the failing container.";

/// The endpoint's base, without a trailing `/` or `/v1`.
pub fn base_url(settings: &config::Diagnosis) -> String {
    let base = match (settings.base_url.trim(), settings.provider) {
        ("", Provider::OpenaiCompatible) => "http://localhost:11434",
        ("", _) => "https://api.anthropic.com",
        (b, _) => b,
    };
    let base = base.trim_end_matches('/');
    base.strip_suffix("/v1").unwrap_or(base).to_string()
}

/// Finds the API key: the environment variable named by `api_key_env`, then the OS keychain
/// (service `sickbay`, account = that name). Anthropic needs one: without it the error says
/// where Sickbay looked. An OpenAI-compatible server may need none (a local Ollama).
pub async fn find_key(settings: &config::Diagnosis) -> Result<Option<ApiKey>, String> {
    Ok(find_key_and_source(settings).await?.map(|(key, _)| key))
}

/// What `sickbay doctor` says about the LLM diagnosis: provider, model, where the key was
/// found (never the key). `Err` when it cannot work as configured.
pub async fn describe(settings: &config::Diagnosis) -> Result<String, String> {
    if settings.provider == Provider::Off {
        return Ok("LLM diagnosis off: offline signatures only".into());
    }
    let key = match find_key_and_source(settings).await? {
        Some((_, source)) => format!("key from {source}"),
        None => format!(
            "no key ({} not set; none needed locally)",
            settings.api_key_env
        ),
    };
    Ok(format!(
        "LLM diagnosis: {} at {}, model {}, {key}",
        settings.provider.as_str(),
        base_url(settings),
        settings.model
    ))
}

async fn find_key_and_source(
    settings: &config::Diagnosis,
) -> Result<Option<(ApiKey, String)>, String> {
    let name = settings.api_key_env.as_str();
    if let Ok(v) = std::env::var(name) {
        if !v.trim().is_empty() {
            let source = format!("the environment variable {name}");
            return Ok(Some((ApiKey(v.trim().to_string()), source)));
        }
    }
    let keychain = keychain_lookup(name).await;
    match keychain {
        Ok(Some(k)) => Ok(Some((
            ApiKey(k),
            format!("the OS keychain (service `{KEYCHAIN_SERVICE}`, account `{name}`)"),
        ))),
        _ if settings.provider != Provider::Anthropic => Ok(None),
        Ok(None) => Err(format!(
            "no API key for the LLM diagnosis: the environment variable {name} is not set and \
             the OS keychain has no entry for service `{KEYCHAIN_SERVICE}`, account `{name}` \
             ([diagnosis] api_key_env names the variable; provider = \"off\" silences this)"
        )),
        Err(why) => Err(format!(
            "no API key for the LLM diagnosis: the environment variable {name} is not set and \
             the OS keychain could not be read ({why}) ([diagnosis] api_key_env names the \
             variable; provider = \"off\" silences this)"
        )),
    }
}

/// [`keychain::lookup`] off the async runtime.
async fn keychain_lookup(account: &str) -> Result<Option<String>, String> {
    let account = account.to_string();
    tokio::task::spawn_blocking(move || crate::agent::keychain::lookup(&account))
        .await
        .unwrap_or_else(|e| Err(format!("the keychain lookup failed: {e}")))
}

/// Asks the configured provider for a diagnosis. Time-bounded by `timeout_seconds`.
pub async fn ask(
    settings: &config::Diagnosis,
    key: Option<&ApiKey>,
    system: &str,
    user: &str,
) -> Result<Answer, LlmError> {
    let provider = settings.provider.as_str();
    let seconds = settings.timeout_seconds;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    match tokio::time::timeout(
        Duration::from_secs(seconds),
        ask_with_retries(settings, key, system, user, deadline),
    )
    .await
    {
        Ok(result) => result,
        Err(_) => Err(LlmError::Timeout { provider, seconds }),
    }
}

/// What one HTTP exchange gave.
struct Exchange {
    status: u16,
    request_id: Option<String>,
    retry_after: Option<Duration>,
    body: String,
}

async fn ask_with_retries(
    settings: &config::Diagnosis,
    key: Option<&ApiKey>,
    system: &str,
    user: &str,
    deadline: Instant,
) -> Result<Answer, LlmError> {
    let provider = settings.provider.as_str();
    let (url, headers, body) = build_request(settings, key, system, user)?;
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| LlmError::Setup(format!("cannot build the HTTP client: {e}")))?;
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        let x = send(&client, &url, &headers, &body)
            .await
            .map_err(|message| LlmError::Transport {
                provider,
                url: url.clone(),
                message,
            })?;
        let request = x
            .request_id
            .as_ref()
            .map(|id| format!(" (request-id {id})"))
            .unwrap_or_default();
        tracing::info!(
            provider,
            status = x.status,
            request_id = x.request_id.as_deref().unwrap_or("-"),
            attempt,
            "LLM diagnosis answer"
        );
        if (200..300).contains(&x.status) {
            let value: Value = serde_json::from_str(&x.body).map_err(|e| LlmError::Malformed {
                provider,
                what: format!("the body is not JSON ({e})"),
                request: request.clone(),
            })?;
            let extracted = match settings.provider {
                Provider::OpenaiCompatible => openai_answer(&value),
                _ => anthropic_answer(&value),
            };
            return extracted
                .and_then(|v| parse_answer(&v))
                .map_err(|what| LlmError::Malformed {
                    provider,
                    what,
                    request,
                });
        }
        let (kind, message, code) = error_fields(&x.body);
        let retryable = matches!(x.status, 429 | 500 | 502 | 503 | 504 | 529)
            && code.as_deref() != Some("enforced_spend_limit_reached");
        let wait = x.retry_after.unwrap_or_else(|| backoff(attempt));
        let fail = |attempts: String| LlmError::Http {
            provider,
            status: x.status,
            kind: kind.as_ref().map(|k| format!(" ({k})")).unwrap_or_default(),
            message: message.clone(),
            request: request.clone(),
            attempts,
        };
        if !retryable {
            return Err(fail(String::new()));
        }
        if attempt > settings.max_retries {
            return Err(fail(format!(", after {attempt} attempts")));
        }
        if Instant::now() + wait >= deadline {
            return Err(fail(format!(
                ", and waiting {} s more for a retry would pass timeout_seconds",
                wait.as_secs_f64().ceil()
            )));
        }
        tracing::info!(
            provider,
            status = x.status,
            wait_ms = wait.as_millis() as u64,
            attempt,
            "retrying the LLM call"
        );
        tokio::time::sleep(wait).await;
    }
}

/// 1 s, 2 s, 4 s, ... up to 20 s, ±20 % jitter.
fn backoff(attempt: u32) -> Duration {
    let base = 1000u64 << attempt.saturating_sub(1).min(5);
    let ms = base.min(20_000) as f64 * (0.8 + 0.4 * fastrand::f64());
    Duration::from_millis(ms as u64)
}

async fn send(
    client: &reqwest::Client,
    url: &str,
    headers: &HeaderMap,
    body: &Value,
) -> Result<Exchange, String> {
    let resp = client
        .post(url)
        .headers(headers.clone())
        .json(body)
        .send()
        .await
        .map_err(|e| error_chain(&e))?;
    let status = resp.status().as_u16();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let request_id = header("request-id").or_else(|| header("x-request-id"));
    let retry_after = header("retry-after")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64);
    let body = resp.text().await.map_err(|e| error_chain(&e))?;
    Ok(Exchange {
        status,
        request_id,
        retry_after,
        body,
    })
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

/// The URL, headers and body for the provider.
fn build_request(
    settings: &config::Diagnosis,
    key: Option<&ApiKey>,
    system: &str,
    user: &str,
) -> Result<(String, HeaderMap, Value), LlmError> {
    let base = base_url(settings);
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let secret_header = |value: String| {
        HeaderValue::from_str(&value)
            .map(|mut v| {
                v.set_sensitive(true);
                v
            })
            .map_err(|_| {
                LlmError::Setup(format!(
                    "the API key from {} holds characters an HTTP header cannot carry",
                    settings.api_key_env
                ))
            })
    };
    match settings.provider {
        Provider::OpenaiCompatible => {
            if let Some(k) = key {
                headers.insert(
                    reqwest::header::AUTHORIZATION,
                    secret_header(format!("Bearer {}", k.expose()))?,
                );
            }
            let body = json!({
                "model": settings.model,
                "max_tokens": MAX_TOKENS,
                "messages": [
                    {"role": "system", "content": system},
                    {"role": "user", "content": user},
                ],
                "tools": [{
                    "type": "function",
                    "function": {
                        "name": TOOL_NAME,
                        "description": TOOL_DESCRIPTION,
                        "parameters": answer_schema(),
                    }
                }],
                "tool_choice": {"type": "function", "function": {"name": TOOL_NAME}},
            });
            Ok((format!("{base}/v1/chat/completions"), headers, body))
        }
        _ => {
            let k = key.ok_or_else(|| {
                LlmError::Setup(format!(
                    "no API key for the anthropic API (looked in {})",
                    settings.api_key_env
                ))
            })?;
            headers.insert("x-api-key", secret_header(k.expose().to_string())?);
            headers.insert(
                "anthropic-version",
                HeaderValue::from_static(ANTHROPIC_VERSION),
            );
            let body = json!({
                "model": settings.model,
                "max_tokens": MAX_TOKENS,
                "system": system,
                "messages": [{"role": "user", "content": user}],
                "tools": [{
                    "name": TOOL_NAME,
                    "description": TOOL_DESCRIPTION,
                    "input_schema": answer_schema(),
                }],
                "tool_choice": {"type": "tool", "name": TOOL_NAME},
            });
            Ok((format!("{base}/v1/messages"), headers, body))
        }
    }
}

/// `error.type`, `error.message` and `error.details.error_code` (or OpenAI's `error.code`)
/// of an error body; the body's start when it is not the documented shape.
fn error_fields(body: &str) -> (Option<String>, String, Option<String>) {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let err = &v["error"];
    let kind = err["type"].as_str().map(str::to_string);
    let code = err["details"]["error_code"]
        .as_str()
        .or_else(|| err["code"].as_str())
        .map(str::to_string);
    let message = match err["message"].as_str().or_else(|| err.as_str()) {
        Some(m) => crate::domain::redact::cap(m.trim(), 500),
        None if body.trim().is_empty() => "(empty body)".to_string(),
        None => crate::domain::redact::cap(body.trim(), 300),
    };
    (kind, message, code)
}

/// The forced tool call's input from a Messages API answer.
fn anthropic_answer(v: &Value) -> Result<Value, String> {
    let content = v["content"].as_array().ok_or("it has no `content` array")?;
    if let Some(block) = content
        .iter()
        .find(|b| b["type"] == "tool_use" && b["name"] == TOOL_NAME)
    {
        return Ok(block["input"].clone());
    }
    // A model that answered in text anyway: take the JSON in it, if any.
    let text: String = content
        .iter()
        .filter_map(|b| b["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n");
    json_in_text(&text).ok_or_else(|| {
        format!(
            "it has no `tool_use` block named `{TOOL_NAME}` (stop_reason: {})",
            v["stop_reason"].as_str().unwrap_or("none")
        )
    })
}

/// The forced function call's arguments from a chat completion, or the JSON in its content
/// when the server ignored the tools.
fn openai_answer(v: &Value) -> Result<Value, String> {
    let message = &v["choices"][0]["message"];
    if message.is_null() {
        return Err("it has no `choices[0].message`".into());
    }
    if let Some(call) = message["tool_calls"]
        .as_array()
        .and_then(|calls| calls.iter().find(|c| c["function"]["name"] == TOOL_NAME))
    {
        let args = &call["function"]["arguments"];
        return match args {
            Value::String(s) => serde_json::from_str(s)
                .map_err(|e| format!("the `{TOOL_NAME}` call's arguments are not JSON ({e})")),
            Value::Object(_) => Ok(args.clone()),
            _ => Err(format!("the `{TOOL_NAME}` call has no arguments")),
        };
    }
    let text = message["content"].as_str().unwrap_or("");
    json_in_text(text).ok_or_else(|| {
        "it has neither a `record_diagnosis` tool call nor a JSON object in its content".into()
    })
}

/// The first JSON object in free text (a model may wrap it in prose or a code fence).
fn json_in_text(text: &str) -> Option<Value> {
    let start = text.find('{')?;
    let end = text.rfind('}')?;
    if end <= start {
        return None;
    }
    serde_json::from_str::<Value>(&text[start..=end])
        .ok()
        .filter(Value::is_object)
}

/// Checks the answer's fields, naming the first one that is wrong.
pub fn parse_answer(v: &Value) -> Result<Answer, String> {
    if !v.is_object() {
        return Err(format!(
            "the answer is not a JSON object but {}",
            type_name(v)
        ));
    }
    let text = |field: &str| -> Result<String, String> {
        match &v[field] {
            Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
            Value::Null => Err(format!("field `{field}` is missing")),
            other => Err(format!(
                "field `{field}` must be a non-empty string, found {}",
                type_name(other)
            )),
        }
    };
    let list = |field: &str| -> Result<Vec<String>, String> {
        match &v[field] {
            Value::Array(items) => items
                .iter()
                .take(MAX_ITEMS)
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(s) => Ok(s.trim().to_string()),
                    other => Err(format!(
                        "field `{field}` item {i} must be a string, found {}",
                        type_name(other)
                    )),
                })
                .collect(),
            Value::Null => Err(format!("field `{field}` is missing")),
            other => Err(format!(
                "field `{field}` must be a list of strings, found {}",
                type_name(other)
            )),
        }
    };
    let confidence = match &v["confidence"] {
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::Null => return Err("field `confidence` is missing".into()),
        other => {
            return Err(format!(
                "field `confidence` must be a number from 0 to 1, found {}",
                type_name(other)
            ))
        }
    };
    if !(0.0..=1.0).contains(&confidence) {
        return Err(format!(
            "field `confidence` must be from 0 to 1, found {confidence}"
        ));
    }
    Ok(Answer {
        summary: text("summary")?,
        root_cause: text("root_cause")?,
        confidence,
        evidence: list("evidence")?,
        suggested_actions: list("suggested_actions")?,
    })
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> Value {
        json!({"summary": "s", "root_cause": "r", "confidence": 0.5,
               "evidence": ["e"], "suggested_actions": ["a"]})
    }

    #[test]
    fn a_good_answer_parses() {
        let a = parse_answer(&good()).expect("parses");
        assert_eq!(a.confidence, 0.5);
        assert_eq!(a.evidence, vec!["e"]);
    }

    #[test]
    fn a_malformed_answer_names_the_field() {
        let mut v = good();
        v["confidence"] = json!(7);
        assert!(parse_answer(&v).unwrap_err().contains("`confidence`"));
        let mut v = good();
        v.as_object_mut().expect("object").remove("root_cause");
        assert_eq!(
            parse_answer(&v).unwrap_err(),
            "field `root_cause` is missing"
        );
        let mut v = good();
        v["evidence"] = json!("one line");
        assert!(parse_answer(&v)
            .unwrap_err()
            .contains("`evidence` must be a list"));
        assert!(parse_answer(&json!([1]))
            .unwrap_err()
            .contains("not a JSON object"));
    }

    #[test]
    fn json_is_found_in_prose_and_fences() {
        let text = "Here you go:\n```json\n{\"a\": 1}\n```";
        assert_eq!(json_in_text(text), Some(json!({"a": 1})));
        assert_eq!(json_in_text("no json"), None);
    }

    #[test]
    fn the_base_url_defaults_per_provider_and_drops_v1() {
        let mut s = config::Diagnosis::default();
        assert_eq!(base_url(&s), "https://api.anthropic.com");
        s.provider = Provider::OpenaiCompatible;
        assert_eq!(base_url(&s), "http://localhost:11434");
        s.base_url = "http://gw.local:8080/v1/".into();
        assert_eq!(base_url(&s), "http://gw.local:8080");
    }

    #[test]
    fn the_key_is_hidden_in_debug() {
        let k = ApiKey::new("sk-ant-api03-verysecret".into());
        assert_eq!(format!("{k:?}"), "ApiKey([hidden])");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) <= Duration::from_millis(1200));
        assert!(backoff(3) >= Duration::from_millis(3200));
        assert!(backoff(30) <= Duration::from_millis(24_000));
    }
}
