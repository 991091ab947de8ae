//! Files in the state dir: bounded, no-follow reads and atomic writes.

use std::fmt;
use std::io::{Read, Write};
use std::path::Path;

/// A state-dir file could not be read or written; one line.
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

fn plain_name(name: &str) -> Result<(), StoreError> {
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return Err(StoreError(format!("bad state file name {name:?}")));
    }
    Ok(())
}

/// Reads `dir/name`: `None` if it does not exist. Refuses a symlink, a
/// non-regular file, a file not owned by this user and one larger than
/// `max_len` bytes.
pub fn read(dir: &Path, name: &str, max_len: u64) -> Result<Option<Vec<u8>>, StoreError> {
    plain_name(name)?;
    let path = dir.join(name);
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc_nofollow());
    }
    let file = match opts.open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError(format!("cannot open {}: {e}", path.display()))),
    };
    let meta = file
        .metadata()
        .map_err(|e| StoreError(format!("cannot stat {}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(StoreError(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let me = unsafe_free_uid();
        if let Some(me) = me
            && meta.uid() != me
        {
            return Err(StoreError(format!(
                "{} is owned by uid {}, not by this user",
                path.display(),
                meta.uid()
            )));
        }
    }
    if meta.len() > max_len {
        return Err(StoreError(format!(
            "{} is {} bytes, more than the {max_len} allowed",
            path.display(),
            meta.len()
        )));
    }
    let mut data = Vec::with_capacity(meta.len() as usize);
    file.take(max_len + 1)
        .read_to_end(&mut data)
        .map_err(|e| StoreError(format!("cannot read {}: {e}", path.display())))?;
    if data.len() as u64 > max_len {
        return Err(StoreError(format!(
            "{} grew past the {max_len} bytes allowed",
            path.display()
        )));
    }
    Ok(Some(data))
}

#[cfg(unix)]
fn libc_nofollow() -> i32 {
    // O_NOFOLLOW: 0o400000 on Linux (x86, arm), 0x100 on the BSDs/macOS.
    if cfg!(target_os = "linux") {
        0o400000
    } else {
        0x100
    }
}

/// This process's uid, from the owner of a file it just created.
#[cfg(unix)]
fn unsafe_free_uid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// Writes `dir/name` atomically: a new temporary file (O_EXCL), fsync,
/// rename over the old one.
pub fn write_atomic(dir: &Path, name: &str, data: &[u8]) -> Result<(), StoreError> {
    plain_name(name)?;
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o640);
    }
    let result = (|| {
        let mut f = opts.open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        StoreError(format!("cannot write {}: {e}", path.display()))
    })
}
