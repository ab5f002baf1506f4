//! Image references as Docker reads them: `nginx` is `docker.io/library/nginx:latest`,
//! `127.0.0.1:5000/busybox` is `127.0.0.1:5000/busybox:latest`, `repo@sha256:...` pins a digest.
//! The grammar is the distribution project's, as `oci-client` has it; this module adds the names
//! Docker prints.
//!
//! Parsing is written by hand (`parse_reference`) rather than left to `Reference::from_str`:
//! that one compiles a large Unicode regex on first use, which cost about 30 ms of CPU in every
//! `mini` command that names an image, a third of a whole `mini run`. A unit test holds the
//! hand-written parser to the regex's answers.

use std::fmt;

use oci_client::{ParseError, Reference};

use crate::error::{Error, Result};

const DOCKER_HUB: &str = "docker.io";

/// `Reference::from_str` without its regex: the same grammar, normalization and errors (tags are
/// ASCII, as Docker's grammar has them).
pub fn parse_reference(text: &str) -> std::result::Result<Reference, ParseError> {
    if text.is_empty() {
        return Err(ParseError::NameEmpty);
    }
    let (rest, digest) = match text.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (text, None),
    };
    let (name, tag) = match rest.rfind(':') {
        Some(colon) if !rest[colon..].contains('/') => (&rest[..colon], Some(&rest[colon + 1..])),
        _ => (rest, None),
    };
    let invalid = || ParseError::ReferenceInvalidFormat;
    if let Some(tag) = tag {
        let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
        let mut chars = tag.chars();
        if !chars.next().is_some_and(word)
            || tag.len() > 128
            || !chars.all(|c| word(c) || c == '.' || c == '-')
        {
            return Err(invalid());
        }
    }
    if let Some(digest) = digest {
        let (algorithm, hex) = digest.split_once(':').ok_or_else(invalid)?;
        let component_ok = |part: &str| {
            let mut chars = part.chars();
            chars.next().is_some_and(|c| c.is_ascii_alphabetic())
                && chars.all(|c| c.is_ascii_alphanumeric())
        };
        if !algorithm.split(['-', '_', '+', '.']).all(component_ok)
            || hex.len() < 32
            || !hex.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(invalid());
        }
    }
    if !valid_name(name) {
        return Err(invalid());
    }
    let (registry, repository) = split_domain(name);
    if repository.len() > 255 {
        return Err(ParseError::NameTooLong);
    }
    if let Some(digest) = digest {
        let (algorithm, hex) = digest
            .split_once(':')
            .ok_or(ParseError::DigestInvalidFormat)?;
        let wanted = match algorithm {
            "sha256" => 64,
            "sha384" => 96,
            "sha512" => 128,
            _ => return Err(ParseError::DigestUnsupported),
        };
        if hex.len() != wanted {
            return Err(ParseError::DigestInvalidLength);
        }
    }
    Ok(match (tag, digest) {
        (Some(tag), Some(digest)) => {
            Reference::with_tag_and_digest(registry, repository, tag.into(), digest.into())
        }
        (None, Some(digest)) => Reference::with_digest(registry, repository, digest.into()),
        (tag, None) => Reference::with_tag(registry, repository, tag.unwrap_or("latest").into()),
    })
}

/// `[domain/]component(/component)*`, as the distribution grammar has it.
fn valid_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('/').collect();
    let components_ok =
        |parts: &[&str]| !parts.is_empty() && parts.iter().all(|p| path_component(p));
    components_ok(&parts) || (parts.len() > 1 && domain(parts[0]) && components_ok(&parts[1..]))
}

/// `[a-z0-9]+` runs joined by `.`, `_`, `__` or any number of `-`.
fn path_component(part: &str) -> bool {
    let bytes = part.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &part[start..i];
        if !(separator == "."
            || separator == "_"
            || separator == "__"
            || separator.bytes().all(|b| b == b'-'))
        {
            return false;
        }
    }
    true
}

/// `host(.host)*[:port]`, each host part alphanumeric with inner dashes.
fn domain(text: &str) -> bool {
    let (host, port) = match text.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (text, None),
    };
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    host.split('.').all(|label| {
        let bytes = label.as_bytes();
        !bytes.is_empty()
            && bytes[0].is_ascii_alphanumeric()
            && bytes[bytes.len() - 1].is_ascii_alphanumeric()
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
    })
}

/// The distribution project's rule: a first part with a dot or a colon, or `localhost`, is a
/// registry; Docker Hub's official images live under `library/`.
fn split_domain(name: &str) -> (String, String) {
    let (mut domain, mut rest) = match name.split_once('/') {
        Some((left, right)) if left.contains('.') || left.contains(':') || left == "localhost" => {
            (left.to_string(), right.to_string())
        }
        _ => (DOCKER_HUB.to_string(), name.to_string()),
    };
    if domain == "index.docker.io" {
        domain = DOCKER_HUB.into();
    }
    if domain == DOCKER_HUB && !rest.contains('/') {
        rest = format!("library/{rest}");
    }
    (domain, rest)
}

/// A parsed, normalized image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef(Reference);

impl ImageRef {
    /// Parses a reference with Docker's rules and error messages.
    pub fn parse(text: &str) -> Result<ImageRef> {
        let reference: Reference =
            parse_reference(text).map_err(|err| Error::InvalidReference {
                reason: match err {
                    // The grammar rejects upper case before naming it: say what Docker says.
                    _ if parse_reference(&text.to_lowercase()).is_ok() => {
                        format!("repository name ({text}) must be lowercase")
                    }
                    ParseError::ReferenceInvalidFormat => {
                        format!("{text:?} is not a valid image reference")
                    }
                    other => format!("{text:?}: {other}"),
                },
            })?;
        Ok(ImageRef(reference))
    }

    /// The registry's host (and port): `docker.io`, `127.0.0.1:5000`.
    pub fn registry(&self) -> &str {
        self.0.registry()
    }

    /// The repository path inside the registry: `library/nginx`.
    pub fn repository(&self) -> &str {
        self.0.repository()
    }

    /// The tag, if the reference names one (references with only a digest do not).
    pub fn tag(&self) -> Option<&str> {
        self.0.tag()
    }

    /// The pinned digest, if any.
    pub fn digest(&self) -> Option<&str> {
        self.0.digest()
    }

    /// True when the user named no tag and no digest, and `latest` was assumed.
    pub fn is_default_tag(text: &str) -> bool {
        let last = text.rsplit('/').next().unwrap_or(text);
        !last.contains(':') && !last.contains('@')
    }

    /// The repository as Docker prints it: `nginx`, `someone/app`, `127.0.0.1:5000/busybox`.
    pub fn familiar_name(&self) -> String {
        if self.registry() == DOCKER_HUB {
            self.repository()
                .strip_prefix("library/")
                .unwrap_or(self.repository())
                .to_string()
        } else {
            format!("{}/{}", self.registry(), self.repository())
        }
    }

    /// The full name with registry: `docker.io/library/nginx`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.registry(), self.repository())
    }

    /// `docker.io/library/nginx:latest`: the key the image store keeps tags under.
    pub fn full_tagged(&self) -> Option<String> {
        self.tag().map(|tag| format!("{}:{tag}", self.full_name()))
    }

    /// A stored full name (`docker.io/library/nginx:latest`, `...nginx@sha256:...`) as Docker
    /// prints it (`nginx:latest`, `nginx@sha256:...`); text that does not parse stays as it is.
    pub fn familiar(full: &str) -> String {
        ImageRef::parse(full)
            .map(|r| r.to_string())
            .unwrap_or_else(|_| full.to_string())
    }

    /// The `oci-client` reference, for talking to registries.
    pub fn oci(&self) -> &Reference {
        &self.0
    }
}

impl fmt::Display for ImageRef {
    /// Docker's familiar form: `nginx:latest`, `127.0.0.1:5000/busybox@sha256:...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.familiar_name())?;
        if let Some(tag) = self.tag() {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = self.digest() {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hand_written_parser_agrees_with_the_grammars_regex() {
        let hex = "a".repeat(64);
        let long = "x".repeat(256);
        let cases = [
            "nginx".to_string(),
            "nginx:1.25".into(),
            "library/nginx".into(),
            "docker.io/library/nginx:latest".into(),
            "index.docker.io/nginx".into(),
            "127.0.0.1:5000/busybox".into(),
            "localhost/a/b".into(),
            "localhost:5000".into(),
            "my-registry.example.com:443/team/app:v1.2-rc_3".into(),
            format!("busybox@sha256:{hex}"),
            format!("busybox:1@sha256:{hex}"),
            format!("busybox@sha512:{hex}"),
            format!("busybox@md5:{hex}"),
            "busybox@sha256:abc".into(),
            "a__b".into(),
            "a___b".into(),
            "a--b-c".into(),
            "a.b_c".into(),
            "a..b".into(),
            "-a".into(),
            "a-".into(),
            "A".into(),
            "Foo/bar".into(),
            "foo/Bar".into(),
            "a:".into(),
            "a:-x".into(),
            "a:_x".into(),
            ":tag".into(),
            "a:b:c".into(),
            "a/".into(),
            "/a".into(),
            "a//b".into(),
            "host:port/a".into(),
            "-host.com/a".into(),
            "host-.com/a".into(),
            "a b".into(),
            format!("a:{}", "t".repeat(128)),
            format!("a:{}", "t".repeat(129)),
            long.clone(),
            format!("{long}:tag"),
            "".into(),
            "a@".into(),
            "a@sha256".into(),
            "a@sha256:".into(),
            format!("a@1sha:{hex}"),
        ];
        for case in &cases {
            let ours = parse_reference(case);
            let theirs = case.parse::<Reference>();
            assert_eq!(ours, theirs, "{case:?}");
        }
    }

    fn parts(text: &str) -> (String, String, Option<String>, Option<String>) {
        let r = ImageRef::parse(text).unwrap();
        (
            r.registry().to_string(),
            r.repository().to_string(),
            r.tag().map(str::to_string),
            r.digest().map(str::to_string),
        )
    }

    #[test]
    fn short_names_mean_docker_hub_library_latest() {
        assert_eq!(
            parts("nginx"),
            (
                "docker.io".into(),
                "library/nginx".into(),
                Some("latest".into()),
                None
            )
        );
        assert_eq!(
            ImageRef::parse("nginx").unwrap().to_string(),
            "nginx:latest"
        );
        assert_eq!(
            ImageRef::parse("nginx").unwrap().full_tagged().unwrap(),
            "docker.io/library/nginx:latest"
        );
        assert_eq!(
            parts("someone/app:1.2"),
            (
                "docker.io".into(),
                "someone/app".into(),
                Some("1.2".into()),
                None
            )
        );
        assert_eq!(parts("docker.io/library/nginx:1.25").1, "library/nginx");
    }

    #[test]
    fn hosts_ports_and_digests() {
        assert_eq!(
            parts("127.0.0.1:5000/busybox"),
            (
                "127.0.0.1:5000".into(),
                "busybox".into(),
                Some("latest".into()),
                None
            )
        );
        assert_eq!(
            ImageRef::parse("127.0.0.1:5000/busybox")
                .unwrap()
                .familiar_name(),
            "127.0.0.1:5000/busybox"
        );
        assert_eq!(parts("localhost/app").0, "localhost");
        let digest = format!("sha256:{}", "a".repeat(64));
        let (_, repo, tag, pinned) = parts(&format!("nginx@{digest}"));
        assert_eq!(
            (repo.as_str(), tag, pinned),
            ("library/nginx", None, Some(digest))
        );
    }

    #[test]
    fn default_tag_is_noticed() {
        assert!(ImageRef::is_default_tag("nginx"));
        assert!(ImageRef::is_default_tag("127.0.0.1:5000/nginx"));
        assert!(!ImageRef::is_default_tag("nginx:1"));
        assert!(!ImageRef::is_default_tag("127.0.0.1:5000/nginx:1"));
    }

    #[test]
    fn malformed_references_say_why() {
        let err = ImageRef::parse("Nginx").unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid reference format: repository name (Nginx) must be lowercase"
        );
        for bad in ["", "nginx:", ":tag", "a b", "nginx@sha256:xyz", "-x"] {
            let err = ImageRef::parse(bad).unwrap_err().to_string();
            assert!(
                err.starts_with("invalid reference format"),
                "{bad:?}: {err}"
            );
        }
    }
}
