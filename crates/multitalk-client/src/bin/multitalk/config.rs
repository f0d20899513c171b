//! `~/.config/multitalk/config.toml` (or `--config FILE`): the endpoint and
//! key when neither a flag nor the environment gives them.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The config file. Unknown keys are refused, so a typo (`apikey`) does not
/// silently leave the key unset.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The invoke URL, stage included.
    pub endpoint: Option<String>,
    /// The usage-plan API key (sent as `x-api-key`).
    pub api_key: Option<String>,
    /// Send the key as `Authorization: Bearer` (the API itself, no gateway).
    pub bearer: Option<bool>,
}

/// `$XDG_CONFIG_HOME/multitalk/config.toml`, else `~/.config/multitalk/config.toml`.
pub fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| PathBuf::from(h).join(".config"))
        })?;
    Some(base.join("multitalk").join("config.toml"))
}

/// Reads `explicit` (which must exist), else the default file if there is
/// one. Returns the config and the path it came from.
pub fn load(explicit: Option<&Path>) -> Result<(FileConfig, Option<PathBuf>), String> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => match default_path() {
            Some(p) if p.is_file() => p,
            _ => return Ok((FileConfig::default(), None)),
        },
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read the config file {}: {e}", path.display()))?;
    let config: FileConfig = toml::from_str(&text)
        .map_err(|e| format!("the config file {} is not valid: {e}", path.display()))?;
    Ok((config, Some(path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_refuses_typos() {
        let ok: FileConfig =
            toml::from_str("endpoint = \"http://h/prod\"\napi_key = \"k\"\n").unwrap();
        assert_eq!(ok.endpoint.as_deref(), Some("http://h/prod"));
        assert_eq!(ok.api_key.as_deref(), Some("k"));
        assert!(toml::from_str::<FileConfig>("apikey = \"k\"").is_err());
    }
}
