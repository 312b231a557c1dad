//! The embedded local store: a JSON file of name → value, read at start-up and written back
//! whole on every change.
//!
//! Writes are atomic (a temporary file in the same folder, flushed, then renamed over the old
//! one, so a crash leaves either the old or the new file) and serialised (one at a time, each
//! from the latest state, so concurrent writes never lose one another). The file is written
//! with mode 0600: it holds secrets.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde_json::Value;

use super::{SecretError, SecretFuture, SecretStore, SetFuture, Stored};

/// Why the secrets file cannot be used.
#[derive(Debug)]
pub(crate) enum LocalStoreError {
    /// It exists but cannot be read.
    Unreadable(PathBuf, std::io::Error),
    /// It is not a JSON object of name to string.
    Malformed(PathBuf, String),
}

impl fmt::Display for LocalStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocalStoreError::Unreadable(path, e) => {
                write!(f, "cannot read {}: {e}", path.display())
            }
            LocalStoreError::Malformed(path, why) => write!(f, "{}: {why}", path.display()),
        }
    }
}

/// Lower-case name → (name as first written, value).
type Entries = HashMap<String, (String, String)>;

/// Secrets from `LOCAL_SECRETS_FILE`, matched case-insensitively like Key Vault names.
pub(crate) struct LocalStore {
    path: PathBuf,
    /// The current contents; readers clone the `Arc` and never wait for a write's I/O.
    entries: RwLock<Arc<Entries>>,
    /// Held across a whole write (read latest, write file, publish) so none is lost.
    writing: tokio::sync::Mutex<()>,
}

impl LocalStore {
    /// Reads the file; a missing file is an empty store (created on the first write).
    pub(crate) fn load(path: &Path) -> Result<LocalStore, LocalStoreError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                log::warn!(
                    "no local secrets file at {}: vault finds no secrets until one is written",
                    path.display()
                );
                String::from("{}")
            }
            Err(e) => return Err(LocalStoreError::Unreadable(path.to_owned(), e)),
        };
        let malformed = |why: String| LocalStoreError::Malformed(path.to_owned(), why);
        let map = match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(map)) => map,
            Ok(_) => return Err(malformed("must be a JSON object of name to value".into())),
            Err(e) => return Err(malformed(format!("is not valid JSON: {e}"))),
        };
        let mut entries = HashMap::new();
        for (name, value) in map {
            let Value::String(value) = value else {
                return Err(malformed(format!("the value of {name:?} must be a string")));
            };
            entries.insert(name.to_ascii_lowercase(), (name, value));
        }
        log::info!(
            "local secret store: {} secrets from {}",
            entries.len(),
            path.display()
        );
        Ok(LocalStore {
            path: path.to_owned(),
            entries: RwLock::new(Arc::new(entries)),
            writing: tokio::sync::Mutex::new(()),
        })
    }

    fn current(&self) -> Arc<Entries> {
        match self.entries.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn publish(&self, next: Entries) {
        let next = Arc::new(next);
        match self.entries.write() {
            Ok(mut guard) => *guard = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
    }
}

/// Writes `entries` to `path` atomically with mode 0600.
///
/// The temporary file has a random name and is created exclusively (`O_CREAT|O_EXCL`, which
/// never follows a symlink) with mode 0600 from the start: a file or symlink planted under a
/// predictable name could otherwise leave the secrets readable, or written into a file of the
/// planter's. The rename then replaces `path` itself, even when `path` is a symlink.
fn write_file(path: &Path, entries: &Entries) -> std::io::Result<()> {
    // Sorted by name, so the file diffs cleanly and reads well.
    let sorted: BTreeMap<&str, &str> = entries
        .values()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let text = serde_json::to_vec_pretty(&sorted).map_err(std::io::Error::other)?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let prefix = format!(".{}.", file_name.unwrap_or_else(|| "secrets".into()));
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o600));
    }
    // Dropped on any error before `persist`, which removes it.
    let mut temp = builder.tempfile_in(dir.unwrap_or(Path::new(".")))?;
    temp.write_all(&text)?;
    temp.write_all(b"\n")?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

impl SecretStore for LocalStore {
    fn get<'a>(&'a self, name: &'a str, _version: Option<&'a str>) -> SecretFuture<'a> {
        let entries = self.current();
        // Names reaching here are at most 127 ASCII characters: lower-case them on the stack.
        let mut buf = [0u8; 127];
        let found = match buf.get_mut(..name.len()) {
            Some(lower) if name.is_ascii() => {
                lower.copy_from_slice(name.as_bytes());
                lower.make_ascii_lowercase();
                std::str::from_utf8(lower)
                    .ok()
                    .and_then(|key| entries.get(key))
                    .map(|(_, v)| v.clone())
            }
            _ => entries
                .get(&name.to_ascii_lowercase())
                .map(|(_, v)| v.clone()),
        };
        Box::pin(async move { Ok(found) })
    }

    fn set<'a>(&'a self, name: &'a str, value: &'a str) -> SetFuture<'a> {
        Box::pin(async move {
            let _one_at_a_time = self.writing.lock().await;
            let mut next = (*self.current()).clone();
            let key = name.to_ascii_lowercase();
            // An existing secret keeps the spelling it was first written with.
            let spelling = next.get(&key).map_or(name, |(n, _)| n.as_str()).to_owned();
            let created = next.insert(key, (spelling, value.to_owned())).is_none();
            let path = self.path.clone();
            let written =
                tokio::task::spawn_blocking(move || write_file(&path, &next).map(|()| next))
                    .await
                    .map_err(|e| SecretError::refused(format!("the write task failed: {e}")))?;
            match written {
                Ok(next) => {
                    self.publish(next);
                    Ok(Stored {
                        created: Some(created),
                        version: None,
                    })
                }
                Err(e) => Err(SecretError::refused(format!(
                    "cannot write {}: {e}",
                    self.path.display()
                ))),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_are_atomic_private_and_survive_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.json");
        std::fs::write(&path, r#"{"Demo": "one"}"#).unwrap();
        let store = LocalStore::load(&path).unwrap();
        let updated = store.set("demo", "two").await.unwrap();
        assert_eq!(updated.created, Some(false));
        assert_eq!(
            store.set("New-One", "three").await.unwrap().created,
            Some(true)
        );
        assert_eq!(
            store.get("DEMO", None).await.unwrap().as_deref(),
            Some("two")
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"Demo\": \"two\""), "spelling kept: {text}");
        let again = LocalStore::load(&path).unwrap();
        assert_eq!(
            again.get("new-one", None).await.unwrap().as_deref(),
            Some("three")
        );
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn planted_temporary_files_and_symlinks_are_never_used() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.json");
        std::fs::write(&path, r#"{"demo": "one"}"#).unwrap();
        let store = LocalStore::load(&path).unwrap();
        // What the old fixed name would have been, planted readable, and as a symlink.
        let old_name = dir
            .path()
            .join(format!(".secrets.json.{}.tmp", std::process::id()));
        std::fs::write(&old_name, "").unwrap();
        std::fs::set_permissions(&old_name, std::fs::Permissions::from_mode(0o644)).unwrap();
        let theirs = dir.path().join("theirs.json");
        std::fs::write(&theirs, "").unwrap();
        std::os::unix::fs::symlink(&theirs, dir.path().join(".secrets.json.link.tmp")).unwrap();
        store.set("demo", "two").await.unwrap();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_file(), "not a symlink");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&theirs).unwrap(), "");
        assert_eq!(std::fs::read_to_string(&old_name).unwrap(), "");
    }

    #[tokio::test]
    async fn a_write_that_cannot_land_fails_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        // The file's folder is gone by the time of the write: the rename cannot happen.
        let path = dir.path().join("gone").join("secrets.json");
        let store = LocalStore::load(&path).unwrap();
        let err = store.set("demo", "v").await.unwrap_err();
        assert_eq!(err.failure, crate::secrets::Failure::Refused);
        assert!(err.detail.contains("cannot write"), "{}", err.detail);
        assert!(!err.detail.contains("\"v\""), "never the value");
        assert_eq!(
            store.get("demo", None).await.unwrap(),
            None,
            "nothing published"
        );
    }
}
