//! TLS to the Postgres mirror as libpq means it, so that a URL `psql` accepts works here too.
//!
//! tokio-postgres knows only `disable`, `prefer` and `require`, and leaves verifying to the TLS
//! connector. libpq's six `sslmode`s are read off the connection string here and turned into a
//! tokio-postgres mode and a rustls verifier: `prefer` (the default), `allow` and `require`
//! encrypt without verifying (Debian and Ubuntu serve a self-signed "snakeoil" certificate), so
//! their verifier accepts any certificate but still checks the handshake's signatures;
//! `verify-ca` checks the chain, not the host name; `verify-full` checks both. Verifying is
//! against `sslrootcert=<file>` when given (and then only against it, as libpq does), else the
//! platform's trust store (`rustls-platform-verifier`; also `sslrootcert=system`). `require`
//! with an `sslrootcert` verifies like `verify-ca` (libpq). `allow` (plain text first, TLS when
//! the server refuses it) is the mirror's to carry out: see `Target::connect`.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// Plain text only.
    Disable,
    /// Plain text first; TLS (not verified) if the server refuses plain text.
    Allow,
    /// TLS (not verified) when the server offers it, else plain text. libpq's default.
    #[default]
    Prefer,
    /// TLS, not verified (unless `sslrootcert` is given: then as `VerifyCa`).
    Require,
    /// TLS, the certificate's chain verified, not its host name.
    VerifyCa,
    /// TLS, the certificate's chain and host name verified.
    VerifyFull,
}

impl SslMode {
    pub const ALL: [SslMode; 6] = [
        Self::Disable,
        Self::Allow,
        Self::Prefer,
        Self::Require,
        Self::VerifyCa,
        Self::VerifyFull,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Allow => "allow",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// The certificate is checked.
    pub fn verifies(self) -> bool {
        matches!(self, Self::VerifyCa | Self::VerifyFull)
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What certificates are trusted when one is verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCert {
    /// The platform's trust store (no `sslrootcert`, or `sslrootcert=system`).
    Platform,
    /// Only the certificates in this PEM file.
    File(PathBuf),
}

/// The connection string's TLS settings, as libpq reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    /// As written (default `prefer`, or `verify-full` with `sslrootcert=system`).
    pub mode: SslMode,
    pub root_cert: RootCert,
}

impl Default for TlsOptions {
    fn default() -> Self {
        Self {
            mode: SslMode::Prefer,
            root_cert: RootCert::Platform,
        }
    }
}

impl TlsOptions {
    /// Reads libpq's `sslmode` and `sslrootcert` values (`None`: not in the string). The error
    /// says what is wrong, for "the Postgres URL ...".
    pub fn from_values(mode: Option<&str>, root_cert: Option<&str>) -> Result<Self, String> {
        let parsed = match mode {
            None => None,
            Some(m) => Some(SslMode::parse(m).ok_or_else(|| {
                let known: Vec<&str> = SslMode::ALL.iter().map(|m| m.as_str()).collect();
                format!(
                    "sets an unknown sslmode `{m}`: use one of {}",
                    known.join(", ")
                )
            })?),
        };
        let root_cert = match root_cert {
            None => RootCert::Platform,
            Some("") => return Err("sets an empty sslrootcert (a PEM file)".into()),
            Some("system") => {
                // libpq: the system's store, and nothing weaker than verify-full.
                return match parsed {
                    None | Some(SslMode::VerifyFull) => Ok(Self {
                        mode: SslMode::VerifyFull,
                        root_cert: RootCert::Platform,
                    }),
                    Some(m) => Err(format!(
                        "sets sslmode={m} with sslrootcert=system, which needs \
                         sslmode=verify-full"
                    )),
                };
            }
            Some(path) => RootCert::File(PathBuf::from(path)),
        };
        Ok(Self {
            mode: parsed.unwrap_or_default(),
            root_cert,
        })
    }

    /// The mode carried out: libpq's `require` with an `sslrootcert` file verifies the chain.
    pub fn effective_mode(&self) -> SslMode {
        match (self.mode, &self.root_cert) {
            (SslMode::Require, RootCert::File(_)) => SslMode::VerifyCa,
            (m, _) => m,
        }
    }

    /// The rustls configuration for this mode: its verifier and the trusted certificates
    /// (the `sslrootcert` file is read here).
    pub fn client_config(&self) -> Result<rustls::ClientConfig, String> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier: Arc<dyn ServerCertVerifier> = match self.effective_mode() {
            SslMode::Disable | SslMode::Allow | SslMode::Prefer | SslMode::Require => {
                Arc::new(AnyCertificate(provider.clone()))
            }
            SslMode::VerifyCa => Arc::new(ChainOnly(self.verifier(&provider)?)),
            SslMode::VerifyFull => self.verifier(&provider)?,
        };
        Ok(rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth())
    }

    /// Checks the chain and the host name against the trusted certificates.
    fn verifier(
        &self,
        provider: &Arc<CryptoProvider>,
    ) -> Result<Arc<dyn ServerCertVerifier>, String> {
        match &self.root_cert {
            RootCert::Platform => rustls_platform_verifier::Verifier::new(provider.clone())
                .map(|v| Arc::new(v) as Arc<dyn ServerCertVerifier>)
                .map_err(|e| format!("cannot use the platform's trusted certificates: {e}")),
            RootCert::File(path) => {
                let unreadable = |e: &dyn fmt::Display| {
                    format!(
                        "names sslrootcert {} which cannot be read: {e}",
                        path.display()
                    )
                };
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_file_iter(path).map_err(|e| unreadable(&e))? {
                    let cert = cert.map_err(|e| unreadable(&e))?;
                    roots.add(cert).map_err(|e| unreadable(&e))?;
                }
                if roots.is_empty() {
                    return Err(format!(
                        "names sslrootcert {} which holds no certificate (PEM)",
                        path.display()
                    ));
                }
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map(|v| v as Arc<dyn ServerCertVerifier>)
                    .map_err(|e| unreadable(&e))
            }
        }
    }
}

/// `prefer`, `allow`, `require`: encrypted, the certificate not verified (libpq's meaning).
/// The handshake's signatures are still checked, with the provider's algorithms.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain as the inner verifier checks it, not the host name. rustls's
/// verifiers check the chain first and report a wrong name only for a trusted chain.
#[derive(Debug)]
struct ChainOnly(Arc<dyn ServerCertVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// libpq's TLS options taken off a connection string (URL or `key=value` form): the rest, for
/// tokio-postgres (which refuses `verify-ca`, `verify-full`, `allow` and `sslrootcert`), and
/// the options. A later value wins, as in libpq. The error says what is wrong.
pub fn split_options(conninfo: &str) -> Result<(String, TlsOptions), String> {
    let mut mode = None;
    let mut root = None;
    let rest = if conninfo.starts_with("postgres://") || conninfo.starts_with("postgresql://") {
        let Some((base, query)) = conninfo.split_once('?') else {
            return Ok((conninfo.to_string(), TlsOptions::default()));
        };
        let mut kept = Vec::new();
        for param in query.split('&') {
            let (key, value) = param.split_once('=').unwrap_or((param, ""));
            let decoded = || {
                percent_encoding::percent_decode_str(value)
                    .decode_utf8()
                    .map(|v| v.into_owned())
                    .map_err(|_| format!("has a {key} that is not UTF-8"))
            };
            match key {
                "sslmode" => mode = Some(decoded()?),
                "sslrootcert" => root = Some(decoded()?),
                _ => kept.push(param),
            }
        }
        if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        }
    } else {
        let mut kept = String::new();
        for (key, value, raw) in conninfo_pairs(conninfo)? {
            match key.as_str() {
                "sslmode" => mode = Some(value),
                "sslrootcert" => root = Some(value),
                _ => {
                    kept.push_str(raw);
                    kept.push(' ');
                }
            }
        }
        kept.trim_end().to_string()
    };
    let options = TlsOptions::from_values(mode.as_deref(), root.as_deref())?;
    Ok((rest, options))
}

/// The `key=value` pairs of a libpq connection string: key, unquoted value, and the pair as
/// written. Values may be quoted (`'a b'`) with `\` escapes.
fn conninfo_pairs(s: &str) -> Result<Vec<(String, String, &str)>, String> {
    let mut pairs = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        let start = rest;
        let eq = rest
            .find('=')
            .ok_or_else(|| "is not `key=value` pairs".to_string())?;
        let key = rest[..eq].trim().to_string();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err("is not `key=value` pairs".into());
        }
        rest = rest[eq + 1..].trim_start();
        let mut value = String::new();
        if let Some(quoted) = rest.strip_prefix('\'') {
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '\'' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => value.push(c),
                }
            }
            let end = end.ok_or_else(|| format!("has an unterminated quote in {key}"))?;
            rest = &quoted[end..];
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            value.push_str(&rest[..end]);
            rest = &rest[end..];
        }
        let raw = &start[..start.len() - rest.len()];
        pairs.push((key, value, raw));
        rest = rest.trim_start();
    }
    Ok(pairs)
}

/// A TLS failure explained: what went wrong, and which setting to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFailure {
    pub reason: String,
    pub advice: String,
}

/// Whether `error` (a failed connection) was TLS's doing, and what to tell the user. `host` is
/// the name the certificate was checked against.
pub fn explain(
    error: &tokio_postgres::Error,
    options: &TlsOptions,
    host: &str,
) -> Option<TlsFailure> {
    let mode = options.effective_mode();
    let encrypt_only = "set sslmode=require (encrypt, don't verify)";
    let root = match &options.root_cert {
        RootCert::File(p) => Some(p.display().to_string()),
        RootCert::Platform => None,
    };
    if let Some(e) = rustls_error(error) {
        let failure = match e {
            rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            ) => TlsFailure {
                reason: format!(
                    "the server's certificate is not valid for {host} (sslmode={mode})"
                ),
                advice: format!(
                    "connect to a host name the certificate holds, or set sslmode=verify-ca \
                     (check the certificate's authority, not its name), or {encrypt_only}"
                ),
            },
            rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer | CertificateError::BadSignature,
            ) => match &root {
                Some(file) => TlsFailure {
                    reason: format!(
                        "the server's certificate is not signed by the authority in \
                         sslrootcert={file} (sslmode={mode})"
                    ),
                    advice: format!(
                        "give the server's own CA certificate as sslrootcert=, or remove \
                         sslrootcert and {encrypt_only}"
                    ),
                },
                None => TlsFailure {
                    reason: format!(
                        "the server's certificate is not signed by an authority this machine \
                         trusts, self-signed perhaps (sslmode={mode})"
                    ),
                    advice: format!(
                        "{encrypt_only}, or give sslrootcert=<the server's CA certificate> and \
                         sslmode=verify-full"
                    ),
                },
            },
            rustls::Error::InvalidCertificate(
                CertificateError::Expired
                | CertificateError::ExpiredContext { .. }
                | CertificateError::NotValidYet
                | CertificateError::NotValidYetContext { .. },
            ) => TlsFailure {
                reason: format!(
                    "the server's certificate has expired or is not valid yet (sslmode={mode})"
                ),
                advice: format!("renew the server's certificate, or {encrypt_only}"),
            },
            rustls::Error::InvalidCertificate(other) => TlsFailure {
                reason: format!("the server's certificate was refused: {other:?} (sslmode={mode})"),
                advice: format!("fix the server's certificate, or {encrypt_only}"),
            },
            other => TlsFailure {
                reason: format!("the TLS handshake failed: {other} (sslmode={mode})"),
                advice: "check the server's TLS settings (postgresql.conf), or set \
                         sslmode=prefer (TLS when it works) or sslmode=disable"
                    .into(),
            },
        };
        return Some(failure);
    }
    // tokio-postgres reports a server that answers "no TLS" to a TLS-only mode (and a missing
    // host name) as its TLS error kind, which it exposes only through its message.
    if error.to_string() != TLS_KIND_MESSAGE {
        return None;
    }
    let cause = std::error::Error::source(error)
        .map(|c| c.to_string())
        .unwrap_or_default();
    Some(if cause == NO_TLS_MESSAGE {
        TlsFailure {
            reason: format!("the server does not offer TLS (sslmode={mode})"),
            advice: "turn on ssl in the server's postgresql.conf, or set sslmode=prefer \
                     (TLS when the server offers it) or sslmode=disable"
                .into(),
        }
    } else {
        TlsFailure {
            reason: format!("the TLS handshake failed: {cause} (sslmode={mode})"),
            advice: "check the server's TLS settings, or set sslmode=prefer or sslmode=disable"
                .into(),
        }
    })
}

/// tokio-postgres's message for its TLS error kind, and for a server refusing TLS.
const TLS_KIND_MESSAGE: &str = "error performing TLS handshake";
const NO_TLS_MESSAGE: &str = "server does not support TLS";

/// The rustls error behind a failed connection, if any: tokio-rustls wraps it in an
/// `io::Error`, whose `source()` skips it, so each link is looked into.
fn rustls_error(error: &tokio_postgres::Error) -> Option<&rustls::Error> {
    let mut link: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = link {
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(r) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(r);
        }
        link = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> Result<(String, TlsOptions), String> {
        split_options(s)
    }

    fn opts(mode: SslMode, root: Option<&str>) -> TlsOptions {
        TlsOptions {
            mode,
            root_cert: root.map_or(RootCert::Platform, |r| RootCert::File(r.into())),
        }
    }

    #[test]
    fn every_libpq_sslmode_is_read_and_the_default_is_prefer() {
        for mode in SslMode::ALL {
            let (rest, o) = split(&format!("postgres://u@h/db?sslmode={mode}")).unwrap();
            assert_eq!(rest, "postgres://u@h/db");
            assert_eq!(o, opts(mode, None));
        }
        let (rest, o) = split("postgres://u@h:5432/db").unwrap();
        assert_eq!(rest, "postgres://u@h:5432/db");
        assert_eq!(o.mode, SslMode::Prefer);
        assert_eq!(o.effective_mode(), SslMode::Prefer);
    }

    #[test]
    fn the_tls_options_leave_the_rest_of_the_url_alone() {
        let (rest, o) = split(
            "postgresql://u:p%40w@h/db?application_name=x&sslmode=verify-full\
             &sslrootcert=%2Fetc%2Fssl%2Fmy%20ca.pem&connect_timeout=5",
        )
        .unwrap();
        assert_eq!(
            rest,
            "postgresql://u:p%40w@h/db?application_name=x&connect_timeout=5"
        );
        assert_eq!(o, opts(SslMode::VerifyFull, Some("/etc/ssl/my ca.pem")));
        // The later value wins.
        let (_, o) = split("postgres://h/db?sslmode=disable&sslmode=require").unwrap();
        assert_eq!(o.mode, SslMode::Require);
    }

    #[test]
    fn the_key_value_form_is_read_too() {
        let (rest, o) = split(
            "host=db user=sickbay sslmode='verify-ca' password='a b\\' c' \
             sslrootcert=/etc/ca.pem dbname=history",
        )
        .unwrap();
        assert_eq!(
            rest,
            "host=db user=sickbay password='a b\\' c' dbname=history"
        );
        assert_eq!(o, opts(SslMode::VerifyCa, Some("/etc/ca.pem")));
        assert!(split("host=db password='open").is_err());
    }

    #[test]
    fn an_unknown_sslmode_is_refused_naming_it_and_the_known_ones() {
        let e = split("postgres://h/db?sslmode=verify_full").unwrap_err();
        assert_eq!(
            e,
            "sets an unknown sslmode `verify_full`: use one of disable, allow, prefer, \
             require, verify-ca, verify-full"
        );
        assert!(split("postgres://h/db?sslmode=").is_err());
        assert!(split("host=h sslmode=VERIFY-FULL").is_err());
        assert!(split("postgres://h/db?sslrootcert=").is_err());
    }

    #[test]
    fn require_with_a_root_certificate_verifies_the_chain_as_libpq_does() {
        let (_, o) = split("postgres://h/db?sslmode=require&sslrootcert=/ca.pem").unwrap();
        assert_eq!(o.mode, SslMode::Require);
        assert_eq!(o.effective_mode(), SslMode::VerifyCa);
        let (_, o) = split("postgres://h/db?sslmode=prefer&sslrootcert=/ca.pem").unwrap();
        assert_eq!(o.effective_mode(), SslMode::Prefer, "prefer never verifies");
        assert!(!SslMode::Require.verifies() && SslMode::VerifyCa.verifies());
    }

    #[test]
    fn sslrootcert_system_means_the_platform_store_and_verify_full() {
        let (_, o) = split("postgres://h/db?sslrootcert=system").unwrap();
        assert_eq!(o, opts(SslMode::VerifyFull, None));
        let e = split("postgres://h/db?sslmode=require&sslrootcert=system").unwrap_err();
        assert!(e.contains("verify-full"), "{e}");
    }

    #[test]
    fn a_missing_or_empty_root_certificate_file_is_named() {
        let e = opts(SslMode::VerifyFull, Some("/nonexistent/ca.pem"))
            .client_config()
            .unwrap_err();
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = opts(SslMode::VerifyCa, Some(empty.to_str().unwrap()))
            .client_config()
            .unwrap_err();
        assert!(e.contains("holds no certificate"), "{e}");
        // Modes that do not verify never read it.
        assert!(opts(SslMode::Prefer, Some("/nonexistent/ca.pem"))
            .client_config()
            .is_ok());
    }
}
