//! TLS settings of the proxy: certificates from PEM files, or a
//! self-signed certificate for local use, served with rustls and ALPN
//! (`h2`, then `http/1.1`).

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ownstak_core::HostSuffix;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Whether and how the proxy terminates TLS.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TlsSetting {
    /// Plain TCP: HTTP/1.1 and cleartext HTTP/2 (h2c), as behind an ALB.
    #[default]
    Off,
    /// A certificate chain and private key from PEM files.
    Files {
        /// The certificate chain (PEM).
        cert: PathBuf,
        /// The private key (PEM).
        key: PathBuf,
    },
    /// A self-signed certificate for local use, generated into this
    /// directory on first use and reused after; existing files are never
    /// overwritten.
    SelfSigned {
        /// Where `cert.pem` and `key.pem` live.
        dir: PathBuf,
    },
}

/// The file names of a self-signed pair inside its directory.
pub(crate) const SELF_SIGNED_CERT: &str = "cert.pem";
/// See [`SELF_SIGNED_CERT`].
pub(crate) const SELF_SIGNED_KEY: &str = "key.pem";

/// ALPN protocols offered, in order of preference.
pub(crate) const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Why TLS could not be set up; every variant names the file involved.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read the TLS {what} {}: {source}", path.display())]
    Read {
        /// `certificate` or `private key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The certificate file holds no usable certificate.
    #[error("{} holds no valid PEM certificate (expected `-----BEGIN CERTIFICATE-----`){}", path.display(), detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    BadCertificate {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        detail: Option<String>,
    },
    /// The key file holds no usable private key.
    #[error("{} holds no valid PEM private key (PKCS#8, PKCS#1 or SEC1): {detail}", path.display())]
    BadKey {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        detail: String,
    },
    /// The certificate and key were rejected together (e.g. they do not match).
    #[error("the certificate {} and the key {} cannot be used together: {detail}", cert.display(), key.display())]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls said.
        detail: String,
    },
    /// Only one file of a self-signed pair exists; it is never overwritten.
    #[error(
        "{} exists but {} does not; refusing to generate a new certificate over an existing file \
         (add the missing file, or remove {} to generate a fresh pair)",
        present.display(), missing.display(), present.display()
    )]
    HalfPair {
        /// The file that exists.
        present: PathBuf,
        /// The file that is missing.
        missing: PathBuf,
    },
    /// Writing a generated file failed.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Certificate generation failed.
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(String),
}

/// Builds the rustls server configuration for a setting; `None` when TLS
/// is off. A self-signed pair is generated (or reused) for `suffix`.
pub(crate) fn server_config(setting: &TlsSetting, suffix: &HostSuffix) -> Result<Option<Arc<ServerConfig>>, TlsError> {
    match setting {
        TlsSetting::Off => Ok(None),
        TlsSetting::Files { cert, key } => load(cert, key).map(Some),
        TlsSetting::SelfSigned { dir } => {
            let (cert, key) = ensure_self_signed(dir, suffix)?;
            load(&cert, &key).map(Some)
        }
    }
}

/// Loads a certificate chain and key from PEM files into a server
/// configuration offering `h2` and `http/1.1`.
pub(crate) fn load(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let cert_pem =
        std::fs::read(cert).map_err(|source| TlsError::Read { what: "certificate", path: cert.to_owned(), source })?;
    let key_pem =
        std::fs::read(key).map_err(|source| TlsError::Read { what: "private key", path: key.to_owned(), source })?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadCertificate { path: cert.to_owned(), detail: Some(e.to_string()) })?;
    if chain.is_empty() {
        return Err(TlsError::BadCertificate { path: cert.to_owned(), detail: None });
    }
    let private = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| TlsError::BadKey { path: key.to_owned(), detail: e.to_string() })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mismatch =
        |e: rustls::Error| TlsError::Mismatch { cert: cert.to_owned(), key: key.to_owned(), detail: e.to_string() };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(mismatch)?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(mismatch)?;
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// The names a generated certificate is valid for.
pub(crate) fn self_signed_names(suffix: &HostSuffix) -> Vec<String> {
    let mut names = vec!["localhost".to_owned(), "*.localhost".to_owned()];
    let wildcard = format!("*.{}", suffix.domain());
    if !names.contains(&wildcard) {
        names.push(wildcard);
    }
    names.push("127.0.0.1".to_owned());
    names.push("::1".to_owned());
    names
}

/// Returns the paths of the self-signed pair in `dir`, generating it first
/// when neither file exists. Existing files are never overwritten, and a
/// directory holding only one of the two is an error.
pub(crate) fn ensure_self_signed(dir: &Path, suffix: &HostSuffix) -> Result<(PathBuf, PathBuf), TlsError> {
    let cert = dir.join(SELF_SIGNED_CERT);
    let key = dir.join(SELF_SIGNED_KEY);
    let exists = |p: &Path| std::fs::symlink_metadata(p).is_ok();
    match (exists(&cert), exists(&key)) {
        (true, true) => return Ok((cert, key)),
        (true, false) => return Err(TlsError::HalfPair { present: cert, missing: key }),
        (false, true) => return Err(TlsError::HalfPair { present: key, missing: cert }),
        (false, false) => {}
    }
    std::fs::create_dir_all(dir).map_err(|source| TlsError::Write { path: dir.to_owned(), source })?;
    let (cert_pem, key_pem) = generate(suffix)?;
    // The key first, readable by its owner only; then the certificate. A
    // file that appeared meanwhile is left alone (create_new fails).
    write_new(&key, key_pem.as_bytes(), 0o600)?;
    if let Err(e) = write_new(&cert, cert_pem.as_bytes(), 0o644) {
        // The key was created just now by us; do not leave half a pair.
        let _ = std::fs::remove_file(&key);
        return Err(e);
    }
    tracing::info!(cert = %cert.display(), names = ?self_signed_names(suffix), "generated a self-signed TLS certificate");
    Ok((cert, key))
}

/// A fresh self-signed certificate and key, both PEM.
fn generate(suffix: &HostSuffix) -> Result<(String, String), TlsError> {
    let failed = |e: rcgen::Error| TlsError::Generate(e.to_string());
    let mut params = rcgen::CertificateParams::new(self_signed_names(suffix)).map_err(failed)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, "ownstak local proxy");
    params.distinguished_name.push(rcgen::DnType::OrganizationName, "ownstak (self-signed)");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    let key = rcgen::KeyPair::generate().map_err(failed)?;
    let cert = params.self_signed(&key).map_err(failed)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Creates `path` (which must not exist) with `mode` and writes `data`.
fn write_new(path: &Path, data: &[u8], mode: u32) -> Result<(), TlsError> {
    let err = |source| TlsError::Write { path: path.to_owned(), source };
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(err)?;
    file.write_all(data).and_then(|()| file.sync_all()).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suffix() -> HostSuffix {
        HostSuffix::new("local", "dev", "localhost").unwrap()
    }

    #[test]
    fn generates_once_then_reuses_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = ensure_self_signed(dir.path(), &suffix()).unwrap();
        let first = (std::fs::read(&cert).unwrap(), std::fs::read(&key).unwrap());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
        }
        load(&cert, &key).unwrap();
        ensure_self_signed(dir.path(), &suffix()).unwrap();
        assert_eq!(first, (std::fs::read(&cert).unwrap(), std::fs::read(&key).unwrap()));

        std::fs::remove_file(&key).unwrap();
        let err = ensure_self_signed(dir.path(), &suffix()).unwrap_err();
        assert!(matches!(err, TlsError::HalfPair { .. }), "{err}");
        assert!(err.to_string().contains("key.pem"), "{err}");
        assert_eq!(std::fs::read(&cert).unwrap(), first.0);
    }

    #[test]
    fn names_cover_localhost_the_suffix_and_loopback() {
        let names = self_signed_names(&suffix());
        assert!(names.contains(&"*.local.dev.localhost".to_owned()));
        assert!(names.contains(&"*.localhost".to_owned()));
        assert!(names.contains(&"127.0.0.1".to_owned()));
    }

    #[test]
    fn bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("c.pem");
        let key = dir.path().join("k.pem");
        let err = load(&cert, &key).unwrap_err();
        assert!(err.to_string().contains("c.pem"), "{err}");
        std::fs::write(&cert, "junk").unwrap();
        std::fs::write(&key, "junk").unwrap();
        let err = load(&cert, &key).unwrap_err();
        assert!(matches!(err, TlsError::BadCertificate { .. }) && err.to_string().contains("c.pem"), "{err}");
        let (c, _) = generate(&suffix()).unwrap();
        std::fs::write(&cert, c).unwrap();
        let err = load(&cert, &key).unwrap_err();
        assert!(matches!(err, TlsError::BadKey { .. }) && err.to_string().contains("k.pem"), "{err}");
        // A valid key that belongs to another certificate.
        let (_, other_key) = generate(&suffix()).unwrap();
        std::fs::write(&key, other_key).unwrap();
        let err = load(&cert, &key).unwrap_err();
        assert!(matches!(err, TlsError::Mismatch { .. }), "{err}");
    }
}
