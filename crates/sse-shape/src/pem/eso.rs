//! ESO's PEM and PKCS#12 template functions (external-secrets `runtime/template/v2`: pem.go, pem_chain.go,
//! pkcs12.go), on bytes: `filterPEM`, `filterCertChain`, `pkcs12key[Pass]` and `pkcs12cert[Pass]`. Their inputs
//! are what ESO's are: PEM text, or the PFX's own bytes (ESO users write `b64dec | pkcs12key`). Errors are ours
//! and name no value; ESO's wrap Go's.

use sse_tls::gopem;

use super::keys::pkcs8_of;
use super::pkcs12::open_pkcs12;
use super::{CERTIFICATE, PemError, Pkcs12Problem};

/// `filterPEM TYPE`: the blocks of that type (case-insensitive), re-encoded; an error when none is found and
/// something other than PEM follows the last block.
pub(crate) fn filter_pem(kind: &[u8], input: &[u8]) -> Result<Vec<u8>, &'static str> {
    let start = input.windows(10).position(|w| w == b"-----BEGIN").unwrap_or(0);
    let (blocks, rest) = gopem::decode_all(&input[start..]);
    let mut out = Vec::new();
    for b in blocks.iter().filter(|b| eq_fold(b.label, kind)) {
        out.extend_from_slice(&gopem::encode_with_headers(b.label, &b.headers, &b.bytes));
    }
    if out.is_empty() && !rest.is_empty() {
        return Err("found junk");
    }
    Ok(out)
}

fn eq_fold(a: &[u8], b: &[u8]) -> bool {
    match (std::str::from_utf8(a), std::str::from_utf8(b)) {
        (Ok(a), Ok(b)) => a.to_lowercase() == b.to_lowercase(),
        _ => a.eq_ignore_ascii_case(b),
    }
}

/// One certificate of a chain: its DER and its key identifiers (Go's `AuthorityKeyId` and `SubjectKeyId`,
/// empty when absent, as Go's nil compares equal to empty).
struct Node {
    der: Vec<u8>,
    aki: Option<Vec<u8>>,
    ski: Vec<u8>,
}

impl Node {
    fn is_root(&self) -> bool {
        self.aki.as_ref().is_none_or(|a| *a == self.ski)
    }
}

fn node(der: Vec<u8>) -> Result<Node, &'static str> {
    use x509_parser::extensions::ParsedExtension;
    let (rest, cert) =
        x509_parser::parse_x509_certificate(&der).map_err(|_| "a PEM block is not a certificate")?;
    if !rest.is_empty() {
        return Err("a PEM block is not a certificate");
    }
    let (mut aki, mut ski) = (None, Vec::new());
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                aki = a.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            ParsedExtension::SubjectKeyIdentifier(k) => ski = k.0.to_vec(),
            _ => {}
        }
    }
    drop(cert);
    Ok(Node { der, aki, ski })
}

/// ESO's `fetchX509CertChains`: every PEM block as a certificate, ordered leaf → intermediates → root by
/// authority and subject key identifiers.
fn ordered_chain(input: &[u8]) -> Result<Vec<Node>, &'static str> {
    let (blocks, _) = gopem::decode_all(input);
    let nodes = blocks
        .into_iter()
        .map(|b| node(b.bytes))
        .collect::<Result<Vec<_>, _>>()?;
    let mut parent = vec![None; nodes.len()];
    let mut is_parent = vec![false; nodes.len()];
    for i in 0..nodes.len() {
        let aki = nodes[i].aki.as_deref().unwrap_or_default();
        if let Some(j) = (0..nodes.len()).find(|&j| j != i && aki == nodes[j].ski.as_slice()) {
            is_parent[j] = true;
            parent[i] = Some(j);
        }
    }
    let mut leaves = (0..nodes.len()).filter(|&i| !is_parent[i]);
    let leaf = match (leaves.next(), leaves.next()) {
        (Some(l), None) => l,
        (Some(_), Some(_)) => return Err("found multiple leaf or disjunct certificates"),
        (None, _) => return Err("no leaf certificate found"),
    };
    let mut order = Vec::new();
    let mut at = Some(leaf);
    while let Some(i) = at {
        if order.len() >= nodes.len() {
            return Err("constructing chain resulted in cycle");
        }
        order.push(i);
        at = parent[i];
    }
    let mut nodes: Vec<Option<Node>> = nodes.into_iter().map(Some).collect();
    Ok(order.into_iter().filter_map(|i| nodes[i].take()).collect())
}

/// `filterCertChain leaf|intermediate|root`: that part of the chain, or nothing.
pub(crate) fn filter_cert_chain(kind: &[u8], input: &[u8]) -> Result<Vec<u8>, &'static str> {
    let chain = ordered_chain(input)?;
    let pem = |n: &Node| gopem::encode(CERTIFICATE, &n.der);
    Ok(match kind {
        b"leaf" => match chain.first() {
            Some(n) if n.aki.as_ref().is_some_and(|a| *a != n.ski) => pem(n),
            _ => Vec::new(),
        },
        b"intermediate" => chain
            .iter()
            .skip(1)
            .take_while(|n| !n.is_root())
            .flat_map(pem)
            .collect(),
        b"root" => match chain.last() {
            Some(n) if n.is_root() => pem(n),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    })
}

/// What ESO's `DecodeChain` requires: one private key and at least one certificate.
fn open(password: &[u8], input: &[u8]) -> Result<p12_keystore::Pkcs12Archive, PemError> {
    let password =
        std::str::from_utf8(password).map_err(|_| PemError::Pkcs12(Pkcs12Problem::WrongPassword))?;
    let archive = open_pkcs12(input, password)?.ok_or(PemError::Pkcs12(Pkcs12Problem::Malformed))?;
    if archive.keys.len() != 1 {
        return Err(PemError::NoPrivateKey);
    }
    if archive.certs.is_empty() {
        return Err(PemError::NoCertificate);
    }
    Ok(archive)
}

/// The text of `e`, for a password that may not be empty.
fn describe(e: PemError, password: &[u8]) -> String {
    match e {
        PemError::Pkcs12(Pkcs12Problem::WrongPassword) if !password.is_empty() => {
            "the PKCS#12 MAC does not verify with the given password".into()
        }
        PemError::Pkcs12(Pkcs12Problem::DecryptionFailed) if !password.is_empty() => {
            "the PKCS#12 contents do not decrypt with the given password".into()
        }
        e => e.to_string(),
    }
}

/// `pkcs12keyPass`: the key as a PKCS#8 `PRIVATE KEY` block (Go's `MarshalPKCS8PrivateKey`).
pub(crate) fn pkcs12_key(password: &[u8], input: &[u8]) -> Result<Vec<u8>, String> {
    let archive = open(password, input).map_err(|e| describe(e, password))?;
    let der = archive.keys[0].key.as_der();
    let pkcs8 = pkcs8_of(der).map_err(|e| describe(e, password))?;
    Ok(gopem::encode(b"PRIVATE KEY", &pkcs8))
}

/// `pkcs12certPass`: the certificates, the first stored one first, ordered as a chain when one can be inferred.
pub(crate) fn pkcs12_cert(password: &[u8], input: &[u8]) -> Result<Vec<u8>, String> {
    let archive = open(password, input).map_err(|e| describe(e, password))?;
    let pem: Vec<u8> = archive
        .certs
        .iter()
        .flat_map(|c| gopem::encode(CERTIFICATE, c.cert.as_der()))
        .collect();
    match ordered_chain(&pem) {
        Ok(chain) => Ok(chain
            .iter()
            .flat_map(|n| gopem::encode(CERTIFICATE, &n.der))
            .collect()),
        Err(_) => Ok(pem),
    }
}
