//! `--construct-pem-chain`: order the certificates of a PFX leaf → intermediates → root.
//!
//! Same algorithm as upstream `fetchCertChains`: certificate *i*'s parent is the first other certificate *j*
//! whose SubjectKeyIdentifier equals *i*'s AuthorityKeyIdentifier (pairs where both are absent never link);
//! the leaf is the first certificate that is nobody's parent; the chain is walked from the leaf through the
//! parents. Signatures are not verified: this only orders what Key Vault returned.

use x509_parser::extensions::ParsedExtension;

use super::ContentError;

struct Node {
    authority_key_id: Option<Vec<u8>>,
    subject_key_id: Option<Vec<u8>>,
    parent: Option<usize>,
    is_parent: bool,
}

fn node(der: &[u8]) -> Result<Node, ContentError> {
    let (_, cert) =
        x509_parser::parse_x509_certificate(der).map_err(|e| ContentError::Certificate(e.to_string()))?;
    let mut authority_key_id = None;
    let mut subject_key_id = None;
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                authority_key_id = aki.key_identifier.as_ref().map(|k| k.0.to_vec());
            }
            ParsedExtension::SubjectKeyIdentifier(ski) => subject_key_id = Some(ski.0.to_vec()),
            _ => {}
        }
    }
    Ok(Node {
        authority_key_id,
        subject_key_id,
        parent: None,
        is_parent: false,
    })
}

/// `certs` (DER) reordered leaf → root. When not every certificate is on the chain walked from the leaf
/// (missing intermediates, unrelated extra certificates) the input order is returned unchanged.
///
/// Errors: no certificate is a leaf (also for an empty list) ⇒ `no leaf found`; the walk revisits a
/// certificate ⇒ `constructing chain resulted in cycle`; a certificate that does not parse.
pub(crate) fn order<'a>(certs: &[&'a [u8]]) -> Result<Vec<&'a [u8]>, ContentError> {
    let mut nodes = certs.iter().map(|der| node(der)).collect::<Result<Vec<_>, _>>()?;

    for i in 0..nodes.len() {
        for j in 0..nodes.len() {
            if i == j {
                continue;
            }
            let aki = nodes[i].authority_key_id.as_deref();
            let ski = nodes[j].subject_key_id.as_deref();
            // A leaf's SubjectKeyIdentifier is optional (RFC 5280): two absent identifiers are no link. Go
            // compares a nil slice equal to an empty one, hence `unwrap_or_default` for the one-sided case.
            if aki.is_none() && ski.is_none() {
                continue;
            }
            if aki.unwrap_or_default() == ski.unwrap_or_default() {
                nodes[j].is_parent = true;
                nodes[i].parent = Some(j);
                break;
            }
        }
    }

    let Some(leaf) = nodes.iter().position(|n| !n.is_parent) else {
        return Err(ContentError::NoLeafFound);
    };

    let mut chain = Vec::with_capacity(nodes.len());
    let mut current = Some(leaf);
    while let Some(index) = current {
        if chain.len() == nodes.len() {
            return Err(ContentError::ChainCycle);
        }
        chain.push(certs[index]);
        current = nodes[index].parent;
    }

    if chain.len() != nodes.len() {
        // Incomplete chain (upstream logs a warning and writes only the linked part): keep every certificate,
        // in the order Key Vault stored them.
        return Ok(certs.to_vec());
    }
    Ok(chain)
}
