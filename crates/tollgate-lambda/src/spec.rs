//! What a function is, as the host runs it, and which program serves its
//! runtime.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One function, ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSpec {
    pub name: String,
    /// `arn:aws:lambda:{region}:{account}:function:{name}`.
    pub arn: String,
    /// `python3.11`, `nodejs20.x`, `provided.al2023`, …
    pub runtime: String,
    /// `module.function` (Python), `file.export` (Node.js); unused by `provided`.
    pub handler: String,
    /// The function's own environment variables.
    pub environment: BTreeMap<String, String>,
    pub timeout: Duration,
    pub memory_mb: u32,
    /// The unpacked code (`LAMBDA_TASK_ROOT`).
    pub code_dir: PathBuf,
    /// ReservedConcurrentExecutions: at most this many at once (0 = none at all).
    pub reserved_concurrency: Option<u32>,
    /// Where a function hosted elsewhere is invoked (a Runtime Interface
    /// Emulator's `/2015-03-31/functions/function/invocations`), instead of code.
    pub external_url: Option<String>,
}

/// How a runtime's workers are started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launcher {
    Python,
    Node,
    /// The code's own `bootstrap` executable.
    Provided,
}

impl Launcher {
    /// The launcher of a runtime name; None for runtimes Tollgate cannot run.
    pub fn for_runtime(runtime: &str) -> Option<Launcher> {
        if runtime.starts_with("python3") {
            Some(Launcher::Python)
        } else if runtime.starts_with("nodejs") {
            Some(Launcher::Node)
        } else if runtime.starts_with("provided") {
            Some(Launcher::Provided)
        } else {
            None
        }
    }
}

/// The interpreters that serve the runtimes, resolved once at start-up to
/// absolute paths (a shim on the PATH, pyenv's for one, needs the caller's
/// environment, which workers do not get).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interpreters {
    pub python: Option<PathBuf>,
    pub node: Option<PathBuf>,
}

impl Interpreters {
    /// Finds `python` and `node` (commands or paths): each asked for its
    /// own executable's path. Absent or broken ones stay None.
    pub fn resolve(python: &str, node: &str) -> Interpreters {
        Interpreters {
            python: ask(python, &["-c", "import sys; print(sys.executable)"]),
            node: ask(node, &["-p", "process.execPath"]),
        }
    }

    /// The program for `launcher`, or why there is none.
    pub fn program(&self, launcher: &Launcher, code_dir: &Path) -> Result<PathBuf, String> {
        match launcher {
            Launcher::Python => self.python.clone().ok_or_else(|| {
                "no Python interpreter was found for python runtimes (configure lambda_python)"
                    .into()
            }),
            Launcher::Node => self.node.clone().ok_or_else(|| {
                "no Node.js was found for nodejs runtimes (configure lambda_node)".into()
            }),
            Launcher::Provided => {
                let bootstrap = code_dir.join("bootstrap");
                if bootstrap.is_file() {
                    Ok(bootstrap)
                } else {
                    Err("the code has no executable bootstrap file at its root".into())
                }
            }
        }
    }
}

fn ask(program: &str, args: &[&str]) -> Option<PathBuf> {
    let output = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let path = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    path.is_absolute().then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtimes_map_to_launchers() {
        assert_eq!(Launcher::for_runtime("python3.11"), Some(Launcher::Python));
        assert_eq!(Launcher::for_runtime("nodejs20.x"), Some(Launcher::Node));
        assert_eq!(
            Launcher::for_runtime("provided.al2023"),
            Some(Launcher::Provided)
        );
        assert_eq!(Launcher::for_runtime("java21"), None);
    }
}
