//! The state dir's small files (memory, hold-down clocks, pacing state,
//! cached listings), safe in a directory other users may write to: files
//! are read with `O_NOFOLLOW` and must be regular files owned by the
//! running user; they are replaced atomically through a temporary file
//! with an unpredictable name created with `O_EXCL`, and a write that
//! cannot complete (a full disk) is an error and leaves no temporary file.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

#[derive(Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreError({:?})", self.0)
    }
}

impl std::error::Error for StoreError {}

/// Rejects names that are not one plain file name in the dir.
fn check_name(name: &str) -> Result<(), StoreError> {
    if name.is_empty()
        || name == "."
        || name == ".."
        || name.contains('/')
        || name.contains('\0')
        || name.starts_with(".tmp.")
    {
        return Err(StoreError(format!("invalid state file name {name:?}")));
    }
    Ok(())
}

/// The effective user id of this process.
#[cfg(unix)]
pub fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Opens `path` for reading without following a final symlink, and checks
/// that it is a regular file owned by the running user. `Ok(None)`: it does
/// not exist.
pub fn open_checked(path: &Path, opts: &mut OpenOptions) -> Result<Option<File>, StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NONBLOCK: opening a FIFO planted in the dir returns at once
        // (and is refused below) instead of waiting for a writer; it
        // changes nothing for a regular file.
        opts.custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK);
    }
    let file = match opts.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        #[cfg(unix)]
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(StoreError(format!(
                "{} is a symbolic link; refusing to follow it (remove it)",
                path.display()
            )));
        }
        Err(e) => return Err(StoreError(format!("cannot open {}: {e}", path.display()))),
    };
    check_file(path, &file)?;
    Ok(Some(file))
}

/// An open file must be a regular file owned by the running user.
pub fn check_file(path: &Path, file: &File) -> Result<(), StoreError> {
    let meta = file
        .metadata()
        .map_err(|e| StoreError(format!("cannot stat {}: {e}", path.display())))?;
    if !meta.file_type().is_file() {
        return Err(StoreError(format!(
            "{} is not a regular file; refusing to use it",
            path.display()
        )));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let uid = current_uid();
        if meta.uid() != uid {
            return Err(StoreError(format!(
                "{} is owned by uid {}, not by the running user (uid {uid}); refusing to use it",
                path.display(),
                meta.uid()
            )));
        }
    }
    Ok(())
}

/// Reads STATE_DIR/name: None when it does not exist. Opened with O_NOFOLLOW, must be a regular file owned by the
/// running user, at most max_len bytes (else error).
pub fn read(dir: &Path, name: &str, max_len: u64) -> Result<Option<Vec<u8>>, StoreError> {
    let path = dir.join(name);
    let Some((file, size)) = open_read(dir, name, max_len)? else {
        return Ok(None);
    };
    // Room for the file as it is now (a file that grows while it is read
    // still stops at the bound): no doubling past twice a large file.
    let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0).saturating_add(1));
    // One byte more than allowed tells a file that is too long.
    file.take(max_len.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| StoreError(format!("cannot read {}: {e}", path.display())))?;
    if buf.len() as u64 > max_len {
        return Err(StoreError(format!(
            "{} is larger than {max_len} bytes; refusing to read it",
            path.display()
        )));
    }
    Ok(Some(buf))
}

/// Opens STATE_DIR/name for reading (O_NOFOLLOW, a regular file of the
/// running user), to be streamed (or read whole by [`read`]): the file and its
/// size now; None when it does not exist; an error when it is larger than
/// `max_len` (the caller still reads at most `max_len` + 1 bytes: a file
/// may grow while it is read).
pub fn open_read(dir: &Path, name: &str, max_len: u64) -> Result<Option<(File, u64)>, StoreError> {
    check_name(name)?;
    let path = dir.join(name);
    let Some(file) = open_checked(&path, OpenOptions::new().read(true))? else {
        return Ok(None);
    };
    let size = file.metadata().map_or(0, |m| m.len());
    if size > max_len {
        return Err(StoreError(format!(
            "{} is larger than {max_len} bytes; refusing to read it",
            path.display()
        )));
    }
    Ok(Some((file, size)))
}

/// An unpredictable 64-bit value: std's per-process random hash keys over
/// the time, the process id and a counter.
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    if let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(d.as_nanos());
    }
    h.finish()
}

/// Creates a new temporary file in `dir` with an unpredictable name and
/// `O_EXCL` (never an existing file or a symlink planted there), mode 0600.
pub fn create_temp(dir: &Path, name: &str) -> Result<(PathBuf, File), StoreError> {
    create_temp_mode(dir, name, 0o600)
}

fn create_temp_mode(dir: &Path, name: &str, mode: u32) -> Result<(PathBuf, File), StoreError> {
    #[cfg(not(unix))]
    let _ = mode;
    let mut last = None;
    for _ in 0..16 {
        let tmp = dir.join(format!(".tmp.{name}.{:016x}", random_u64()));
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(mode)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
        }
        match opts.open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => {
                return Err(StoreError(format!(
                    "cannot create a temporary file in {}: {e}",
                    dir.display()
                )));
            }
        }
    }
    Err(StoreError(format!(
        "cannot create a temporary file in {}: {}",
        dir.display(),
        last.map_or_else(String::new, |e| e.to_string())
    )))
}

/// Atomically replaces STATE_DIR/name: unpredictable temp name created with O_EXCL in dir, write, fsync, rename,
/// fsync dir; on any error the temp file is removed and the error returned.
pub fn write_atomic(dir: &Path, name: &str, data: &[u8]) -> Result<(), StoreError> {
    write_atomic_mode(dir, name, data, 0o600)
}

/// [`write_atomic`] with the file's permission bits (before the umask),
/// for files other programs read (a metrics textfile: 0644).
pub fn write_atomic_mode(dir: &Path, name: &str, data: &[u8], mode: u32) -> Result<(), StoreError> {
    write_atomic_with(dir, name, mode, |w| w.write_all(data))
}

/// [`write_atomic_mode`] with the content written by `write` through a
/// buffer, so that a large file (the listing cache) is streamed to disk
/// instead of being built in memory first.
pub fn write_atomic_with(
    dir: &Path,
    name: &str,
    mode: u32,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), StoreError> {
    check_name(name)?;
    let path = dir.join(name);
    let (tmp, file) = create_temp_mode(dir, name, mode)?;
    finish_write(dir, &path, &tmp, file, write)
}

/// Writes, syncs and renames a temporary file over `path`; removes the
/// temporary file on any error.
fn finish_write(
    dir: &Path,
    path: &Path,
    tmp: &Path,
    file: File,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), StoreError> {
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, file);
    let written = write(&mut out)
        .and_then(|()| out.flush())
        .and_then(|()| out.get_ref().sync_all())
        .map_err(|e| StoreError(format!("cannot write {}: {e}", path.display())));
    drop(out);
    let renamed = written.and_then(|()| {
        std::fs::rename(tmp, path).map_err(|e| {
            StoreError(format!(
                "cannot replace {} with {}: {e}",
                path.display(),
                tmp.display()
            ))
        })
    });
    if let Err(e) = renamed {
        let _ = std::fs::remove_file(tmp);
        return Err(e);
    }
    // The rename is durable once the directory is.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "mesos2ns1-store-{tag}-{}-{:x}",
            std::process::id(),
            random_u64()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn round_trip_and_missing() {
        let d = tmpdir("rt");
        assert_eq!(read(&d, "memory.json", 100).unwrap(), None);
        write_atomic(&d, "memory.json", b"hello").unwrap();
        write_atomic(&d, "memory.json", b"hello again").unwrap();
        assert_eq!(
            read(&d, "memory.json", 100).unwrap().as_deref(),
            Some(&b"hello again"[..])
        );
        assert_eq!(entries(&d), vec!["memory.json"]);
        let e = read(&d, "memory.json", 5).unwrap_err();
        assert!(e.0.contains("larger than 5 bytes"), "{e}");
        assert!(read(&d, "../x", 5).is_err());
        assert!(write_atomic(&d, "a/b", b"").is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn temp_names_are_unpredictable_and_exclusive() {
        let d = tmpdir("tmp");
        let (a, _fa) = create_temp(&d, "x").unwrap();
        let (b, _fb) = create_temp(&d, "x").unwrap();
        assert_ne!(a, b);
        assert!(
            a.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".tmp.x.")
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_and_non_regular_files_are_refused() {
        let d = tmpdir("link");
        std::fs::write(d.join("target"), b"secret").unwrap();
        std::os::unix::fs::symlink(d.join("target"), d.join("memory.json")).unwrap();
        let e = read(&d, "memory.json", 100).unwrap_err();
        assert!(e.0.contains("symbolic link"), "{e}");
        std::fs::create_dir(d.join("holddown.json")).unwrap();
        let e = read(&d, "holddown.json", 100).unwrap_err();
        assert!(e.0.contains("not a regular file"), "{e}");
        // Writing replaces the link itself, never the file it points to.
        write_atomic(&d, "memory.json", b"new").unwrap();
        assert_eq!(std::fs::read(d.join("target")).unwrap(), b"secret");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn modes_private_by_default_readable_on_request() {
        use std::os::unix::fs::PermissionsExt;
        let umask = std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("Umask:"))
            .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
            .unwrap();
        let d = tmpdir("mode");
        write_atomic(&d, "memory.json", b"x").unwrap();
        write_atomic_mode(&d, "m.prom", b"x", 0o644).unwrap();
        let mode = |n: &str| std::fs::metadata(d.join(n)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode("memory.json"), 0o600 & !umask);
        assert_eq!(mode("m.prom"), 0o644 & !umask);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn files_of_another_user_are_refused() {
        let d = tmpdir("owner");
        let (dir, name) = if current_uid() == 0 {
            std::fs::write(d.join("memory.json"), b"{}").unwrap();
            std::os::unix::fs::chown(d.join("memory.json"), Some(65534), Some(65534)).unwrap();
            (d.clone(), "memory.json")
        } else {
            // Owned by root, readable by all.
            (PathBuf::from("/etc"), "passwd")
        };
        let e = read(&dir, name, 1 << 20).unwrap_err();
        assert!(e.0.contains("not by the running user"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn full_disk_is_an_error_and_leaves_no_temp_file() {
        // /dev/full fails every write with ENOSPC: the real temp file is
        // created, the data goes to /dev/full, and the error path must
        // remove the temp file and leave the old file alone.
        let d = tmpdir("full");
        write_atomic(&d, "memory.json", b"old").unwrap();
        let (tmp, _real) = create_temp(&d, "memory.json").unwrap();
        let full = OpenOptions::new().write(true).open("/dev/full").unwrap();
        let e = finish_write(&d, &d.join("memory.json"), &tmp, full, |w| {
            w.write_all(b"data")
        })
        .unwrap_err();
        assert!(e.0.contains("No space left"), "{e}");
        assert_eq!(entries(&d), vec!["memory.json"]);
        assert_eq!(std::fs::read(d.join("memory.json")).unwrap(), b"old");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
