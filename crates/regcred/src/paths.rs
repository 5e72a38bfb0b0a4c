//! Where the local server keeps its files, so that `regcred serve` and the CLI on the same
//! machine and user agree without configuration.

use std::path::{Path, PathBuf};

/// The data directory: `--data-dir`, else `$XDG_DATA_HOME/regcred`, else `~/.local/share/regcred`.
pub fn data_dir(given: Option<&Path>) -> PathBuf {
    if let Some(dir) = given {
        return dir.to_owned();
    }
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(xdg).join("regcred");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".local/share/regcred")
}

pub const ADMIN_TOKEN_FILE: &str = "admin.token";
pub const MASTER_KEY_FILE: &str = "master.key";
pub const DATABASE_FILE: &str = "regcred.db";
/// The URL a running `regcred serve` answers on; removed at shutdown.
pub const SERVER_URL_FILE: &str = "server.url";
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:7700";

/// A path as messages show it: under the home directory as `~/…`, as people write it.
pub fn display(path: &Path) -> String {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty() && h != "/");
    match home.and_then(|h| path.strip_prefix(PathBuf::from(h)).ok().map(Path::to_owned)) {
        Some(rest) => format!("~/{}", rest.display()),
        None => path.display().to_string(),
    }
}
