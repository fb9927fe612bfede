//! TLS for database connections: rustls with the ring provider, one stack for every
//! dialect. Three levels of checking, as libpq names them: none (`require`: encrypted,
//! any certificate), the chain only (`verify-ca`), and chain plus host name
//! (`verify-full`).

use crate::error::{Error, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{
    verify_tls12_signature, verify_tls13_signature, verify_tls13_signature_with_raw_key, CryptoProvider,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::Path;
use std::sync::Arc;

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verify {
    /// Encrypt, but accept any certificate.
    Nothing,
    /// The certificate must chain to a trusted root; its host name is not checked.
    Chain,
    /// The certificate must chain to a trusted root and name the host.
    Full,
}

/// A client configuration; `roots`: a PEM file of trusted roots, else the system's.
pub(crate) fn client_config(verify: Verify, roots: Option<&Path>) -> Result<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Io(format!("TLS setup: {e}")))?;
    Ok(match verify {
        Verify::Nothing => {
            builder.dangerous().with_custom_certificate_verifier(Arc::new(AcceptAny(provider))).with_no_client_auth()
        }
        Verify::Full => builder.with_root_certificates(root_store(roots)?).with_no_client_auth(),
        Verify::Chain => {
            let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(root_store(roots)?), provider)
                .build()
                .map_err(|e| Error::Io(format!("TLS setup: {e}")))?;
            builder.dangerous().with_custom_certificate_verifier(Arc::new(ChainOnly(inner))).with_no_client_auth()
        }
    })
}

fn root_store(roots: Option<&Path>) -> Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    match roots {
        Some(path) => {
            let bad = |e: &dyn std::fmt::Display| {
                Error::Usage(format!("{}: cannot read root certificates: {e}", path.display()))
            };
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(&e))? {
                store.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = store.add(cert);
            }
        }
    }
    if store.is_empty() {
        return Err(Error::Usage("no trusted root certificates to verify the server with (set sslrootcert)".into()));
    }
    Ok(store)
}

#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

/// The subjectPublicKeyInfo of a DER certificate (whole: tag, length and contents), read
/// without checking anything else: `Certificate ::= SEQUENCE { tbsCertificate SEQUENCE {
/// [0] version OPTIONAL, serialNumber, signature, issuer, validity, subject,
/// subjectPublicKeyInfo, ... }, ... }`.
fn public_key(cert: &[u8]) -> Option<&[u8]> {
    // One DER element at the start of `der`: (its tag, its contents, the whole element).
    fn element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = der.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = match first {
            n if n < 0x80 => (n as usize, rest),
            n => {
                let bytes = (n & 0x7f) as usize;
                if bytes == 0 || bytes > 4 || rest.len() < bytes {
                    return None;
                }
                (rest[..bytes].iter().fold(0usize, |len, &b| len << 8 | b as usize), &rest[bytes..])
            }
        };
        let header = der.len() - rest.len();
        (rest.len() >= len).then(|| (tag, &rest[..len], &der[..header + len]))
    }
    const SEQUENCE: u8 = 0x30;
    let (SEQUENCE, certificate, _) = element(cert)? else { return None };
    let (SEQUENCE, mut tbs, _) = element(certificate)? else { return None };
    // The version, when present, is the context-specific [0].
    if tbs.first() == Some(&0xa0) {
        tbs = &tbs[element(tbs)?.2.len()..];
    }
    // serialNumber, signature, issuer, validity, subject.
    for _ in 0..5 {
        tbs = &tbs[element(tbs)?.2.len()..];
    }
    match element(tbs)? {
        (SEQUENCE, _, whole) => Some(whole),
        _ => None,
    }
}

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        match verify_tls13_signature(message, cert, dss, algorithms) {
            // A certificate webpki does not read (X.509 version 1, as Citus and older
            // scripts generate for a server's self-signed certificate; libpq takes it):
            // the handshake is still checked against its public key.
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(e))) => match public_key(cert) {
                Some(spki) => verify_tls13_signature_with_raw_key(message, &spki.into(), dss, algorithms),
                None => Err(rustls::Error::InvalidCertificate(CertificateError::Other(e))),
            },
            checked => checked,
        }
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
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
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed X.509 version 1 certificate (`openssl x509 -req -signkey`, no
    /// extensions), and its public key as `openssl x509 -pubkey` prints it.
    const V1_CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBFTCBvQIUDoEj0xNpQZ3ecE6FDNY/8MZTxJ4wCgYIKoZIzj0EAwIwDTELMAkG
A1UEAwwCdjEwIBcNMjYxMjA3MTE1MzU5WhgPMjEyNjExMTMxMTUzNTlaMA0xCzAJ
BgNVBAMMAnYxMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEG3IM4IjThwhTod3i
wdkdyxijcgcTrT0ZJoSYkTqnDlNsRPxui80aU5xrxTRWDxQkMfyaz2G14dhA74mq
wyISQjAKBggqhkjOPQQDAgNHADBEAiBh1XSKZJwgKgBNwZgYGIHRWsqW/NPYGXfb
skg+LpgqOwIgJ10rqJfTfwKtexTQYHt00jwtGNycvafD4RHsuf79IFM=
-----END CERTIFICATE-----
";
    const V1_KEY: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEG3IM4IjThwhTod3iwdkdyxijcgcT
rT0ZJoSYkTqnDlNsRPxui80aU5xrxTRWDxQkMfyaz2G14dhA74mqwyISQg==
-----END PUBLIC KEY-----
";

    #[test]
    fn the_public_key_of_a_version_1_certificate() {
        use rustls::pki_types::SubjectPublicKeyInfoDer;
        let cert = CertificateDer::from_pem_slice(V1_CERT.as_bytes()).unwrap();
        let key = SubjectPublicKeyInfoDer::from_pem_slice(V1_KEY.as_bytes()).unwrap();
        // webpki does not read it (what the handshake ran into), the key is found.
        assert!(rustls::server::ParsedCertificate::try_from(&cert).is_err());
        assert_eq!(public_key(&cert), Some(key.as_ref()));
        // Cut anywhere, it yields no key rather than a wrong one or a panic.
        for n in 0..cert.len() {
            assert_eq!(public_key(&cert[..n]), None, "{n}");
        }
    }
}
