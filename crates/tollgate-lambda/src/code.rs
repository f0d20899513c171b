//! A function's code: the zip a user uploads, checked before anything is
//! written, and unpacked into a directory of its own.
//!
//! The checks are the ones a hostile zip calls for: AWS's size limits
//! (50 MB zipped, 250 MB unzipped), no entry outside the target directory
//! (absolute paths, `..`), no symbolic links, a bounded number of entries,
//! and sizes read from what is actually decompressed, not from the
//! archive's own claims.

use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

/// AWS's limit on a zip uploaded directly (CreateFunction's `ZipFile`).
pub const MAX_ZIPPED: usize = 50 * 1024 * 1024;
/// AWS's limit on a function's unpacked code.
pub const MAX_UNZIPPED: u64 = 250 * 1024 * 1024;
/// Entries in one archive.
pub const MAX_ENTRIES: usize = 20_000;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodeError {
    #[error("Unzipped size must be smaller than {MAX_UNZIPPED} bytes")]
    TooLargeUnzipped,
    #[error("Zipped size must be smaller than {MAX_ZIPPED} bytes")]
    TooLargeZipped,
    #[error("Could not unzip uploaded file. Please check your file, then try to upload again.")]
    NotAZip,
    #[error("The zip file has an entry outside the function's directory: {0}")]
    OutsideRoot(String),
    #[error("The zip file has a symbolic link, which Tollgate does not unpack: {0}")]
    Symlink(String),
    #[error("The zip file has more than {MAX_ENTRIES} entries")]
    TooManyEntries,
    #[error("cannot write the function's code: {0}")]
    Io(String),
}

/// The code's identity as AWS reports it: base64 of its SHA-256, and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeDigest {
    pub sha256_base64: String,
    pub size: u64,
}

pub fn digest(zip: &[u8]) -> CodeDigest {
    use base64::Engine;
    CodeDigest {
        sha256_base64: base64::engine::general_purpose::STANDARD.encode(Sha256::digest(zip)),
        size: zip.len() as u64,
    }
}

/// A relative path inside the archive, or why it is refused.
fn safe_relative(name: &str) -> Result<PathBuf, CodeError> {
    let path = Path::new(name);
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(CodeError::OutsideRoot(name.to_string()))
            }
        }
    }
    if name.contains('\\') || name.contains('\0') {
        return Err(CodeError::OutsideRoot(name.to_string()));
    }
    Ok(out)
}

/// Checks `zip` without writing anything: every entry readable, inside the
/// root, no links, and the whole within the limits.
pub fn check(zip: &[u8]) -> Result<(), CodeError> {
    unpack_into(zip, None, MAX_UNZIPPED)
}

/// Unpacks `zip` into `dir` (created; must not exist yet), after the same
/// checks as [`check`]. On failure, nothing is left in `dir`.
pub fn unpack(zip: &[u8], dir: &Path) -> Result<(), CodeError> {
    check(zip)?;
    let result = unpack_into(zip, Some(dir), MAX_UNZIPPED);
    if result.is_err() {
        let _ = std::fs::remove_dir_all(dir);
    }
    result
}

fn unpack_into(zip: &[u8], dir: Option<&Path>, max_unzipped: u64) -> Result<(), CodeError> {
    if zip.len() > MAX_ZIPPED {
        return Err(CodeError::TooLargeZipped);
    }
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(zip)).map_err(|_| CodeError::NotAZip)?;
    if archive.len() > MAX_ENTRIES {
        return Err(CodeError::TooManyEntries);
    }
    let io = |e: std::io::Error| CodeError::Io(e.to_string());
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut total: u64 = 0;
    let mut buf = vec![0u8; 64 * 1024];
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|_| CodeError::NotAZip)?;
        let name = entry.name().map_err(|_| CodeError::NotAZip)?.to_string();
        let relative = safe_relative(&name)?;
        if entry.is_symlink() {
            return Err(CodeError::Symlink(name));
        }
        if entry.is_dir() {
            if let Some(dir) = dir {
                std::fs::create_dir_all(dir.join(&relative)).map_err(io)?;
            }
            continue;
        }
        let mode = entry.unix_mode();
        let mut file = match dir {
            Some(dir) => {
                let target = dir.join(&relative);
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(io)?;
                }
                Some(std::fs::File::create(&target).map_err(io)?)
            }
            None => None,
        };
        loop {
            let n = entry.read(&mut buf).map_err(|_| CodeError::NotAZip)?;
            if n == 0 {
                break;
            }
            total += n as u64;
            if total > max_unzipped {
                return Err(CodeError::TooLargeUnzipped);
            }
            if let Some(file) = file.as_mut() {
                file.write_all(&buf[..n]).map_err(io)?;
            }
        }
        #[cfg(unix)]
        if let (Some(file), Some(mode)) = (file.as_ref(), mode) {
            use std::os::unix::fs::PermissionsExt;
            // Keep the executable bits (a `provided` runtime's `bootstrap`);
            // never setuid, setgid or sticky, never writable by others.
            let mode = (mode & 0o755) | 0o400;
            file.set_permissions(std::fs::Permissions::from_mode(mode))
                .map_err(io)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use zip::write::SimpleFileOptions;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        {
            let mut w = zip::ZipWriter::new(&mut out);
            for (name, data) in entries {
                w.start_file(*name, SimpleFileOptions::default())
                    .expect("entry");
                w.write_all(data).expect("write");
            }
            w.finish().expect("finish");
        }
        out.into_inner()
    }

    #[test]
    fn refuses_entries_outside_the_root() {
        for bad in ["../evil.py", "a/../../evil.py", "/etc/passwd", "a\\..\\b"] {
            let zip = zip_of(&[(bad, b"x")]);
            assert!(
                matches!(check(&zip), Err(CodeError::OutsideRoot(_))),
                "{bad}"
            );
        }
        assert_eq!(check(b"not a zip"), Err(CodeError::NotAZip));
    }

    #[test]
    fn counts_what_is_decompressed() {
        // Highly compressible: small zipped, large unzipped.
        let mut out = std::io::Cursor::new(Vec::new());
        {
            let mut w = zip::ZipWriter::new(&mut out);
            w.start_file(
                "big.bin",
                SimpleFileOptions::default()
                    .compression_method(zip::CompressionMethod::Deflated)
                    .large_file(true),
            )
            .expect("entry");
            let chunk = vec![0u8; 1024 * 1024];
            for _ in 0..3 {
                w.write_all(&chunk).expect("write");
            }
            w.finish().expect("finish");
        }
        let zip = out.into_inner();
        assert!(zip.len() < 64 * 1024, "{}", zip.len());
        // The limit counts what comes out, whatever the archive claims.
        assert_eq!(
            unpack_into(&zip, None, 2 * 1024 * 1024),
            Err(CodeError::TooLargeUnzipped)
        );
        assert_eq!(unpack_into(&zip, None, 4 * 1024 * 1024), Ok(()));
    }

    #[test]
    fn unpacks_into_its_directory() {
        let dir = std::env::temp_dir().join(format!("tollgate-code-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let zip = zip_of(&[
            ("lambda_function.py", b"def h(e, c): return 1\n"),
            ("pkg/m.py", b""),
        ]);
        unpack(&zip, &dir).expect("unpacked");
        assert!(dir.join("lambda_function.py").is_file());
        assert!(dir.join("pkg/m.py").is_file());
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(digest(b"abc").size, 3);
    }
}
