//! Locating the peer programs the fixtures run. A missing program is a failed test with the name
//! of the Debian package that provides it, never a skipped one.

use std::path::{Path, PathBuf};

/// A program run by a fixture and the Debian package that ships it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer {
    pub(crate) program: &'static str,
    pub(crate) package: &'static str,
}

pub(crate) const DOCKER_REGISTRY: Peer = Peer {
    program: "docker-registry",
    package: "docker-registry",
};
pub(crate) const SKOPEO: Peer = Peer {
    program: "skopeo",
    package: "skopeo",
};
pub(crate) const KUBECTL: Peer = Peer {
    program: "kubectl",
    package: "kubernetes-client",
};
pub(crate) const CHROMIUM: Peer = Peer {
    program: "chromium",
    package: "chromium",
};
pub(crate) const CHROMEDRIVER: Peer = Peer {
    program: "chromedriver",
    package: "chromium-driver",
};
pub(crate) const HTPASSWD: Peer = Peer {
    program: "htpasswd",
    package: "apache2-utils",
};

impl Peer {
    /// The program's path: `/usr/bin/PROGRAM` (where Debian installs it), else the first match on
    /// `PATH`.
    ///
    /// # Panics
    ///
    /// When the program is not installed, naming the package to install.
    #[track_caller]
    pub(crate) fn path(self) -> PathBuf {
        let usr_bin = Path::new("/usr/bin").join(self.program);
        if is_executable(&usr_bin) {
            return usr_bin;
        }
        let on_path = std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(self.program))
                .find(|candidate| is_executable(candidate))
        });
        match on_path {
            Some(path) => path,
            None => panic!(
                "`{}` is not installed: install the Debian package `{}` \
                 (scripts/setup does); regcred's tests need the real program and never skip",
                self.program, self.package
            ),
        }
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(
        expected = "`regcred-no-such-program` is not installed: install the Debian package `regcred-no-such-package`"
    )]
    fn a_missing_program_fails_naming_its_package() {
        Peer {
            program: "regcred-no-such-program",
            package: "regcred-no-such-package",
        }
        .path();
    }

    #[test]
    fn installed_programs_are_found() {
        assert_eq!(
            Peer {
                program: "sh",
                package: "dash"
            }
            .path()
            .file_name()
            .unwrap(),
            "sh"
        );
    }
}
