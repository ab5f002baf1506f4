//! Image references as Docker reads them: `nginx` is `docker.io/library/nginx:latest`,
//! `127.0.0.1:5000/busybox` is `127.0.0.1:5000/busybox:latest`, `repo@sha256:...` pins a digest.
//! The grammar is `oci-client`'s (the distribution project's reference grammar); this module adds
//! the names Docker prints.

use std::fmt;

use oci_client::{ParseError, Reference};

use crate::error::{Error, Result};

const DOCKER_HUB: &str = "docker.io";

/// A parsed, normalized image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef(Reference);

impl ImageRef {
    /// Parses a reference with Docker's rules and error messages.
    pub fn parse(text: &str) -> Result<ImageRef> {
        let reference: Reference = text.parse().map_err(|err| Error::InvalidReference {
            reason: match err {
                // The grammar rejects upper case before naming it: say what Docker says.
                _ if text.to_lowercase().parse::<Reference>().is_ok() => {
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
