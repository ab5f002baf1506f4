//! COPY and ADD without a container: the sources are found (wildcards, the ignore file, paths
//! that must stay inside their root), checksummed for the cache, and copied into an empty
//! folder laid out as an overlay upper directory would be. Folders on the way to the
//! destination get the metadata the image below already gives them, so the new layer changes
//! only what the instruction copies. The folder is then packed as the step's layer.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use mini_storage::digest::Hasher;

use super::ignore::{segment_match, Ignore};

/// Where sources are read from.
#[derive(Debug, Clone, Copy)]
pub struct SourceRoot<'a> {
    pub root: &'a Path,
    /// The build context: a path that leads outside it (`..`, a symlink out) is refused, and
    /// the ignore file applies. An image's or stage's root resolves links inside itself.
    pub context: bool,
    pub ignore: Option<&'a Ignore>,
}

/// One source found: the host path to read (links resolved), and its name in the root.
#[derive(Debug, Clone)]
pub struct Found {
    pub path: PathBuf,
    pub relative: String,
}

/// How copied files are owned and moded.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ownership {
    pub uid: u32,
    pub gid: u32,
    pub chmod: Option<u32>,
}

fn has_wildcard(text: &str) -> bool {
    text.contains(['*', '?', '['])
}

/// Resolves `relative` inside `root`, following symlinks as the root's own: an absolute link
/// starts again at the root. In the context, leaving the root is an error.
fn resolve_inside(source: &SourceRoot, relative: &str) -> Result<PathBuf, String> {
    let outside = || format!("forbidden path outside the build context: {relative}");
    let mut parts: Vec<std::ffi::OsString> = Vec::new();
    let mut pending: Vec<std::ffi::OsString> = Path::new(relative)
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(p) => Some(p.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            if parts.pop().is_none() && source.context {
                return Err(outside());
            }
            continue;
        }
        let mut candidate = source.root.to_path_buf();
        candidate.extend(&parts);
        candidate.push(&part);
        match std::fs::symlink_metadata(&candidate) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > 40 {
                    return Err(format!("{relative}: too many levels of symbolic links"));
                }
                let target = std::fs::read_link(&candidate).map_err(|e| e.to_string())?;
                if target.is_absolute() {
                    if source.context {
                        return Err(outside());
                    }
                    parts.clear();
                }
                for c in target.components().rev() {
                    match c {
                        Component::Normal(p) => pending.push(p.to_os_string()),
                        Component::ParentDir => pending.push("..".into()),
                        _ => {}
                    }
                }
            }
            _ => parts.push(part),
        }
    }
    let mut path = source.root.to_path_buf();
    path.extend(&parts);
    Ok(path)
}

/// The sources an instruction names, in order, wildcards expanded (in name order, as Go's
/// `filepath.Glob`). A source that matches nothing is an error, as in Docker.
pub fn find_sources(source: &SourceRoot, patterns: &[String]) -> Result<Vec<Found>, String> {
    let mut out = Vec::new();
    for pattern in patterns {
        let cleaned: Vec<&str> = pattern
            .split('/')
            .filter(|s| !s.is_empty() && *s != ".")
            .collect();
        let names = if has_wildcard(pattern) {
            glob(source, &cleaned)?
        } else {
            vec![cleaned.join("/")]
        };
        let mut matched = false;
        for relative in names {
            if let Some(ignore) = source.ignore {
                if !relative.is_empty() && ignore.excludes(&relative) {
                    continue;
                }
            }
            let path = resolve_inside(source, &relative)?;
            if std::fs::symlink_metadata(&path).is_err() {
                continue;
            }
            matched = true;
            out.push(Found { path, relative });
        }
        if !matched {
            return Err(format!(
                "file not found in build context or excluded by .dockerignore: stat {pattern}: file does not exist"
            ));
        }
    }
    Ok(out)
}

fn glob(source: &SourceRoot, segments: &[&str]) -> Result<Vec<String>, String> {
    let mut current = vec![String::new()];
    for segment in segments {
        let mut next = Vec::new();
        for base in &current {
            if !has_wildcard(segment) {
                next.push(join(base, segment));
                continue;
            }
            let dir = resolve_inside(source, base)?;
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .collect();
            names.sort();
            for name in names {
                if segment_match(segment, &name)? {
                    next.push(join(base, &name));
                }
            }
        }
        current = next;
    }
    Ok(current)
}

fn join(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else {
        format!("{base}/{name}")
    }
}

/// A checksum of what would be copied: names, types, modes, sizes, link targets and content.
/// Times and owners are left out (the copy sets owners; a fresh checkout must still hit the
/// cache), as Docker's classic builder leaves them out.
pub fn checksum(source: &SourceRoot, found: &[Found]) -> Result<String, String> {
    let mut hasher = Hasher::default();
    for item in found {
        hasher.update(item.relative.as_bytes());
        hasher.update(b"\0");
        walk_sum(source, &item.path, &item.relative, &mut hasher)?;
    }
    Ok(hasher.finish())
}

fn walk_sum(
    source: &SourceRoot,
    path: &Path,
    relative: &str,
    hasher: &mut Hasher,
) -> Result<(), String> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| format!("{relative}: {e}"))?;
    hasher.update(format!("{:o} {} ", meta.mode(), meta.len()).as_bytes());
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(path).map_err(|e| e.to_string())?;
        hasher.update(target.as_os_str().as_encoded_bytes());
    } else if meta.is_file() {
        let mut file = std::fs::File::open(path).map_err(|e| format!("{relative}: {e}"))?;
        let mut buf = vec![0u8; 128 * 1024];
        loop {
            let n = file
                .read(&mut buf)
                .map_err(|e| format!("{relative}: {e}"))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
    } else if meta.is_dir() {
        for (name, child) in sorted_children(path)? {
            let child_relative = join(relative, &name);
            if excluded(source, &child_relative) {
                continue;
            }
            hasher.update(name.as_bytes());
            hasher.update(b"\0");
            walk_sum(source, &child, &child_relative, hasher)?;
        }
    }
    hasher.update(b"\n");
    Ok(())
}

fn excluded(source: &SourceRoot, relative: &str) -> bool {
    source.ignore.is_some_and(|i| i.excludes(relative))
        && !source.ignore.is_some_and(|i| i.may_include_below(relative))
}

fn sorted_children(dir: &Path) -> Result<Vec<(String, PathBuf)>, String> {
    let mut children: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    children.sort();
    Ok(children)
}

/// A tree being written as a layer: `upper` is the new layer's folder, `lowers` the layers
/// below (uppermost first), whose folders give the metadata of folders on the way.
#[derive(Debug)]
pub struct LayerTree<'a> {
    pub upper: &'a Path,
    pub lowers: &'a [PathBuf],
    /// Folders made on the way, and the metadata they take at the end.
    made: BTreeMap<PathBuf, Option<std::fs::Metadata>>,
}

impl<'a> LayerTree<'a> {
    pub fn new(upper: &'a Path, lowers: &'a [PathBuf]) -> LayerTree<'a> {
        LayerTree {
            upper,
            lowers,
            made: BTreeMap::new(),
        }
    }

    /// The entry at `inside` (absolute in the image) as the layers below have it.
    pub fn below(&self, inside: &Path) -> Option<std::fs::Metadata> {
        let relative = inside.strip_prefix("/").unwrap_or(inside);
        for lower in self.lowers {
            if let Ok(meta) = std::fs::symlink_metadata(lower.join(relative)) {
                use std::os::unix::fs::FileTypeExt;
                if meta.file_type().is_char_device() && meta.rdev() == 0 {
                    return None; // a whiteout: gone
                }
                return Some(meta);
            }
        }
        None
    }

    /// Whether `inside` is a folder in the image below or in this layer.
    pub fn is_dir(&self, inside: &Path) -> bool {
        let relative = inside.strip_prefix("/").unwrap_or(inside);
        std::fs::symlink_metadata(self.upper.join(relative)).map_or_else(
            |_| self.below(inside).is_some_and(|m| m.is_dir()),
            |m| m.is_dir(),
        )
    }

    /// Makes the folder `inside` (and those above it) in this layer, as the image has them,
    /// or new (root's, 0755).
    pub fn make_dirs(&mut self, inside: &Path) -> Result<PathBuf, String> {
        let mut built = PathBuf::from("/");
        let mut host = self.upper.to_path_buf();
        for component in inside.components() {
            let Component::Normal(part) = component else {
                continue;
            };
            built.push(part);
            host.push(part);
            if std::fs::symlink_metadata(&host).is_ok_and(|m| m.is_dir()) {
                continue;
            }
            std::fs::create_dir(&host).map_err(|e| format!("{}: {e}", built.display()))?;
            let below = self.below(&built).filter(|m| m.is_dir());
            self.made.insert(host.clone(), below);
        }
        Ok(host)
    }

    /// Gives the folders made on the way their final metadata (after their content is in).
    pub fn finish(self) -> Result<(), String> {
        for (host, below) in self.made.iter().rev() {
            let (mode, uid, gid, mtime) = match below {
                Some(m) => (m.mode() & 0o7777, m.uid(), m.gid(), m.mtime()),
                None => (0o755, 0, 0, now()),
            };
            apply(host, mode, uid, gid, mtime, false)?;
        }
        Ok(())
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn apply(path: &Path, mode: u32, uid: u32, gid: u32, mtime: i64, link: bool) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("{}: {e}", path.display());
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).map_err(fail)?;
    if !link {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(fail)?;
    }
    let time = nix::sys::time::TimeSpec::new(mtime, 0);
    nix::sys::stat::utimensat(
        None,
        path,
        &time,
        &time,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .map_err(|e| format!("{}: {e}", path.display()))
}

/// Copies `item` to `dest` (absolute in the image) in `tree`. A folder's content goes into
/// `dest`; a file becomes `dest`, or `dest/NAME` when `into_dir`.
pub fn copy_item(
    tree: &mut LayerTree,
    source: &SourceRoot,
    item: &Found,
    dest: &Path,
    into_dir: bool,
    owner: Ownership,
) -> Result<(), String> {
    let meta = std::fs::metadata(&item.path)
        .or_else(|_| std::fs::symlink_metadata(&item.path))
        .map_err(|e| format!("{}: {e}", item.relative))?;
    if meta.is_dir() {
        let host = tree.make_dirs(dest)?;
        copy_children(source, &item.path, &item.relative, &host, owner)?;
        return Ok(());
    }
    let target = if into_dir || tree.is_dir(dest) {
        let name = Path::new(&item.relative)
            .file_name()
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("file"));
        dest.join(name)
    } else {
        dest.to_path_buf()
    };
    let parent = target.parent().unwrap_or(Path::new("/"));
    let host_parent = tree.make_dirs(parent)?;
    let host = host_parent.join(target.file_name().unwrap_or_default());
    copy_entry(&item.path, &host, owner, true)
}

fn copy_children(
    source: &SourceRoot,
    dir: &Path,
    relative: &str,
    host: &Path,
    owner: Ownership,
) -> Result<(), String> {
    for (name, child) in sorted_children(dir)? {
        let child_relative = join(relative, &name);
        if source.ignore.is_some_and(|i| i.excludes(&child_relative)) {
            let keep_looking = source
                .ignore
                .is_some_and(|i| i.may_include_below(&child_relative))
                && std::fs::symlink_metadata(&child).is_ok_and(|m| m.is_dir());
            if !keep_looking {
                continue;
            }
        }
        let target = host.join(&name);
        let meta =
            std::fs::symlink_metadata(&child).map_err(|e| format!("{child_relative}: {e}"))?;
        if meta.is_dir() {
            if std::fs::symlink_metadata(&target).is_err() {
                std::fs::create_dir(&target).map_err(|e| format!("{child_relative}: {e}"))?;
            }
            copy_children(source, &child, &child_relative, &target, owner)?;
            let mode = owner.chmod.unwrap_or(meta.mode() & 0o7777);
            apply(&target, mode, owner.uid, owner.gid, meta.mtime(), false)?;
        } else {
            copy_entry(&child, &target, owner, false)?;
        }
    }
    // The folder itself, once its content is in.
    let meta = std::fs::metadata(dir).map_err(|e| format!("{relative}: {e}"))?;
    let mode = owner.chmod.unwrap_or(meta.mode() & 0o7777);
    apply(host, mode, owner.uid, owner.gid, meta.mtime(), false)
}

/// One file or symlink; with `follow` a symlink's target is copied instead.
fn copy_entry(from: &Path, to: &Path, owner: Ownership, follow: bool) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("{}: {e}", to.display());
    let meta = if follow {
        std::fs::metadata(from)
    } else {
        std::fs::symlink_metadata(from)
    }
    .map_err(|e| format!("{}: {e}", from.display()))?;
    if std::fs::symlink_metadata(to).is_ok() {
        let _ = std::fs::remove_file(to).or_else(|_| std::fs::remove_dir_all(to));
    }
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(from).map_err(fail)?;
        std::os::unix::fs::symlink(&target, to).map_err(fail)?;
        return apply(to, 0, owner.uid, owner.gid, meta.mtime(), true);
    }
    if !meta.is_file() {
        return Ok(()); // devices, fifos and sockets are not copied
    }
    std::fs::copy(from, to).map_err(fail)?;
    let mode = owner.chmod.unwrap_or(meta.mode() & 0o7777);
    apply(to, mode, owner.uid, owner.gid, meta.mtime(), false)
}

/// Where the file `dest` (absolute in the image) goes on the host, its folders made.
fn host_file(tree: &mut LayerTree, dest: &Path) -> Result<PathBuf, String> {
    let parent = dest.parent().unwrap_or(Path::new("/"));
    Ok(tree
        .make_dirs(parent)?
        .join(dest.file_name().unwrap_or_default()))
}

/// Writes `content` as the file `dest` (a here-document), root's and 0644 unless told.
pub fn write_file(
    tree: &mut LayerTree,
    dest: &Path,
    content: &[u8],
    owner: Ownership,
) -> Result<(), String> {
    let host = host_file(tree, dest)?;
    std::fs::write(&host, content).map_err(|e| format!("{}: {e}", dest.display()))?;
    apply(
        &host,
        owner.chmod.unwrap_or(0o644),
        owner.uid,
        owner.gid,
        now(),
        false,
    )
}

/// ADD's download at `from` (a file of this host, beside the tree) becomes `dest`: mode 0600
/// unless `--chmod`, the owner of `--chown`, and the server's modification time (else now).
pub fn place_file(
    tree: &mut LayerTree,
    dest: &Path,
    from: &Path,
    mtime: Option<i64>,
    owner: Ownership,
) -> Result<(), String> {
    let host = host_file(tree, dest)?;
    if std::fs::rename(from, &host).is_err() {
        std::fs::copy(from, &host).map_err(|e| format!("{}: {e}", dest.display()))?;
    }
    apply(
        &host,
        owner.chmod.unwrap_or(0o600),
        owner.uid,
        owner.gid,
        mtime.unwrap_or_else(now),
        false,
    )
}

/// ADD's local archives: a tar (plain, gzip, zstd) is unpacked into `dest` rather than copied.
pub fn is_archive(path: &Path) -> bool {
    let Ok(mut file) = std::fs::File::open(path) else {
        return false;
    };
    let mut head = vec![0u8; 512];
    let n = file.read(&mut head).unwrap_or(0);
    head.truncate(n);
    match head.as_slice() {
        [0x1f, 0x8b, ..] | [0x28, 0xb5, 0x2f, 0xfd, ..] => true,
        _ => head.len() >= 262 && &head[257..262] == b"ustar",
    }
}

/// Unpacks a local archive into the folder `dest` of the tree.
pub fn unpack_archive(tree: &mut LayerTree, archive: &Path, dest: &Path) -> Result<(), String> {
    let host = tree.make_dirs(dest)?;
    let file = std::fs::File::open(archive).map_err(|e| format!("{}: {e}", archive.display()))?;
    let mut reader = std::io::BufReader::new(file);
    let head = {
        use std::io::BufRead;
        reader
            .fill_buf()
            .map_err(|e| e.to_string())?
            .get(..4)
            .map(<[u8]>::to_vec)
    };
    let stream: Box<dyn Read> = match head.as_deref() {
        Some([0x1f, 0x8b, ..]) => Box::new(flate2::read::GzDecoder::new(reader)),
        Some([0x28, 0xb5, 0x2f, 0xfd]) => {
            Box::new(zstd::stream::read::Decoder::with_buffer(reader).map_err(|e| e.to_string())?)
        }
        _ => Box::new(reader),
    };
    let mut tar = tar::Archive::new(stream);
    tar.set_preserve_permissions(true);
    tar.set_preserve_ownerships(true);
    tar.set_preserve_mtime(true);
    for entry in tar.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| format!("{}: {e}", archive.display()))?;
        let unpacked = entry
            .unpack_in(&host)
            .map_err(|e| format!("{}: {e}", archive.display()))?;
        if !unpacked {
            return Err(format!(
                "{}: an entry points outside the destination",
                archive.display()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mini-copy-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn sources_stay_inside_the_context() {
        let dir = scratch("inside");
        let ctx = dir.join("ctx");
        std::fs::create_dir_all(ctx.join("src")).unwrap();
        std::fs::write(ctx.join("src/a.txt"), "a").unwrap();
        std::fs::write(ctx.join("src/b.txt"), "b").unwrap();
        std::fs::write(dir.join("secret"), "s").unwrap();
        std::os::unix::fs::symlink("../secret", ctx.join("out")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", ctx.join("abs")).unwrap();
        std::os::unix::fs::symlink("src/a.txt", ctx.join("ok")).unwrap();
        let source = SourceRoot {
            root: &ctx,
            context: true,
            ignore: None,
        };
        let found = find_sources(&source, &["src/*.txt".into()]).unwrap();
        let names: Vec<&str> = found.iter().map(|f| f.relative.as_str()).collect();
        assert_eq!(names, ["src/a.txt", "src/b.txt"]);
        for bad in ["../secret", "out", "abs", "src/../../secret"] {
            let err = find_sources(&source, &[bad.into()]).unwrap_err();
            assert!(err.contains("outside the build context"), "{bad}: {err}");
        }
        let found = find_sources(&source, &["ok".into()]).unwrap();
        assert_eq!(found[0].path, ctx.join("src/a.txt"));
        let err = find_sources(&source, &["nope*".into()]).unwrap_err();
        assert!(err.contains("file not found in build context"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_images_absolute_links_resolve_inside_it() {
        let dir = scratch("image");
        std::fs::create_dir_all(dir.join("usr/lib")).unwrap();
        std::fs::write(dir.join("usr/lib/x"), "x").unwrap();
        std::os::unix::fs::symlink("/usr/lib", dir.join("lib")).unwrap();
        let source = SourceRoot {
            root: &dir,
            context: false,
            ignore: None,
        };
        let found = find_sources(&source, &["/lib/x".into()]).unwrap();
        assert_eq!(found[0].path, dir.join("usr/lib/x"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_checksum_follows_content_and_the_ignore_file() {
        let dir = scratch("sum");
        std::fs::create_dir_all(dir.join("app")).unwrap();
        std::fs::write(dir.join("app/main.c"), "int main;").unwrap();
        std::fs::write(dir.join("app/notes.md"), "notes").unwrap();
        let ignore = Ignore::parse("**/*.md\n").unwrap();
        let source = SourceRoot {
            root: &dir,
            context: true,
            ignore: Some(&ignore),
        };
        let sum = |source: &SourceRoot| {
            let found = find_sources(source, &["app".into()]).unwrap();
            checksum(source, &found).unwrap()
        };
        let first = sum(&source);
        std::fs::write(dir.join("app/notes.md"), "changed notes").unwrap();
        assert_eq!(sum(&source), first, "an ignored file changes nothing");
        std::fs::write(dir.join("app/main.c"), "int main();").unwrap();
        assert_ne!(sum(&source), first, "a changed file changes the checksum");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
