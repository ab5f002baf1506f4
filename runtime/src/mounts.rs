//! A container's mounts: `-v`, `--mount`, `--volumes-from` and the image's VOLUME entries, parsed
//! with Docker's grammar and rules into `MountPoint`s, the list `inspect` shows as `Mounts` and
//! the spec binds into the container.
//!
//! - `-v NAME:/dst[:opts]` a named volume, `-v /host:/dst[:opts]` a bind (the host folder is made
//!   if missing, as Docker does for `-v`), `-v /dst` an anonymous volume. opts: `ro`/`rw`,
//!   `nocopy`, a propagation, SELinux's `z`/`Z` and the consistency words (accepted, no effect).
//! - `--mount type=volume|bind|tmpfs,source=..,target=..,readonly,...`: a bind source must exist.
//! - Volumes are made (or found) at create, under the volume store's lock; a new or empty volume is
//!   filled from the image's content at its destination unless `nocopy` (engine.rs).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One mount of a container: Docker's `MountPoint`, plus what mini needs to make it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MountPoint {
    /// `volume`, `bind` or `tmpfs`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// The volume's name; empty for binds and tmpfs, and for a volume not made yet.
    pub name: String,
    /// The host path: the volume's `_data`, or the bind's source.
    pub source: String,
    pub destination: String,
    /// `local` for volumes.
    pub driver: String,
    /// Docker's `Mode`: the `-v` options as given (`z` for a volume without any).
    pub mode: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    /// `rprivate` for binds unless asked otherwise; empty for volumes.
    pub propagation: String,
    /// `nocopy`: a new volume is not filled from the image.
    #[serde(default)]
    pub no_copy: bool,
    /// tmpfs mount options (`size=`, `mode=`).
    #[serde(default)]
    pub tmpfs_options: Vec<String>,
    /// A `-v` bind whose host folder is made if it does not exist.
    #[serde(default)]
    pub create_source: bool,
}

impl MountPoint {
    pub fn is_volume(&self) -> bool {
        self.kind == "volume"
    }
}

const PROPAGATIONS: &[&str] = &[
    "shared", "rshared", "slave", "rslave", "private", "rprivate",
];

fn invalid_spec(spec: &str) -> Error {
    Error::Invalid(format!("invalid volume specification: '{spec}'"))
}

/// Checks a container path: absolute, and not `/`.
fn check_destination(spec: &str, kind: &str, destination: &str) -> Result<String> {
    if !destination.starts_with('/') {
        return Err(Error::Invalid(format!(
            "invalid volume specification: '{spec}': invalid mount config for type \"{kind}\": invalid mount path: '{destination}' mount path must be absolute"
        )));
    }
    let clean = clean_path(destination);
    if clean == "/" {
        return Err(Error::Invalid(format!(
            "invalid volume specification: '{spec}': invalid mount config for type \"{kind}\": invalid specification: destination can't be '/'"
        )));
    }
    Ok(clean)
}

/// `/a//b/./c/` -> `/a/b/c` (`..` is kept: it is resolved in the container's root).
pub fn clean_path(path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

/// One `-v` value.
pub fn parse_volume_flag(spec: &str) -> Result<MountPoint> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, destination, mode) = match parts.as_slice() {
        [destination] => ("", *destination, ""),
        [source, destination] => (*source, *destination, ""),
        [source, destination, mode] => (*source, *destination, *mode),
        _ => return Err(invalid_spec(spec)),
    };
    if destination.is_empty() || (parts.len() > 1 && source.is_empty()) {
        return Err(invalid_spec(spec));
    }
    let mut rw = true;
    let mut no_copy = false;
    let mut propagation = String::new();
    if !mode.is_empty() {
        for option in mode.split(',') {
            match option {
                "ro" => rw = false,
                "rw" => rw = true,
                "nocopy" => no_copy = true,
                "z" | "Z" | "consistent" | "cached" | "delegated" => {}
                p if PROPAGATIONS.contains(&p) => propagation = p.to_string(),
                _ => return Err(Error::Invalid(format!("invalid mode: {mode}"))),
            }
        }
    }
    let bind = source.starts_with('/');
    let kind = if bind { "bind" } else { "volume" };
    let destination = check_destination(spec, kind, destination)?;
    if bind {
        if no_copy {
            return Err(Error::Invalid(format!("invalid mode: {mode}")));
        }
        return Ok(MountPoint {
            kind: kind.into(),
            source: clean_path(source),
            destination,
            mode: mode.to_string(),
            rw,
            propagation: if propagation.is_empty() {
                "rprivate".into()
            } else {
                propagation
            },
            create_source: true,
            ..MountPoint::default()
        });
    }
    if !propagation.is_empty() {
        return Err(Error::Invalid(format!("invalid mode: {mode}")));
    }
    if !source.is_empty() && !crate::volumes::valid_name(source) {
        return Err(Error::Invalid(format!(
            "create {source}: \"{source}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        )));
    }
    Ok(MountPoint {
        kind: kind.into(),
        name: source.to_string(),
        destination,
        driver: "local".into(),
        mode: if mode.is_empty() {
            "z".into()
        } else {
            mode.to_string()
        },
        rw,
        no_copy,
        ..MountPoint::default()
    })
}

/// One `--mount` value: comma-separated `key=value` fields, as Docker's.
pub fn parse_mount_flag(spec: &str) -> Result<MountPoint> {
    let flag_error = |reason: String| {
        Error::Invalid(format!(
            "invalid argument \"{spec}\" for \"--mount\" flag: {reason}"
        ))
    };
    let mut kind = "volume".to_string();
    let mut source = String::new();
    let mut target = String::new();
    let mut read_only = false;
    let mut propagation = String::new();
    let mut no_copy = false;
    let mut tmpfs_options = Vec::new();
    for field in spec.split(',') {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim())),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        let boolean = |value: Option<&str>| -> Result<bool> {
            match value.map(str::to_ascii_lowercase).as_deref() {
                None | Some("true") | Some("1") => Ok(true),
                Some("false") | Some("0") => Ok(false),
                Some(other) => Err(flag_error(format!("invalid value for {key}: {other}"))),
            }
        };
        let required = |value: Option<&str>| -> Result<String> {
            value.map(str::to_string).ok_or_else(|| {
                flag_error(format!("invalid field '{field}' must be a key=value pair"))
            })
        };
        match key.as_str() {
            "type" => kind = required(value)?,
            "source" | "src" => source = required(value)?,
            "target" | "destination" | "dst" => target = required(value)?,
            "readonly" | "ro" => read_only = boolean(value)?,
            "bind-propagation" => {
                let value = required(value)?;
                if !PROPAGATIONS.contains(&value.as_str()) {
                    return Err(flag_error(format!("invalid bind-propagation: {value}")));
                }
                propagation = value;
            }
            "volume-nocopy" => no_copy = boolean(value)?,
            "volume-driver" => {
                let value = required(value)?;
                if value != "local" {
                    return Err(flag_error(format!(
                        "volume driver {value} is not supported: mini has the local driver only"
                    )));
                }
            }
            "tmpfs-size" => tmpfs_options.push(format!("size={}", required(value)?)),
            "tmpfs-mode" => {
                let value = required(value)?;
                if u32::from_str_radix(&value, 8).is_err() {
                    return Err(flag_error(format!("invalid value for tmpfs-mode: {value}")));
                }
                tmpfs_options.push(format!("mode={value}"));
            }
            "consistency" | "bind-nonrecursive" => {}
            _ => {
                return Err(flag_error(format!("unexpected key '{key}' in '{field}'")));
            }
        }
    }
    let config_error = |reason: &str| {
        Error::Invalid(format!(
            "invalid mount config for type \"{kind}\": {reason}"
        ))
    };
    if target.is_empty() {
        return Err(config_error("field Target must not be empty"));
    }
    if !target.starts_with('/') {
        return Err(config_error(&format!(
            "invalid mount path: '{target}' mount path must be absolute"
        )));
    }
    let destination = clean_path(&target);
    if destination == "/" {
        return Err(config_error(
            "invalid specification: destination can't be '/'",
        ));
    }
    let rw = !read_only;
    match kind.as_str() {
        "bind" => {
            if source.is_empty() {
                return Err(config_error("field Source must not be empty"));
            }
            if !source.starts_with('/') {
                return Err(config_error(&format!(
                    "invalid mount path: '{source}' mount path must be absolute"
                )));
            }
            if !Path::new(&source).exists() {
                return Err(config_error(&format!(
                    "bind source path does not exist: {source}"
                )));
            }
            Ok(MountPoint {
                kind,
                source: clean_path(&source),
                destination,
                rw,
                propagation: if propagation.is_empty() {
                    "rprivate".into()
                } else {
                    propagation
                },
                ..MountPoint::default()
            })
        }
        "volume" => {
            if !propagation.is_empty() {
                return Err(config_error("field BindOptions must not be specified"));
            }
            if !source.is_empty() && !crate::volumes::valid_name(&source) {
                return Err(config_error(&format!(
                    "\"{source}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed"
                )));
            }
            Ok(MountPoint {
                kind,
                name: source,
                destination,
                driver: "local".into(),
                mode: "z".into(),
                rw,
                no_copy,
                ..MountPoint::default()
            })
        }
        "tmpfs" => {
            if !source.is_empty() {
                return Err(config_error("field Source must not be specified"));
            }
            Ok(MountPoint {
                kind,
                destination,
                rw,
                tmpfs_options,
                ..MountPoint::default()
            })
        }
        other => Err(flag_error(format!("invalid mount type: {other}"))),
    }
}

/// The container's mounts: `--volumes-from` first, then `-v` and `--mount` (which win over them
/// on the same destination), then an anonymous volume for each image VOLUME nothing covers.
/// Two explicit mounts on one destination are an error, as in Docker.
pub fn assemble(
    from_containers: Vec<MountPoint>,
    explicit: Vec<MountPoint>,
    image_volumes: &[String],
) -> Result<Vec<MountPoint>> {
    let mut mounts: Vec<MountPoint> = Vec::new();
    for mount in explicit {
        if mounts.iter().any(|m| m.destination == mount.destination) {
            return Err(Error::Invalid(format!(
                "Duplicate mount point: {}",
                mount.destination
            )));
        }
        mounts.push(mount);
    }
    for mount in from_containers {
        if !mounts.iter().any(|m| m.destination == mount.destination) {
            mounts.push(mount);
        }
    }
    for destination in image_volumes {
        let destination = clean_path(destination);
        if destination != "/" && !mounts.iter().any(|m| m.destination == destination) {
            mounts.push(MountPoint {
                kind: "volume".into(),
                destination,
                driver: "local".into(),
                rw: true,
                ..MountPoint::default()
            });
        }
    }
    Ok(mounts)
}

/// The mounts `--volumes-from CTR[:ro|:rw]` takes from another container: its volumes and
/// binds, read-only or read-write as asked, else as they are there.
pub fn from_container(mounts: &[MountPoint], mode: Option<&str>) -> Vec<MountPoint> {
    mounts
        .iter()
        .filter(|m| m.kind != "tmpfs")
        .map(|m| {
            let mut m = m.clone();
            match mode {
                Some("ro") => m.rw = false,
                Some("rw") => m.rw = true,
                _ => {}
            }
            // The volume exists already; the other container made it.
            m.create_source = false;
            m.no_copy = true;
            m
        })
        .collect()
}

/// Splits `CTR[:ro|:rw]`.
pub fn parse_volumes_from(spec: &str) -> Result<(&str, Option<&str>)> {
    match spec.rsplit_once(':') {
        Some((name, mode @ ("ro" | "rw"))) => Ok((name, Some(mode))),
        Some((_, mode)) => Err(Error::Invalid(format!("invalid mode: {mode}"))),
        None => Ok((spec, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v_names_a_volume_a_bind_or_an_anonymous_volume() {
        let m = parse_volume_flag("data:/var/lib/data:ro").unwrap();
        assert_eq!((m.kind.as_str(), m.name.as_str()), ("volume", "data"));
        assert_eq!(m.destination, "/var/lib/data");
        assert!(!m.rw);
        assert_eq!(m.mode, "ro");
        let m = parse_volume_flag("/srv/www/:/usr/share/nginx/html").unwrap();
        assert_eq!((m.kind.as_str(), m.source.as_str()), ("bind", "/srv/www"));
        assert_eq!(m.propagation, "rprivate");
        assert!(m.rw && m.create_source);
        let m = parse_volume_flag("/cache").unwrap();
        assert_eq!((m.kind.as_str(), m.name.as_str()), ("volume", ""));
        assert_eq!(m.mode, "z");
        let m = parse_volume_flag("v1:/x:nocopy,rw").unwrap();
        assert!(m.no_copy && m.rw);
    }

    #[test]
    fn bad_v_values_say_what_is_wrong() {
        let err = |s: &str| parse_volume_flag(s).unwrap_err().to_string();
        assert_eq!(err("a:b:c:d"), "invalid volume specification: 'a:b:c:d'");
        assert!(err("data:relative").contains("mount path must be absolute"));
        assert!(err("data:/").contains("destination can't be '/'"));
        assert_eq!(err("data:/x:rx"), "invalid mode: rx");
        assert!(err("./here:/x").contains("If you intended to pass a host directory"));
        assert_eq!(err(":/x"), "invalid volume specification: ':/x'");
    }

    #[test]
    fn mount_takes_dockers_keys() {
        let m = parse_mount_flag("type=volume,source=v1,target=/data,readonly").unwrap();
        assert_eq!((m.name.as_str(), m.rw), ("v1", false));
        let m = parse_mount_flag("type=tmpfs,dst=/run/t,tmpfs-size=1m,tmpfs-mode=1770").unwrap();
        assert_eq!(m.tmpfs_options, vec!["size=1m", "mode=1770"]);
        let m = parse_mount_flag("type=bind,src=/tmp,dst=/t,bind-propagation=rslave").unwrap();
        assert_eq!(m.propagation, "rslave");
        let err = |s: &str| parse_mount_flag(s).unwrap_err().to_string();
        assert!(err("type=bind,src=/does/not/exist,dst=/t")
            .contains("bind source path does not exist: /does/not/exist"));
        assert!(err("type=volume,src=v").contains("field Target must not be empty"));
        assert!(err("type=nfs,dst=/x").contains("invalid mount type: nfs"));
        assert!(err("type=volume,dst=/x,color=red").contains("unexpected key 'color'"));
        assert!(err("type=tmpfs,src=x,dst=/x").contains("Source must not be specified"));
    }

    #[test]
    fn explicit_mounts_win_and_duplicates_are_refused() {
        let v = |s: &str| parse_volume_flag(s).unwrap();
        let from = from_container(&[v("a1:/data"), v("/h:/h")], Some("ro"));
        assert!(from.iter().all(|m| !m.rw));
        let mounts = assemble(
            from,
            vec![v("b1:/data")],
            &["/cache".into(), "/data".into()],
        )
        .unwrap();
        let summary: Vec<(String, String)> = mounts
            .iter()
            .map(|m| (m.destination.clone(), m.name.clone()))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("/data".into(), "b1".into()),
                ("/h".into(), "".into()),
                ("/cache".into(), "".into())
            ]
        );
        let err = assemble(vec![], vec![v("a1:/d"), v("/x:/d/")], &[]).unwrap_err();
        assert_eq!(err.to_string(), "Duplicate mount point: /d");
        assert_eq!(parse_volumes_from("c1:ro").unwrap(), ("c1", Some("ro")));
        assert!(parse_volumes_from("c1:xx").is_err());
    }
}
