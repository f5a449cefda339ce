//! `status.syncHash` (docs/API.md#sync-hash): a keyed MAC identifying the state a sync wrote, over the
//! identities and generations of the SecretSync and its class, `forceSynchronization`, the data mapping and
//! the object versions the provider returned — never over the values.
//!
//! `v2:` + lowercase hex of HMAC-SHA256, keyed with the SecretSync UID, over an injective encoding of
//! every input:
//!
//! ```text
//! message = "sse-rs/syncHash/v2"                      domain separation
//!        ++ field(spc_uid) ++ i64be(spc_generation)
//!        ++ field(ss_uid)  ++ i64be(ss_generation)
//!        ++ field(force_synchronization)
//!        ++ u64be(number of data entries)
//!        ++ for each (key, value) in key order: field(key) ++ field(value)
//! field(x) = u64be(len(x)) ++ x
//! ```
//!
//! The entries are the sync's (`hash` in `sync/hashing.rs`): `key:<targetKey>` → `sourcePath` for each data
//! item, `version:<object id>` → the version the provider returned for each object, `config:<annotation>` →
//! its value for each tag annotation that is set, and a shape's entries only when it has one
//! (`sse_shape::plan::hash_entries`). Vault versions are immutable, so a new value always comes with a new
//! version.
//!
//! Every variable-length part is length-prefixed and the entry count is explicit, so two different input
//! sets never produce the same message (no ambiguity from concatenation: `{"ab": "c"}` ≠ `{"a": "bc"}`).
//! One HMAC pass replaces upstream's 100 000 PBKDF2-HMAC-SHA512 iterations over the values (`v1:` hashes);
//! hashes of either older format simply differ, which causes one re-apply after an upgrade.

use std::collections::BTreeMap;
use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use sse_api::consts::SYNC_HASH_PREFIX;

/// Domain-separation tag at the start of every hashed message.
const DOMAIN: &[u8] = b"sse-rs/syncHash/v2";

/// Everything the sync hash covers. `Debug` shows the entries' names and byte counts, never their bytes.
#[derive(Clone, Copy)]
pub struct HashInputs<'a> {
    /// The hashed entries, name → bytes: the data mapping, the object versions and the tag configuration
    /// (module documentation), never a secret value.
    pub data: &'a BTreeMap<String, Vec<u8>>,
    /// `metadata.uid` of the SecretProviderClass.
    pub spc_uid: &'a str,
    /// `metadata.generation` of the SecretProviderClass.
    pub spc_generation: i64,
    /// `metadata.uid` of the SecretSync (also the MAC key).
    pub ss_uid: &'a str,
    /// `metadata.generation` of the SecretSync.
    pub ss_generation: i64,
    /// `spec.forceSynchronization` (empty when unset).
    pub force_synchronization: &'a str,
}

impl fmt::Debug for HashInputs<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let data: BTreeMap<&str, String> = self
            .data
            .iter()
            .map(|(k, v)| (k.as_str(), format!("<{} bytes>", v.len())))
            .collect();
        f.debug_struct("HashInputs")
            .field("data", &data)
            .field("spc_uid", &self.spc_uid)
            .field("spc_generation", &self.spc_generation)
            .field("ss_uid", &self.ss_uid)
            .field("ss_generation", &self.ss_generation)
            .field("force_synchronization", &self.force_synchronization)
            .finish()
    }
}

/// `"v2:"` + lowercase hex of HMAC-SHA256(key = `ss_uid` bytes, message = the canonical encoding of all
/// inputs, see the module documentation). 67 characters.
pub fn sync_hash(inputs: &HashInputs<'_>) -> String {
    // HMAC accepts keys of any length (longer keys are hashed first), so this cannot fail.
    #[allow(clippy::expect_used)]
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(inputs.ss_uid.as_bytes())
        .expect("HMAC accepts keys of any length");
    encode(inputs, |part| mac.update(part));
    let tag = mac.finalize().into_bytes();
    format!("{SYNC_HASH_PREFIX}{}", hex::encode(tag))
}

/// Feed the canonical encoding of `inputs` to `sink`, part by part (streamed: no copy of the entries).
fn encode(inputs: &HashInputs<'_>, mut sink: impl FnMut(&[u8])) {
    fn field(sink: &mut impl FnMut(&[u8]), bytes: &[u8]) {
        sink(&len_be(bytes.len()));
        sink(bytes);
    }
    sink(DOMAIN);
    field(&mut sink, inputs.spc_uid.as_bytes());
    sink(&inputs.spc_generation.to_be_bytes());
    field(&mut sink, inputs.ss_uid.as_bytes());
    sink(&inputs.ss_generation.to_be_bytes());
    field(&mut sink, inputs.force_synchronization.as_bytes());
    sink(&len_be(inputs.data.len()));
    for (key, value) in inputs.data {
        field(&mut sink, key.as_bytes());
        field(&mut sink, value);
    }
}

/// A length as 8 big-endian bytes (`usize` always fits in `u64` on supported targets).
fn len_be(len: usize) -> [u8; 8] {
    u64::try_from(len).unwrap_or(u64::MAX).to_be_bytes()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn data(entries: &[(&str, &[u8])]) -> BTreeMap<String, Vec<u8>> {
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.to_vec()))
            .collect()
    }

    /// Owned inputs, so tests can vary one field at a time.
    #[derive(Clone, Debug, PartialEq)]
    struct Owned {
        data: BTreeMap<String, Vec<u8>>,
        spc_uid: String,
        spc_generation: i64,
        ss_uid: String,
        ss_generation: i64,
        force_synchronization: String,
    }

    impl Owned {
        fn base() -> Self {
            Self {
                data: data(&[("password", b"s3cr3t"), ("user", b"admin")]),
                spc_uid: "4b0ad5b5-0f7e-4b8e-9a0b-1f1d1c0e7a11".to_owned(),
                spc_generation: 3,
                ss_uid: "0e9a6c47-5bd4-4c1f-8d57-6a5b7f0f3b22".to_owned(),
                ss_generation: 7,
                force_synchronization: String::new(),
            }
        }

        fn inputs(&self) -> HashInputs<'_> {
            HashInputs {
                data: &self.data,
                spc_uid: &self.spc_uid,
                spc_generation: self.spc_generation,
                ss_uid: &self.ss_uid,
                ss_generation: self.ss_generation,
                force_synchronization: &self.force_synchronization,
            }
        }

        fn hash(&self) -> String {
            sync_hash(&self.inputs())
        }

        fn message(&self) -> Vec<u8> {
            let mut out = Vec::new();
            encode(&self.inputs(), |part| out.extend_from_slice(part));
            out
        }
    }

    #[test]
    fn format_is_v2_and_64_lowercase_hex() {
        let hash = Owned::base().hash();
        assert_eq!(hash.len(), 67);
        let hex_part = hash.strip_prefix("v2:").unwrap();
        assert_eq!(hex_part.len(), 64);
        assert!(
            hex_part
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert!(hash.starts_with(SYNC_HASH_PREFIX));
    }

    #[test]
    fn same_inputs_same_hash() {
        assert_eq!(Owned::base().hash(), Owned::base().hash());
        // Independent of insertion order: the map is sorted.
        let mut a = Owned::base();
        a.data = data(&[("b", b"2"), ("a", b"1")]);
        let mut b = Owned::base();
        b.data = data(&[("a", b"1"), ("b", b"2")]);
        assert_eq!(a.hash(), b.hash());
    }

    #[test]
    fn known_answer() {
        // Pins the encoding: changing it changes every stored hash (one re-apply per SecretSync).
        let mut expected_message = Vec::new();
        expected_message.extend_from_slice(b"sse-rs/syncHash/v2");
        expected_message.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
        expected_message.extend_from_slice(b"s");
        expected_message.extend_from_slice(&2i64.to_be_bytes());
        expected_message.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
        expected_message.extend_from_slice(b"u");
        expected_message.extend_from_slice(&(-1i64).to_be_bytes());
        expected_message.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
        expected_message.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
        expected_message.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
        expected_message.extend_from_slice(b"k");
        expected_message.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 2]);
        expected_message.extend_from_slice(b"vv");
        let owned = Owned {
            data: data(&[("k", b"vv")]),
            spc_uid: "s".to_owned(),
            spc_generation: 2,
            ss_uid: "u".to_owned(),
            ss_generation: -1,
            force_synchronization: String::new(),
        };
        assert_eq!(owned.message(), expected_message);
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"u").unwrap();
        mac.update(&expected_message);
        let expected = format!("v2:{}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(owned.hash(), expected);
    }

    #[test]
    fn every_input_changes_the_hash() {
        let base = Owned::base();
        let base_hash = base.hash();
        type Change = Box<dyn Fn(&mut Owned)>;
        let variants: Vec<(&str, Change)> = vec![
            (
                "secret bytes",
                Box::new(|o| drop(o.data.insert("password".into(), b"s3cr3T".to_vec()))),
            ),
            (
                "target key renamed",
                Box::new(|o| {
                    let v = o.data.remove("password").unwrap();
                    o.data.insert("passwd".into(), v);
                }),
            ),
            (
                "key added",
                Box::new(|o| drop(o.data.insert("extra".into(), Vec::new()))),
            ),
            ("key removed", Box::new(|o| drop(o.data.remove("user")))),
            ("empty data", Box::new(|o| o.data.clear())),
            ("spc uid", Box::new(|o| o.spc_uid.push('x'))),
            ("spc generation", Box::new(|o| o.spc_generation += 1)),
            ("ss uid (the key)", Box::new(|o| o.ss_uid.push('x'))),
            ("ss generation", Box::new(|o| o.ss_generation += 1)),
            (
                "forceSynchronization",
                Box::new(|o| o.force_synchronization = "1".into()),
            ),
        ];
        let mut seen = std::collections::HashSet::new();
        seen.insert(base_hash.clone());
        for (what, change) in variants {
            let mut changed = base.clone();
            change(&mut changed);
            assert_ne!(changed, base, "{what}: the variant must differ");
            let hash = changed.hash();
            assert_ne!(hash, base_hash, "{what}");
            assert!(seen.insert(hash), "{what}: collides with another variant");
        }
    }

    #[test]
    fn debug_hides_values() {
        let base = Owned::base();
        let debug = format!("{:?}", base.inputs());
        assert!(!debug.contains("s3cr3t"), "{debug}");
        assert!(debug.contains("\"password\": \"<6 bytes>\""), "{debug}");
    }

    #[test]
    fn a_different_key_alone_changes_the_hash() {
        // Same message, different MAC key: the SecretSync UID keys the MAC.
        let base = Owned::base();
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"another uid").unwrap();
        mac.update(&base.message());
        let other_key = format!("v2:{}", hex::encode(mac.finalize().into_bytes()));
        assert_ne!(other_key, base.hash());
    }

    #[test]
    fn bytes_moving_between_fields_change_the_hash() {
        let mut a = Owned::base();
        a.data = data(&[("ab", b"c")]);
        let mut b = Owned::base();
        b.data = data(&[("a", b"bc")]);
        assert_ne!(a.hash(), b.hash());
        assert_ne!(a.message(), b.message());

        // Between entries: {"a": "b", "c": ""} vs {"a": "bc"}.
        let mut c = Owned::base();
        c.data = data(&[("a", b"b"), ("c", b"")]);
        let mut d = Owned::base();
        d.data = data(&[("a", b"bc")]);
        assert_ne!(c.hash(), d.hash());

        // Between the context strings.
        let mut e = Owned::base();
        e.spc_uid = "ab".into();
        e.ss_uid = "c".into();
        let mut f = Owned::base();
        f.spc_uid = "a".into();
        f.ss_uid = "bc".into();
        assert_ne!(e.hash(), f.hash());

        // forceSynchronization vs. data.
        let mut g = Owned::base();
        g.force_synchronization = "x".into();
        g.data.clear();
        let mut h = Owned::base();
        h.data = data(&[("x", b"")]);
        assert_ne!(g.message(), h.message());
    }

    fn small_owned() -> impl Strategy<Value = Owned> {
        (
            proptest::collection::btree_map(
                "[ab]{0,2}",
                proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(0u8)], 0..3),
                0..3,
            ),
            "[ab]{0,2}",
            0i64..2,
            "[ab]{0,2}",
            0i64..2,
            "[ab]{0,2}",
        )
            .prop_map(
                |(data, spc_uid, spc_generation, ss_uid, ss_generation, force_synchronization)| Owned {
                    data,
                    spc_uid,
                    spc_generation,
                    ss_uid,
                    ss_generation,
                    force_synchronization,
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Injectivity of the encoding over small, collision-prone inputs (tiny alphabets, empty strings).
        #[test]
        fn different_inputs_give_different_messages_and_hashes(a in small_owned(), b in small_owned()) {
            if a == b {
                prop_assert_eq!(a.message(), b.message());
                prop_assert_eq!(a.hash(), b.hash());
            } else {
                prop_assert_ne!(a.message(), b.message());
                prop_assert_ne!(a.hash(), b.hash());
            }
        }
    }
}
