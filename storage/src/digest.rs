//! Digests as the registries write them: `sha256:<64 hex>`.

use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// `sha256:<hex>` of some bytes.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The first 12 hex digits of a digest, as Docker names layers and images in its output.
pub fn short(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    &hex[..hex.len().min(12)]
}

/// The hex part of a sha256 digest, checked: only sha256 is stored, and the hex must be 64 lowercase
/// digits, since it becomes a file name.
pub fn hex_of(digest: &str) -> Result<&str> {
    match digest.strip_prefix("sha256:") {
        Some(hex)
            if hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            Ok(hex)
        }
        _ => Err(Error::BadContent {
            what: format!("digest {digest:?}"),
            reason: "not a sha256 digest".into(),
        }),
    }
}

/// The chain id of each layer of an image, from its diff ids (the OCI image spec's ChainID):
/// the first layer's is its diff id, every next one `sha256(parent_chain + " " + diff_id)`.
/// Two images that share a base share these ids, and so share the unpacked layers.
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for diff_id in diff_ids {
        let next = match out.last() {
            None => diff_id.clone(),
            Some(parent) => sha256(format!("{parent} {diff_id}").as_bytes()),
        };
        out.push(next);
    }
    out
}

/// A writer-side hasher for streams.
#[derive(Debug, Default, Clone)]
pub struct Hasher(Sha256);

impl Hasher {
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    pub fn finish(self) -> String {
        format!("sha256:{}", hex::encode(self.0.finalize()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_oci_definition() {
        let a = sha256(b"a");
        let b = sha256(b"b");
        let ids = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(ids[0], a);
        assert_eq!(ids[1], sha256(format!("{a} {b}").as_bytes()));
        assert_eq!(chain_ids(&[]), Vec::<String>::new());
    }

    #[test]
    fn only_well_formed_sha256_digests_become_file_names() {
        let good = sha256(b"x");
        assert_eq!(hex_of(&good).unwrap(), &good[7..]);
        assert!(hex_of("sha256:../../etc/passwd").is_err());
        assert!(hex_of("sha512:abcd").is_err());
        assert!(hex_of(&good.to_uppercase()).is_err());
    }
}
