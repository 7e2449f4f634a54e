//! The one TLS client configuration every outgoing connection uses (webhook deliveries,
//! mail servers, providers): rustls on ring, the Mozilla roots of `webpki-roots`, TLS 1.2
//! and 1.3. No native certificate store is read, so a node behaves the same everywhere.

use std::sync::Arc;

/// A client configuration that verifies servers against the web's public roots.
pub fn client_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth())
}
