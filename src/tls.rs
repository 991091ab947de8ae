//! The CA roots both HTTPS clients (Mesos and NS1) trust: the system's CA
//! store (`/etc/ssl/certs` and friends, where operators add private CAs)
//! plus the PEM certificates of an optional CA file.

use log::{debug, warn};
use std::path::Path;
use ureq::tls::{Certificate, PemItem};

/// Loads the system CA store and the certificates of `ca_file`. An error
/// (one line) when the CA file is unreadable or holds no certificate, or
/// when no root at all is found.
pub fn root_certs(ca_file: Option<&Path>) -> Result<Vec<Certificate<'static>>, String> {
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        warn!("problem loading a system CA certificate: {e}");
    }
    let mut certs: Vec<Certificate<'static>> = native
        .certs
        .iter()
        .map(|der| Certificate::from_der(der.as_ref()).to_owned())
        .collect();
    debug!("{} system CA certificates loaded", certs.len());
    if let Some(path) = ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| format!("cannot read CA file {}: {e}", path.display()))?;
        let mut found = 0;
        for item in ureq::tls::parse_pem(&pem) {
            match item {
                Ok(PemItem::Certificate(c)) => {
                    certs.push(c);
                    found += 1;
                }
                Ok(_) => {}
                Err(e) => return Err(format!("CA file {} is not valid PEM: {e}", path.display())),
            }
        }
        if found == 0 {
            return Err(format!(
                "CA file {} holds no PEM certificate",
                path.display()
            ));
        }
        debug!("{found} CA certificates loaded from {}", path.display());
    }
    if certs.is_empty() {
        return Err(
            "no CA certificates: the system store is empty (install ca-certificates) and no CA file was given"
                .to_string(),
        );
    }
    Ok(certs)
}
