//! `tollgate migrate --from DATA_DIR --to postgres://…`: copies an embedded
//! store (every document, function code zips, usage counts) into PostgreSQL
//! in one transaction, so a single instance can become the first of several.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context};
use tollgate_store::{PostgresStore, SqliteStore, Store};

pub struct MigrateArgs<'a> {
    pub from: &'a Path,
    pub to: &'a str,
    /// Replace whatever the target holds instead of refusing.
    pub replace: bool,
}

pub fn migrate(args: &MigrateArgs<'_>, out: &mut dyn Write) -> anyhow::Result<()> {
    let db = args.from.join("tollgate.db");
    if !db.is_file() {
        bail!(
            "no embedded store at {} (expected {})",
            args.from.display(),
            db.display()
        );
    }
    let shown = crate::config::redact(args.to);
    crate::config::StoreLocation::parse(args.to)?;
    let source = SqliteStore::open(args.from)
        .with_context(|| format!("cannot open the store in {}", args.from.display()))?;
    let state = source.load().context("cannot read the embedded store")?;
    let changes =
        tollgate_store::changes_of(&state, &source).context("cannot read the embedded store")?;
    let target = PostgresStore::open(args.to).with_context(|| format!("cannot open {shown}"))?;
    if !target.is_empty()? {
        if !args.replace {
            bail!("{shown} already holds a configuration: refusing to overwrite it (pass --replace to replace it)");
        }
        target
            .clear()
            .with_context(|| format!("cannot empty {shown}"))?;
    }
    target
        .commit(&changes)
        .with_context(|| format!("cannot write to {shown}"))?;
    writeln!(
        out,
        "copied {} REST APIs, {} API keys, {} usage plans, {} usage counts, {} functions ({} code zips) and {} other objects from {} to {shown}",
        state.rest_apis.len(),
        state.api_keys.len(),
        state.usage_plans.len(),
        state.usage.len(),
        state.functions.len(),
        state.code.len(),
        changes.len()
            - state.rest_apis.len()
            - state.api_keys.len()
            - state.usage_plans.len()
            - state.usage.len()
            - state.functions.len()
            - state.code.len(),
        args.from.display(),
    )?;
    writeln!(
        out,
        "Secrets Manager values are sealed with {}: give every instance that key (--secrets-key-file)",
        args.from.join("secrets.key").display()
    )?;
    Ok(())
}
