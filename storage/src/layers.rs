//! The overlay2 layer store, laid out as Docker's overlay2 driver lays it out:
//!
//! ```text
//! overlay/<chain-hex>/diff     the layer's files, whiteouts in overlay's form
//! overlay/<chain-hex>/link     its short id (26 characters)
//! overlay/<chain-hex>/lower    the short ids of the layers below, uppermost first: "l/A:l/B"
//! overlay/<chain-hex>/size     the length of the layer's tar stream, for `images` and `history`
//! overlay/l/<short>            -> ../<chain-hex>/diff
//! ```
//!
//! Layers are named by chain id, so an image that shares a base with another finds it already
//! unpacked. The short links keep a container's mount options under a page even with 100+
//! layers (kernels before 6.8 cap them at one page). A layer is unpacked into a temporary folder
//! and renamed into place only when complete and verified: a folder named by a chain id is
//! always whole, and two pulls racing for one layer both succeed.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::digest::{self, Hasher};
use crate::error::{Error, Result};
use crate::unpack::unpack_layer;

/// The layer store under `<root>/overlay`.
#[derive(Debug, Clone)]
pub struct LayerStore {
    dir: PathBuf,
}

/// Length of the short ids in `l/`, as Docker's.
const SHORT_ID_LEN: usize = 26;

impl LayerStore {
    /// The store under `dir` (`<root>/overlay`), created if missing.
    pub fn open(dir: &Path) -> Result<LayerStore> {
        std::fs::create_dir_all(dir.join("l")).map_err(Error::io(dir.join("l")))?;
        remove_stale_temps(dir);
        Ok(LayerStore {
            dir: dir.to_path_buf(),
        })
    }

    /// The store's folder, `<root>/overlay`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `overlay/<chain-hex>`.
    pub fn layer_dir(&self, chain_id: &str) -> Result<PathBuf> {
        Ok(self.dir.join(digest::hex_of(chain_id)?))
    }

    /// The unpacked files of a layer (`GraphDriver` shows these paths).
    pub fn diff_dir(&self, chain_id: &str) -> Result<PathBuf> {
        Ok(self.layer_dir(chain_id)?.join("diff"))
    }

    /// True when the layer is unpacked and whole.
    pub fn exists(&self, chain_id: &str) -> bool {
        self.layer_dir(chain_id)
            .map(|d| d.join("link").exists())
            .unwrap_or(false)
    }

    /// The short id of a layer, derived from its chain id.
    pub fn short_id(chain_id: &str) -> Result<String> {
        Ok(digest::hex_of(chain_id)?[..SHORT_ID_LEN].to_uppercase())
    }

    /// Unpacks an uncompressed layer tar from `reader` as layer `chain_id` on top of `parent`
    /// (a chain id, or None for a base layer). The uncompressed stream must hash to `diff_id`,
    /// or nothing stays. Returns the unpacked size in bytes of the tar stream.
    pub fn unpack(
        &self,
        chain_id: &str,
        parent: Option<&str>,
        diff_id: &str,
        reader: impl Read,
    ) -> Result<u64> {
        let final_dir = self.layer_dir(chain_id)?;
        let tmp = self.dir.join(format!(
            ".tmp-{}-{}",
            &digest::hex_of(chain_id)?[..12],
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&tmp);
        let result = self.unpack_into(&tmp, chain_id, parent, diff_id, reader);
        let size = match result {
            Ok(size) => size,
            Err(err) => {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(err);
            }
        };
        match std::fs::rename(&tmp, &final_dir) {
            Ok(()) => {}
            // Another pull put the same layer in place first: it is the same content.
            Err(_) if self.exists(chain_id) => {
                let _ = std::fs::remove_dir_all(&tmp);
            }
            Err(err) => {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(Error::io(&final_dir)(err));
            }
        }
        let short = Self::short_id(chain_id)?;
        let link = self.dir.join("l").join(&short);
        if link.symlink_metadata().is_err() {
            let target = Path::new("..").join(digest::hex_of(chain_id)?).join("diff");
            if let Err(err) = std::os::unix::fs::symlink(&target, &link) {
                if link.symlink_metadata().is_err() {
                    return Err(Error::io(&link)(err));
                }
            }
        }
        Ok(size)
    }

    fn unpack_into(
        &self,
        tmp: &Path,
        chain_id: &str,
        parent: Option<&str>,
        diff_id: &str,
        reader: impl Read,
    ) -> Result<u64> {
        let diff = tmp.join("diff");
        std::fs::create_dir_all(&diff).map_err(Error::io(&diff))?;
        let mut hashing = HashingReader {
            inner: reader,
            hasher: Hasher::default(),
            count: 0,
        };
        unpack_layer(&mut hashing, &diff, diff_id)?;
        // Read what tar left unread (padding after the end-of-archive blocks): it is hashed too.
        std::io::copy(&mut hashing, &mut std::io::sink()).map_err(|e| Error::BadLayer {
            layer: diff_id.to_string(),
            reason: e.to_string(),
        })?;
        let size = hashing.count;
        let actual = hashing.hasher.finish();
        if actual != diff_id {
            return Err(Error::DigestMismatch {
                what: format!("uncompressed layer (chain {chain_id})"),
                expected: diff_id.to_string(),
                actual,
            });
        }
        if let Some(parent) = parent {
            let mut lowers = vec![format!("l/{}", Self::short_id(parent)?)];
            let parent_lower = self.layer_dir(parent)?.join("lower");
            if let Ok(text) = std::fs::read_to_string(&parent_lower) {
                lowers.extend(text.trim().split(':').map(str::to_string));
            }
            std::fs::write(tmp.join("lower"), lowers.join(":"))
                .map_err(Error::io(tmp.join("lower")))?;
        }
        std::fs::write(tmp.join("size"), size.to_string()).map_err(Error::io(tmp.join("size")))?;
        // `link` last: its presence marks the layer whole.
        std::fs::write(tmp.join("link"), Self::short_id(chain_id)?)
            .map_err(Error::io(tmp.join("link")))?;
        Ok(size)
    }

    /// What `docker inspect` shows as `GraphDriver.Data` for a stack of layers (bottom first):
    /// the top layer's `diff` as UpperDir, with the `merged` and `work` beside it, and the layers
    /// below as LowerDir, uppermost first. A single-layer image has no LowerDir.
    pub fn graph_data(&self, chain_ids: &[String]) -> Result<Vec<(&'static str, String)>> {
        let Some((top, below)) = chain_ids.split_last() else {
            return Ok(Vec::new());
        };
        let top_dir = self.layer_dir(top)?;
        let mut data = Vec::new();
        if !below.is_empty() {
            let lowers: Result<Vec<String>> = below
                .iter()
                .rev()
                .map(|id| self.diff_dir(id).map(|p| p.display().to_string()))
                .collect();
            data.push(("LowerDir", lowers?.join(":")));
        }
        data.push(("MergedDir", top_dir.join("merged").display().to_string()));
        data.push(("UpperDir", top_dir.join("diff").display().to_string()));
        data.push(("WorkDir", top_dir.join("work").display().to_string()));
        Ok(data)
    }

    /// The unpacked size of a layer in bytes (its tar stream's length), 0 if unknown.
    pub fn size(&self, chain_id: &str) -> u64 {
        self.layer_dir(chain_id)
            .ok()
            .and_then(|dir| std::fs::read_to_string(dir.join("size")).ok())
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Removes a layer and its short link.
    pub fn remove(&self, chain_id: &str) -> Result<()> {
        let dir = self.layer_dir(chain_id)?;
        let link = self.dir.join("l").join(Self::short_id(chain_id)?);
        let _ = std::fs::remove_file(&link);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(Error::io(&dir)(err)),
        }
    }
}

/// Hashes and counts what passes through.
struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
    count: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// Removes what pulls that were killed half way left: `.tmp-<what>-<pid>` entries whose process
/// is gone. A live pull's temporaries are left alone.
pub(crate) fn remove_stale_temps(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name.strip_prefix(".tmp-") else {
            continue;
        };
        let Some(pid) = rest.rsplit('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if Path::new("/proc").join(pid.to_string()).exists() {
            continue;
        }
        let path = entry.path();
        let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
    }
}
