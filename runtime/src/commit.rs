//! A container's files as images and archives: `diff` (what its writable layer changed),
//! `commit` (that layer as a new image on top of the container's), `export` (its whole root
//! filesystem as a tar) and `import` (a tar as a one-layer image).
//!
//! The layers themselves are written by `mini_storage::pack` and stored by
//! `mini_storage::make`; this module adds what only the runtime knows: the container's record
//! (its config becomes the new image's, as Docker's commit does), its lock, its cgroup (frozen
//! while its layer is read, as `docker commit --pause`), and its mounts.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use mini_storage::make::{self, NewLayer};
use mini_storage::pack::{self, Change};
use mini_storage::{ImageRecord, ImageRef};
use serde_json::{json, Map, Value};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::record::{ContainerRecord, Lock};

/// What `commit` is asked for.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// `-a`.
    pub author: Option<String>,
    /// `-m`.
    pub message: Option<String>,
    /// `-c`: Dockerfile instructions applied to the new config.
    pub changes: Vec<String>,
    /// `-p` (Docker's default): the container is frozen while its layer is read.
    pub pause: bool,
    /// `REPOSITORY[:TAG]`; None leaves the image untagged.
    pub reference: Option<ImageRef>,
}

/// What `import` is asked for.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub changes: Vec<String>,
    pub message: Option<String>,
    pub reference: Option<ImageRef>,
    /// Where the archive came from (`-`, a file name), for the history's comment.
    pub source: String,
}

impl Engine {
    /// The container's changes against its image, as `docker diff` lists them.
    pub fn diff(&self, text: &str) -> Result<Vec<Change>> {
        let record = self.find(text)?;
        let layer = self.layers.container_layer(&record.id)?;
        Ok(pack::changes(&layer.upper_dir(), &layer.lower_dirs)?)
    }

    /// Makes an image of the container: its image's layers, its writable layer on top (unless
    /// it changed nothing, which gives an empty-layer history entry, as Docker's), and its
    /// config with `options.changes` applied.
    pub fn commit(&self, text: &str, options: &CommitOptions) -> Result<ImageRecord> {
        let record = self.find(text)?;
        let (base, _) = self.images.resolve(&record.image_id)?;
        let mut config = self.images.config_of(&base)?;
        let mut container_config = container_config(&config, &record);
        for change in &options.changes {
            crate::instructions::apply(&mut container_config, change)?;
        }
        let layer = self.layers.container_layer(&record.id)?;
        let upper = layer.upper_dir();
        // No rm (nor start) while the layer is read; a running container is frozen for it.
        let _start = Lock::acquire(&self.store.container_dir(&record.id).join("start.lock"))?;
        let frozen = if options.pause && self.store.load(&record.id)?.is_running() {
            Freeze::container(self, &record.id)
        } else {
            None
        };
        let mut layers = self.images.layers_of(&base)?;
        let new_layer = if pack::is_empty(&upper)? {
            None
        } else {
            let parent = base.layers.last().map(|l| l.chain_id.clone());
            Some(make::store_layer(
                &self.images,
                &self.layers,
                parent.as_deref(),
                |out| pack::pack_layer(&upper, out).map(|_| ()),
            )?)
        };
        drop(frozen);
        let created = make::now_rfc3339();
        let object = config
            .as_object_mut()
            .ok_or_else(|| Error::Invalid(format!("image {} has no config", base.id)))?;
        object.insert("config".into(), Value::Object(container_config));
        object.insert("container".into(), json!(record.id));
        object.insert("created".into(), json!(created));
        set_or_remove(object, "author", options.author.as_deref());
        set_or_remove(object, "comment", options.message.as_deref());
        object.remove("container_config");
        let mut entry = Map::new();
        entry.insert("created".into(), json!(created));
        if let Some(author) = &options.author {
            entry.insert("author".into(), json!(author));
        }
        let created_by = record.config.cmd.clone().unwrap_or_default().join(" ");
        entry.insert("created_by".into(), json!(created_by));
        if let Some(message) = &options.message {
            entry.insert("comment".into(), json!(message));
        }
        if new_layer.is_none() {
            entry.insert("empty_layer".into(), json!(true));
        }
        push_history(object, entry);
        if let Some(new) = &new_layer {
            layers.push(new.clone());
        }
        set_diff_ids(object, &layers);
        let tags: Vec<ImageRef> = options.reference.iter().cloned().collect();
        Ok(self
            .images
            .create_image(&config, &layers, self.sizes(&layers), &tags)?)
    }

    /// Writes the container's root filesystem (without its volumes and binds, as Docker's
    /// export) as a tar to `out`.
    pub fn export(&self, text: &str, out: impl Write + Send) -> Result<()> {
        let record = self.find(text)?;
        let layer = self.layers.container_layer(&record.id)?;
        let merged = layer.merged_dir();
        if record.is_running() && self.layers.container_layer_mounted(&record.id) {
            return export_tree(&merged, out);
        }
        // Mounted in a private namespace of our own, as `cp` does; no start meanwhile.
        let _start = Lock::acquire(&self.store.container_dir(&record.id).join("start.lock"))?;
        let record = self.get(&record.id)?;
        if record.is_running() && self.layers.container_layer_mounted(&record.id) {
            return export_tree(&merged, out);
        }
        self.in_private_mounts(&record, false, |root| {
            let path = PathBuf::from(format!("/proc/thread-self/fd/{}", root.as_raw_fd()));
            export_tree(&path, out)
        })
    }

    /// `import URL`: the tar is fetched first (into the layer store's folder, removed after),
    /// then imported as a file is.
    pub fn import_url(&self, url: &str, options: &ImportOptions) -> Result<ImageRecord> {
        let path = self
            .layers
            .dir()
            .join(format!(".tmp-import-{}", std::process::id()));
        let result = mini_storage::fetch::download(url, &path)
            .map_err(Error::Invalid)
            .and_then(|_| {
                let file = std::fs::File::open(&path).map_err(Error::io(&path))?;
                self.import(file, options)
            });
        let _ = std::fs::remove_file(&path);
        result
    }

    /// Makes a one-layer image of a tar (plain or gzip-compressed), as `docker import`.
    pub fn import(&self, source: impl Read, options: &ImportOptions) -> Result<ImageRecord> {
        let mut config = Map::new();
        for change in &options.changes {
            crate::instructions::apply(&mut config, change)?;
        }
        let mut input = std::io::BufReader::with_capacity(256 * 1024, source);
        let magic = {
            use std::io::BufRead;
            let head = input.fill_buf().map_err(Error::io(&options.source))?;
            head.get(..6).map(<[u8]>::to_vec).unwrap_or_default()
        };
        let mut reader: Box<dyn Read> = match magic.as_slice() {
            [0x1f, 0x8b, ..] => Box::new(flate2::read::GzDecoder::new(input)),
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Box::new(
                zstd::stream::read::Decoder::with_buffer(input)
                    .map_err(Error::io(&options.source))?,
            ),
            [b'B', b'Z', b'h', ..] | [0xfd, b'7', b'z', b'X', b'Z', 0] => {
                return Err(Error::Invalid(format!(
                    "{}: bzip2 and xz archives are not supported: decompress it first, or use gzip or zstd",
                    options.source
                )))
            }
            _ => Box::new(input),
        };
        let source = options.source.clone();
        let layer = make::store_layer(&self.images, &self.layers, None, |out| {
            std::io::copy(&mut reader, out).map(|_| ()).map_err(|err| {
                mini_storage::Error::BadLayer {
                    layer: source.clone(),
                    reason: format!("reading the archive: {err}"),
                }
            })
        })?;
        let created = make::now_rfc3339();
        let comment = options
            .message
            .clone()
            .unwrap_or_else(|| format!("Imported from {}", options.source));
        let (os, arch) = mini_storage::pull::host_platform()
            .split_once('/')
            .map(|(o, a)| (o.to_string(), a.to_string()))
            .unwrap_or_default();
        let image = json!({
            "architecture": arch,
            "os": os,
            "created": created,
            "comment": comment,
            "config": Value::Object(config),
            "rootfs": {"type": "layers", "diff_ids": [layer.record.diff_id]},
            "history": [{"created": created, "comment": comment}],
        });
        let tags: Vec<ImageRef> = options.reference.iter().cloned().collect();
        let layers = [layer];
        Ok(self
            .images
            .create_image(&image, &layers, self.sizes(&layers), &tags)?)
    }

    fn sizes(&self, layers: &[NewLayer]) -> u64 {
        layers
            .iter()
            .map(|l| self.layers.size(&l.record.chain_id))
            .sum()
    }
}

fn export_tree(root: &Path, out: impl Write) -> Result<()> {
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, out);
    pack::pack_layer(root, &mut out)?;
    out.flush().map_err(Error::io("the archive's output"))
}

/// The new image's `config`: the image's, with what the container ran with over it (Docker's
/// commit takes the container's config whole).
fn container_config(image: &Value, record: &ContainerRecord) -> Map<String, Value> {
    let mut config = image["config"].as_object().cloned().unwrap_or_default();
    let c = &record.config;
    config.insert("Hostname".into(), json!(c.hostname));
    config.insert("User".into(), json!(c.user));
    config.insert("Tty".into(), json!(c.tty));
    config.insert("OpenStdin".into(), json!(c.open_stdin));
    config.insert("StdinOnce".into(), json!(c.stdin_once));
    config.insert("Env".into(), json!(c.env));
    config.insert("Cmd".into(), json!(c.cmd));
    config.insert("Entrypoint".into(), json!(c.entrypoint));
    config.insert("Image".into(), json!(c.image));
    config.insert("WorkingDir".into(), json!(c.working_dir));
    let labels = (!c.labels.is_empty()).then(|| json!(c.labels));
    config.insert("Labels".into(), labels.unwrap_or(Value::Null));
    if !c.exposed_ports.is_empty() {
        config.insert("ExposedPorts".into(), json!(c.exposed_ports));
    }
    if !c.volumes.is_empty() {
        config.insert("Volumes".into(), json!(c.volumes));
    }
    if let Some(signal) = &c.stop_signal {
        config.insert("StopSignal".into(), json!(signal));
    }
    config
}

fn set_or_remove(object: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    match value {
        Some(value) => {
            object.insert(key.into(), json!(value));
        }
        None => {
            object.remove(key);
        }
    }
}

fn push_history(object: &mut Map<String, Value>, entry: Map<String, Value>) {
    let history = object.entry("history").or_insert_with(|| json!([]));
    if !history.is_array() {
        *history = json!([]);
    }
    history
        .as_array_mut()
        .expect("made an array")
        .push(Value::Object(entry));
}

fn set_diff_ids(object: &mut Map<String, Value>, layers: &[NewLayer]) {
    let ids: Vec<&str> = layers.iter().map(|l| l.record.diff_id.as_str()).collect();
    object.insert("rootfs".into(), json!({"type": "layers", "diff_ids": ids}));
}

/// A running container frozen through libcontainer (its cgroup's freezer); thawed on drop.
struct Freeze {
    container: libcontainer::container::Container,
}

impl Freeze {
    /// None when it cannot be frozen (it stopped meanwhile, or no freezer): the commit goes on,
    /// as Docker's does for a container it cannot pause.
    fn container(engine: &Engine, id: &str) -> Option<Freeze> {
        let dir = engine.store.libcontainer_root().join(id);
        let mut container = libcontainer::container::Container::load(dir).ok()?;
        container.pause().ok()?;
        Some(Freeze { container })
    }
}

impl Drop for Freeze {
    fn drop(&mut self) {
        if let Err(err) = self.container.resume() {
            eprintln!("mini: thawing the container after commit: {err}");
        }
    }
}

impl std::fmt::Debug for Freeze {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Freeze")
    }
}
