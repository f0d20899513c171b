//! Errors: one for saving a template (parse), one for running it (render).

use thiserror::Error;

/// A template that does not parse. The control plane reports it as a `BadRequestException`
/// when the template is saved, so it carries a 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    /// 1-based line of the offending character.
    pub line: usize,
    /// 1-based column (in characters) of the offending character.
    pub column: usize,
    /// What was wrong, in words.
    pub message: String,
}

impl ParseError {
    /// Builds an error at byte offset `at` of `src`.
    pub(crate) fn at(src: &str, at: usize, message: impl Into<String>) -> Self {
        let at = at.min(src.len());
        let mut line = 1;
        let mut column = 1;
        for (i, c) in src.char_indices() {
            if i >= at {
                break;
            }
            if c == '\n' {
                line += 1;
                column = 1;
            } else {
                column += 1;
            }
        }
        ParseError {
            line,
            column,
            message: message.into(),
        }
    }
}

/// A template that failed while rendering. The data plane turns it into a 500, as AWS does
/// for a template that throws.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RenderError {
    /// A `#foreach` ran past API Gateway's limit of 1,000 iterations.
    #[error("#foreach exceeded {limit} iterations")]
    LoopLimit {
        /// The per-loop limit.
        limit: usize,
    },
    /// All loops together ran past the per-render budget (nested loops multiply).
    #[error("template ran more than {limit} loop iterations in total")]
    WorkLimit {
        /// The per-render budget.
        limit: usize,
    },
    /// Macros, `#define`s or interpolated strings nested deeper than the limit.
    #[error("template nesting exceeded depth {limit}")]
    DepthLimit {
        /// The depth limit.
        limit: usize,
    },
    /// The rendered output grew past the 10 MB payload limit.
    #[error("template output exceeded {limit} bytes")]
    OutputLimit {
        /// The output limit in bytes.
        limit: usize,
    },
    /// A method threw, as `MethodInvocationException` does in Velocity (bad index, bad regex,
    /// invalid JSON for `$util.parseJson`, …).
    #[error("{method}: {message}")]
    Method {
        /// The method that failed.
        method: String,
        /// Why it failed.
        message: String,
    },
    /// A macro called with a name that no `#macro` defines.
    #[error("unknown macro #{0}")]
    UnknownMacro(String),
}

impl RenderError {
    pub(crate) fn method(method: &str, message: impl Into<String>) -> Self {
        RenderError::Method {
            method: method.to_string(),
            message: message.into(),
        }
    }
}
