//! Folders that one process owns: run and session folders are created exclusively (a name
//! taken by another run gets a suffix, never shared), and every run folder is locked for as
//! long as a process writes into it, so a second writer is refused, naming the holder.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Create `base`, or `base-2`, `base-3`, ... if it exists: the first name nobody else has.
/// Two runs started in the same second with the same env, agent and seed get two folders.
pub fn create_unique(base: &Path) -> Result<PathBuf, String> {
    if let Some(parent) = base.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create `{}`: {e}", parent.display()))?;
    }
    for i in 1..10_000 {
        let candidate = if i == 1 {
            base.to_path_buf()
        } else {
            PathBuf::from(format!("{}-{i}", base.display()))
        };
        match std::fs::create_dir(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("cannot create `{}`: {e}", candidate.display())),
        }
    }
    Err(format!(
        "cannot find a free folder name like `{}`",
        base.display()
    ))
}

/// A label or env id as a folder name: path separators, whitespace and control characters become `_`
/// (what remains empty, `.` or `..` is refused by `folder::check_name`).
pub fn sanitize(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// A label, session name or env id used as a folder name: refused if it could leave its
/// parent (empty, `.`, `..`, a path separator, a NUL), would be hidden (a leading `.`, as
/// `../../x` sanitised becomes) or is too long for a file name.
pub fn check_name(what: &str, name: &str) -> Result<(), String> {
    let bad = if name.is_empty() {
        Some("it is empty")
    } else if name == "." || name == ".." {
        Some("it names the current or parent folder")
    } else if name.starts_with('.') {
        Some("it starts with `.`, which would hide the folder")
    } else if name.contains('/') || name.contains('\\') {
        Some("it contains a path separator")
    } else if name.contains('\0') {
        Some("it contains a NUL byte")
    } else if name.len() > 200 {
        Some("it is longer than 200 bytes")
    } else {
        None
    };
    match bad {
        Some(why) => Err(format!(
            "{what} `{}` cannot be used as a folder name: {why}",
            name.escape_debug()
        )),
        None => Ok(()),
    }
}

/// The run or session folder that `path` lies in (itself or an ancestor, symlinks
/// resolved), if any. A run folder holds `run.json` and `status.json`; a session folder
/// holds `session.json`.
pub fn owning_folder(path: &Path) -> Option<(&'static str, PathBuf)> {
    let absolute = std::path::absolute(path).ok()?;
    // The deepest part of the path that exists, with symlinks resolved.
    let existing = absolute.ancestors().find_map(|a| a.canonicalize().ok())?;
    existing.ancestors().find_map(|a| {
        if a.join("session.json").is_file() {
            Some(("session", a.to_path_buf()))
        } else if a.join("run.json").is_file() && a.join("status.json").is_file() {
            Some(("run", a.to_path_buf()))
        } else {
            None
        }
    })
}

/// A folder a user names for acgap to create runs (or reports) under: refused inside a
/// run or session folder, whose files belong to the process that owns it.
pub fn check_output_root(what: &str, dir: &Path) -> Result<(), String> {
    check_not_inside(what, dir, dir)
}

/// `path` (named by the user as `what`) refused if `at` lies in a run or session folder.
pub fn check_not_inside(what: &str, path: &Path, at: &Path) -> Result<(), String> {
    match owning_folder(at) {
        Some((kind, owner)) => Err(format!(
            "{what} `{}` lies inside the {kind} folder `{}`, whose files belong to that {kind}; \
             choose a folder outside it",
            path.display(),
            owner.display()
        )),
        None => Ok(()),
    }
}

/// A file a user names for acgap to write (a plot, a GIF, a JSON): refused inside a run or
/// session folder, and checked writable before any work is done (by creating and removing
/// the temporary file the atomic write will use), so a long command does not fail at its end.
pub fn check_output_file(what: &str, path: &Path) -> Result<(), String> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    check_output_root(what, path)?;
    if path.is_dir() {
        return Err(format!(
            "{what} `{}` is a folder, not a file",
            path.display()
        ));
    }
    if !parent.is_dir() {
        return Err(format!(
            "{what} `{}`: the folder `{}` does not exist",
            path.display(),
            parent.display()
        ));
    }
    let probe = super::run_dir::temporary_path(path);
    File::create(&probe).map_err(|e| format!("cannot write {what} `{}`: {e}", path.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// An advisory lock on a folder (`<dir>/.lock`, holding the owner's pid), released when
/// dropped or when the process dies, however it dies.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

impl Lock {
    /// Lock `dir`, or say which process holds it.
    pub fn acquire(dir: &Path) -> Result<Lock, String> {
        let path = dir.join(".lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| format!("cannot open `{}`: {e}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {
                let pid = std::process::id().to_string();
                let _ = file.set_len(0);
                let _ = file.rewind();
                let _ = file.write_all(pid.as_bytes());
                Ok(Lock { _file: file })
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                Err(format!(
                    "`{}` is in use by another acgap process (pid {}); wait for it to finish or stop it first",
                    dir.display(),
                    if holder.trim().is_empty() {
                        "unknown"
                    } else {
                        holder.trim()
                    }
                ))
            }
            Err(std::fs::TryLockError::Error(e)) => {
                Err(format!("cannot lock `{}`: {e}", path.display()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_leave_their_folder_are_refused() {
        for bad in ["", ".", "..", "a/b", "../x", "/abs", "a\\b", "x\0y"] {
            assert!(check_name("label", bad).is_err(), "{bad:?}");
        }
        for bad in ["..x", ".hidden", &sanitize("../../escape")] {
            assert!(check_name("label", bad).is_err(), "{bad:?}");
        }
        for good in ["SAC-1-0", "Res-SAC c=4", "a.b", "x.."] {
            assert!(check_name("label", good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn a_taken_name_gets_a_suffix_and_a_lock_excludes_a_second_holder() {
        let root = std::env::temp_dir().join(format!("acgap-folder-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let a = create_unique(&root.join("run")).unwrap();
        let b = create_unique(&root.join("run")).unwrap();
        assert_eq!(a, root.join("run"));
        assert_eq!(b, root.join("run-2"));
        let held = Lock::acquire(&a).unwrap();
        let err = Lock::acquire(&a).unwrap_err();
        assert!(err.contains(&std::process::id().to_string()), "{err}");
        drop(held);
        Lock::acquire(&a).unwrap();
        let _ = std::fs::remove_dir_all(&root);
    }
}
