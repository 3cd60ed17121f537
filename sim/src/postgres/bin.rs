//! Finding the PostgreSQL programs (`initdb`, `postgres`, `pg_dump`, `pg_restore`).
//!
//! Debian puts only client wrappers on `PATH` and the server binaries under
//! `/usr/lib/postgresql/<version>/bin`, so the search is: `PATH`, then `pg_config --bindir` (the
//! `pg_config` found on that `PATH`), then the highest version under the library root. The search
//! inputs are a value ([`BinSearch`]) so tests can point it at a scratch directory.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::PgError;

/// Where to look for PostgreSQL programs.
#[derive(Clone, Debug)]
pub struct BinSearch {
    /// A `PATH`-style list of directories, searched first.
    pub path: Option<OsString>,
    /// Whether to ask the `pg_config` found on `path` for its `--bindir`.
    pub use_pg_config: bool,
    /// Directory holding one `<version>/bin` per installed major version.
    pub lib_root: PathBuf,
}

/// At most this many entries of `lib_root` are examined (bounds the directory walk).
const MAX_VERSION_DIRS: usize = 64;

impl BinSearch {
    /// This process's `PATH`, `pg_config`, and Debian's `/usr/lib/postgresql`.
    pub fn system() -> Self {
        BinSearch {
            path: std::env::var_os("PATH"),
            use_pg_config: true,
            lib_root: PathBuf::from("/usr/lib/postgresql"),
        }
    }

    /// The first executable named `tool` in search order, or [`PgError::BinaryNotFound`].
    pub fn find(&self, tool: &str) -> Result<PathBuf, PgError> {
        if let Some(found) = self.on_path(tool) {
            return Ok(found);
        }
        if self.use_pg_config
            && let Some(bindir) = self.pg_config_bindir()
        {
            let candidate = bindir.join(tool);
            if is_executable(&candidate) {
                return Ok(candidate);
            }
        }
        for dir in versioned_bin_dirs(&self.lib_root) {
            let candidate = dir.join(tool);
            if is_executable(&candidate) {
                return Ok(candidate);
            }
        }
        Err(PgError::BinaryNotFound {
            tool: tool.to_string(),
            searched: format!(
                "PATH{}, {}/*/bin",
                if self.use_pg_config {
                    ", `pg_config --bindir`"
                } else {
                    ""
                },
                self.lib_root.display()
            ),
        })
    }

    fn on_path(&self, tool: &str) -> Option<PathBuf> {
        let path = self.path.as_ref()?;
        std::env::split_paths(path)
            .map(|dir| dir.join(tool))
            .find(|candidate| is_executable(candidate))
    }

    fn pg_config_bindir(&self) -> Option<PathBuf> {
        let pg_config = self.on_path("pg_config")?;
        let output = Command::new(pg_config).arg("--bindir").output().ok()?;
        if !output.status.success() {
            return None;
        }
        let dir = String::from_utf8(output.stdout).ok()?;
        let dir = dir.trim();
        (!dir.is_empty()).then(|| PathBuf::from(dir))
    }
}

/// Finds a PostgreSQL program with [`BinSearch::system`].
pub fn pg_bin(tool: &str) -> Result<PathBuf, PgError> {
    BinSearch::system().find(tool)
}

/// `<root>/<version>/bin` for every numeric version directory, highest version first.
fn versioned_bin_dirs(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut versions: Vec<(Vec<u32>, PathBuf)> = entries
        .filter_map(Result::ok)
        .take(MAX_VERSION_DIRS)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let version = name
                .split('.')
                .map(|part| part.parse::<u32>().ok())
                .collect::<Option<Vec<u32>>>()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    versions.into_iter().map(|(_, dir)| dir).collect()
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch_executable(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn search(root: &Path, path_dirs: &[&Path]) -> BinSearch {
        BinSearch {
            path: Some(std::env::join_paths(path_dirs).unwrap()),
            use_pg_config: false,
            lib_root: root.join("lib/postgresql"),
        }
    }

    #[test]
    fn missing_binaries_error_names_the_fix() {
        let tmp = tempfile::tempdir().unwrap();
        let err = search(tmp.path(), &[tmp.path()])
            .find("initdb")
            .unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, PgError::BinaryNotFound { .. }));
        assert!(msg.contains("`initdb`"), "{msg}");
        assert!(
            msg.contains("apt-get install -y postgresql-15"),
            "message should name the fix: {msg}"
        );
        assert!(msg.contains("MATRIX_SIM_DATABASE_URL"), "{msg}");
    }

    #[test]
    fn path_wins_over_the_library_root() {
        let tmp = tempfile::tempdir().unwrap();
        let on_path = tmp.path().join("bin/pg_dump");
        touch_executable(&on_path);
        touch_executable(&tmp.path().join("lib/postgresql/15/bin/pg_dump"));
        let found = search(tmp.path(), &[&tmp.path().join("bin")])
            .find("pg_dump")
            .unwrap();
        assert_eq!(found, on_path);
    }

    #[test]
    fn the_highest_installed_version_is_chosen() {
        let tmp = tempfile::tempdir().unwrap();
        for version in ["9.6", "15", "16", "not-a-version"] {
            touch_executable(
                &tmp.path()
                    .join(format!("lib/postgresql/{version}/bin/initdb")),
            );
        }
        let found = search(tmp.path(), &[]).find("initdb").unwrap();
        assert_eq!(found, tmp.path().join("lib/postgresql/16/bin/initdb"));
    }

    #[test]
    fn a_non_executable_file_is_not_a_binary() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("bin/postgres");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, "").unwrap();
        assert!(
            search(tmp.path(), &[&tmp.path().join("bin")])
                .find("postgres")
                .is_err()
        );
    }
}
