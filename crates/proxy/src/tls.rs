//! TLS settings of the proxy.

use std::path::PathBuf;

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
