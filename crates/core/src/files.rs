//! Reading files named by operators (photos, CSRs, CSV imports, CA files) without trusting
//! their size: a device such as /dev/zero, or a file that grows, is read up to a limit and no
//! further.

use std::io::Read;
use std::path::Path;

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {}", match size {
        Some(size) => format!("{size} bytes; at most {max} bytes are accepted"),
        None => format!("larger than {max} bytes, the most accepted"),
    })]
    TooLarge {
        path: String,
        /// The size, when the file system knows it (not for a device or a pipe).
        size: Option<u64>,
        max: u64,
    },
}

/// The whole file if it has at most `max` bytes; at most `max + 1` bytes are ever read.
pub fn read_at_most(path: &Path, max: u64) -> Result<Vec<u8>, ReadError> {
    let io = |source| ReadError::Io {
        path: path.display().to_string(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    // A regular file says its size: refuse it at once, and say how large it is.
    if let Ok(meta) = file.metadata() {
        if meta.is_file() && meta.len() > max {
            return Err(ReadError::TooLarge {
                path: path.display().to_string(),
                size: Some(meta.len()),
                max,
            });
        }
    }
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > max {
        return Err(ReadError::TooLarge {
            path: path.display().to_string(),
            size: None,
            max,
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_device_is_read_only_to_the_limit() {
        let e = read_at_most(Path::new("/dev/zero"), 1024).expect_err("too large");
        assert!(matches!(e, ReadError::TooLarge { max: 1024, .. }), "{e}");
        let urandom = read_at_most(Path::new("/dev/urandom"), 4096).expect_err("too large");
        assert!(urandom.to_string().contains("larger than 4096 bytes"));
        assert!(matches!(
            read_at_most(Path::new("/no/such/file"), 10),
            Err(ReadError::Io { .. })
        ));
        let file = tempfile::NamedTempFile::new().expect("a temporary file");
        std::fs::write(file.path(), b"exactly 11!").expect("write");
        assert_eq!(read_at_most(file.path(), 11).expect("fits"), b"exactly 11!");
        let e = read_at_most(file.path(), 10).expect_err("too large");
        assert!(
            e.to_string()
                .ends_with("11 bytes; at most 10 bytes are accepted"),
            "{e}"
        );
    }
}
