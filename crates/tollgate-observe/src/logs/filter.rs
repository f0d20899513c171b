//! CloudWatch Logs filter patterns, as `FilterLogEvents`
//! (`aws logs filter-log-events --filter-pattern ...`) accepts them.
//!
//! The grammar and its meaning follow AWS's "Filter pattern syntax for metric
//! filters, subscription filters, filter log events, and Live Tail"
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html>,
//! whose source is `doc_source/FilterAndPatternSyntax.md` in
//! `awsdocs/amazon-cloudwatch-logs-user-guide`; "the syntax page" below). Where
//! that page is silent, the way AWS's own CDK writes patterns
//! (`aws-cdk-lib/aws-logs/lib/pattern.ts`) decides; the few choices neither
//! settles are marked **Undocumented** below.
//!
//! A pattern takes one of four forms, chosen by its first non-blank character:
//!
//! * **Terms** (anything else): unstructured text search; see [`FilterPattern`].
//! * **`{ ... }`**: a JSON pattern, only ever matching events whose message is
//!   a JSON object.
//! * **`[ ... ]`**: a space-delimited pattern.
//! * **`%regex%`**: a regular expression on its own.
//!
//! Parsing is defensive: a pattern longer than 1024 characters (the API's
//! limit on `filterPattern`) or with parentheses nested deeper than 32 is
//! refused; nothing here indexes without a check, unwraps or panics; `*`
//! wildcards only ever become a prefix, suffix, substring or equality test,
//! and regular expressions run on the `regex` crate's linear-time engine with
//! size limits, so matching never backtracks exponentially.

// This module parses untrusted input: prove it cannot panic.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable
)]

use regex::{Regex, RegexBuilder};
use serde_json::Value as Json;

/// The longest pattern accepted, in characters (the `filterPattern` length
/// constraint of `FilterLogEvents`, `PutMetricFilter` and `TestMetricFilter`).
pub const MAX_PATTERN_CHARS: usize = 1024;

/// The deepest nesting of parentheses accepted.
pub const MAX_NESTING: usize = 32;

/// At most this many `%regex%` values in one JSON or space-delimited pattern
/// (the syntax page: "a limit of 2 regex for each filter pattern when creating
/// a delimited or JSON filter pattern ... or when filtering log events").
const MAX_REGEXES: usize = 2;

/// Compiled-size limit for one regular expression, in bytes.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Why a filter pattern was refused. Every message starts with
/// `Invalid filter pattern`, the way CloudWatch Logs words its
/// `InvalidParameterException`, and is fit to return to the caller as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// The pattern is longer than [`MAX_PATTERN_CHARS`] characters.
    #[error(
        "Invalid filter pattern: it is {chars} characters long, more than the {max} allowed",
        max = MAX_PATTERN_CHARS
    )]
    TooLong {
        /// The pattern's length in characters.
        chars: usize,
    },
    /// Parentheses are nested deeper than [`MAX_NESTING`].
    #[error(
        "Invalid filter pattern: parentheses are nested more than {max} deep",
        max = MAX_NESTING
    )]
    TooDeep,
    /// More than two `%regex%` values in a JSON or space-delimited pattern.
    #[error(
        "Invalid filter pattern: a JSON or space-delimited pattern may hold at most {max} regular expressions",
        max = MAX_REGEXES
    )]
    TooManyRegexes,
    /// The pattern does not follow the grammar.
    #[error("Invalid filter pattern: {message} (at character {position})")]
    Syntax {
        /// 1-based character position where the problem was found.
        position: usize,
        /// What is wrong.
        message: String,
    },
    /// A `%regex%` is not one CloudWatch Logs accepts.
    #[error("Invalid filter pattern: regular expression %{regex}% {message}")]
    Regex {
        /// The expression between the `%` signs.
        regex: String,
        /// What is wrong with it.
        message: String,
    },
}

/// A parsed filter pattern.
///
/// # Terms (unstructured log events)
///
/// The syntax page, "Matching Terms in Log Events" and "OR Pattern Matching":
///
/// * An empty (or blank) pattern, and `""`, match every event.
/// * Terms are separated by blanks; a term is a run of non-blank characters, or
///   a double-quoted phrase (`"Failed to process"`, with `\"` and `\\` as
///   escapes, the quoting the CDK's `quoteTerm` produces). Terms with
///   characters other than letters, digits and `_` should be quoted; unquoted
///   ones are accepted anyway, except that a `"` may only open a term.
/// * A term matches when it occurs **anywhere** in the message, as a
///   case-sensitive substring, not as a whole word: the syntax page's example
///   has the pattern `ERROR` match `Exiting with ERRORCODE: -1`.
/// * All terms must occur (`ERROR Exception`), in any order.
/// * `-term` (or `- term`) excludes events containing the term
///   (`ERROR -Exiting`, `"ERROR" - "Exiting"`).
/// * `?term` makes alternatives: `?ERROR ?WARN` matches events containing
///   either. Following the CDK's `anyTermGroup`, which writes
///   `?"ERROR" "MainThread" ?"WARN" "Deadlock"` for "(ERROR and MainThread)
///   or (WARN and Deadlock)", each `?term` starts a new group, and unprefixed
///   terms join the group before them. An event matches when it contains every
///   term of at least one group. **Undocumented:** terms before the first
///   `?term` form a group of their own, and `-term` exclusions apply to the
///   whole pattern whatever their place.
///
/// # JSON (`{ ... }`)
///
/// The syntax page, "Matching Terms in JSON Log Events":
///
/// * Only events whose message is a JSON object can match; any other message
///   matches no JSON pattern (not even `NOT EXISTS`).
/// * Selectors: `$` then `.property` (letters, digits, `-`, `_`) and `[index]`
///   steps, an index following a property: `$.eventType`, `$.users[0].id`,
///   `$.coordinates[0][1]`. Other selectors (such as `$.*`) are not in the
///   documentation and are refused.
/// * `SELECTOR = VALUE` and `SELECTOR != VALUE` with a string value, plain or
///   double-quoted; a leading and/or trailing `*` matches any text
///   (`*Event`, `Event*`, `"Update*"`, `123.123.*`, `*` alone for "any
///   value"), while a `*` inside (`Ev*ent`) is an ordinary character, as the
///   syntax page says.
/// * `SELECTOR OP NUMBER` with `=`, `!=`, `<`, `<=`, `>`, `>=` and numbers such
///   as `403`, `+1000`, `-1`, `55.5`, `10e3`, `10e-3`.
/// * `SELECTOR = %regex%` and `!=` (see below).
/// * `IS NULL`, `NOT EXISTS`, `IS TRUE`, `IS FALSE`.
/// * `&&`, `||` and parentheses, with `()` binding tighter than `&&`, and `&&`
///   tighter than `||`.
/// * A comparison only applies to a value node (string or number): both
///   `{ $.users = 1 }` and `{ $.users != 1 }` fail where `users` is an array, an
///   object, `null`, a boolean or absent.
/// * **Undocumented:** a numeric comparison against a JSON *string* holding a
///   number (`"status":"403"`, as API Gateway's `$context.status` access-log
///   variable writes it) compares numerically, so `{ $.status = 403 }` selects
///   both `{"status":403}` and `{"status":"403"}`. `=` and `!=` against a string
///   that is not a number compare the text instead (`{ $.s != 403 }` holds for
///   `"abc"`); `<`, `<=`, `>` and `>=` never hold for it. A string value is
///   compared with a JSON number's text, so `{ $.status = "4*" }` and
///   `{ $.status = 4* }` also select `{"status":403}`.
///
/// # Space-delimited (`[ ... ]`)
///
/// The syntax page, "Using Metric Filters to Extract Values from
/// Space-Delimited Log Events":
///
/// * The message is split into fields at blanks; the characters between a
///   pair of double quotes or of square brackets form one field (without the
///   quotes or brackets).
/// * The pattern names the fields, separated by commas: `[ip, user, username,
///   timestamp, request, status_code, bytes]`; names are letters, digits, `_`
///   and `-`. Without `...` the event must have exactly that many fields; one
///   `...` stands for any number (zero or more) of fields, and a second is
///   refused (as in the CDK). A trailing comma before `]` is allowed, as in the
///   page's `[..., request=*.html*, status_code=4*,]`.
/// * A field may carry conditions: `status_code = 4*`, `bytes > 1000`,
///   `request = *html*`, `w1 != ERROR && w1 != WARN`,
///   `status_code = 403 || status_code = 404`, with the same operators, values,
///   wildcards, regular expressions and numeric rules as JSON patterns (a field
///   holding a number compares numerically). The field's name is the first
///   name in its conditions. **Undocumented:** a condition may name another
///   field of the pattern; one naming no field of the pattern never holds.
///
/// # Regular expressions (`%regex%`)
///
/// The syntax page, "Supported regular expressions (regex) syntax": a pattern
/// that is a single `%regex%` matches events in which the expression finds a
/// match anywhere (use `^`/`$` to anchor); `%regex%` may also be a value in
/// JSON and space-delimited conditions, at most two per pattern. Only the
/// documented characters are accepted: ASCII letters and digits, the symbols
/// `: _ # = @ / ; , -`, the operators `^ $ ? [ ] { } | \ * + .`, and
/// (**undocumented**) the space; `(`, `)` and multi-byte characters are
/// refused, as the page says.
#[derive(Debug, Clone)]
pub struct FilterPattern {
    kind: Kind,
}

impl FilterPattern {
    /// Parses `pattern`; the error message is the one to return to the caller
    /// as AWS's InvalidParameterException text (e.g. "Invalid filter pattern").
    pub fn parse(pattern: &str) -> Result<FilterPattern, FilterError> {
        let chars = pattern.chars().count();
        if chars > MAX_PATTERN_CHARS {
            return Err(FilterError::TooLong { chars });
        }
        let mut parser = Parser::new(pattern);
        parser.skip_ws();
        let kind = match parser.peek() {
            None => Kind::All,
            Some('{') => Kind::Json(parser.parse_json()?),
            Some('[') => Kind::Delimited(parser.parse_delimited()?),
            Some('%') => match standalone_regex(pattern) {
                Some(body) => Kind::Regex(compile_regex(body)?),
                None => Kind::Terms(parser.parse_terms()?),
            },
            Some(_) => Kind::Terms(parser.parse_terms()?),
        };
        Ok(FilterPattern { kind })
    }

    /// Whether the event message matches.
    pub fn matches(&self, message: &str) -> bool {
        match &self.kind {
            Kind::All => true,
            Kind::Terms(terms) => terms.matches(message),
            Kind::Regex(regex) => regex.is_match(message),
            Kind::Json(expr) => match serde_json::from_str::<Json>(message) {
                Ok(root) if root.is_object() => expr.eval(&|cond: &JsonCond| cond.eval(&root)),
                _ => false,
            },
            Kind::Delimited(pattern) => pattern.matches(message),
        }
    }
}

#[derive(Debug, Clone)]
enum Kind {
    All,
    Terms(Terms),
    Regex(Regex),
    Json(Expr<JsonCond>),
    Delimited(Delimited),
}

// ---------------------------------------------------------------------------
// Terms

#[derive(Debug, Clone)]
struct Terms {
    /// Alternatives: the event must contain every term of one of them. Empty
    /// when the pattern has only exclusions.
    groups: Vec<Vec<String>>,
    /// The event must contain none of these.
    exclude: Vec<String>,
}

impl Terms {
    fn matches(&self, message: &str) -> bool {
        if self.exclude.iter().any(|t| message.contains(t.as_str())) {
            return false;
        }
        self.groups.is_empty()
            || self
                .groups
                .iter()
                .any(|group| group.iter().all(|t| message.contains(t.as_str())))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TermKind {
    Required,
    Optional,
    Excluded,
}

// ---------------------------------------------------------------------------
// Boolean expressions shared by JSON and space-delimited patterns

#[derive(Debug, Clone)]
enum Expr<C> {
    Cond(C),
    And(Vec<Expr<C>>),
    Or(Vec<Expr<C>>),
}

impl<C> Expr<C> {
    fn eval(&self, test: &dyn Fn(&C) -> bool) -> bool {
        match self {
            Expr::Cond(c) => test(c),
            Expr::And(items) => items.iter().all(|e| e.eval(test)),
            Expr::Or(items) => items.iter().any(|e| e.eval(test)),
        }
    }

    /// The first condition, left to right.
    fn first(&self) -> Option<&C> {
        match self {
            Expr::Cond(c) => Some(c),
            Expr::And(items) | Expr::Or(items) => items.iter().find_map(Expr::first),
        }
    }

    fn any(&self, pred: &dyn Fn(&C) -> bool) -> bool {
        match self {
            Expr::Cond(c) => pred(c),
            Expr::And(items) | Expr::Or(items) => items.iter().any(|e| e.any(pred)),
        }
    }

    fn try_map<D, E>(self, f: &mut dyn FnMut(C) -> Result<D, E>) -> Result<Expr<D>, E> {
        Ok(match self {
            Expr::Cond(c) => Expr::Cond(f(c)?),
            Expr::And(items) => Expr::And(
                items
                    .into_iter()
                    .map(|e| e.try_map(f))
                    .collect::<Result<_, _>>()?,
            ),
            Expr::Or(items) => Expr::Or(
                items
                    .into_iter()
                    .map(|e| e.try_map(f))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    fn is_ordering(self) -> bool {
        matches!(self, Op::Lt | Op::Le | Op::Gt | Op::Ge)
    }

    /// Whether `left OP right` holds.
    fn holds(self, left: f64, right: f64) -> bool {
        match self {
            Op::Eq => left == right,
            Op::Ne => left != right,
            Op::Lt => left < right,
            Op::Le => left <= right,
            Op::Gt => left > right,
            Op::Ge => left >= right,
        }
    }
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone)]
enum Value {
    /// An unquoted number; `text` is how the pattern wrote it.
    Number { number: f64, text: String },
    /// A string, with `*` wildcards at its ends.
    Text(Wildcard),
    /// `%regex%`.
    Regex(Regex),
}

/// A string with optional `*` wildcards at its start and end.
#[derive(Debug, Clone)]
struct Wildcard {
    core: String,
    any_prefix: bool,
    any_suffix: bool,
}

impl Wildcard {
    fn new(text: &str) -> Self {
        let after_lead = text.trim_start_matches('*');
        let core = after_lead.trim_end_matches('*');
        Wildcard {
            any_prefix: after_lead.len() != text.len(),
            any_suffix: core.len() != after_lead.len(),
            core: core.to_owned(),
        }
    }

    fn matches(&self, text: &str) -> bool {
        let core = self.core.as_str();
        match (self.any_prefix, self.any_suffix) {
            (true, true) => text.contains(core),
            (true, false) => text.ends_with(core),
            (false, true) => text.starts_with(core),
            (false, false) => text == core,
        }
    }
}

/// Compares a scalar (a JSON string or number, or a space-delimited field),
/// given as text and, when it is one, as a number, with `value`.
fn compare(op: Op, value: &Value, text: &str, number: Option<f64>) -> bool {
    match value {
        Value::Number {
            number: right,
            text: literal,
        } => match number {
            Some(left) => op.holds(left, *right),
            None => match op {
                Op::Eq => text == literal,
                Op::Ne => text != literal,
                _ => false,
            },
        },
        Value::Text(wildcard) => match op {
            Op::Eq => wildcard.matches(text),
            Op::Ne => !wildcard.matches(text),
            _ => false,
        },
        Value::Regex(regex) => match op {
            Op::Eq => regex.is_match(text),
            Op::Ne => !regex.is_match(text),
            _ => false,
        },
    }
}

/// Parses a number the way the syntax page describes one: an integer or a
/// decimal, with an optional sign, optionally followed by `e` and an integer
/// with an optional sign. Anything else (`inf`, `.5`, `0x10`, ` 1`) is not a
/// number.
fn parse_number(text: &str) -> Option<f64> {
    fn digits(s: &str) -> bool {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
    }
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (unsigned, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let valid = digits(int)
        && frac.is_none_or(digits)
        && exponent.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e)));
    if valid {
        text.parse::<f64>().ok()
    } else {
        None
    }
}

// ---------------------------------------------------------------------------
// JSON patterns

#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone)]
enum JsonTest {
    Compare(Op, Value),
    IsNull,
    NotExists,
    IsTrue,
    IsFalse,
}

#[derive(Debug, Clone)]
struct JsonCond {
    path: Vec<Step>,
    test: JsonTest,
}

impl JsonCond {
    fn eval(&self, root: &Json) -> bool {
        let node = lookup(root, &self.path);
        match &self.test {
            JsonTest::NotExists => node.is_none(),
            JsonTest::IsNull => node.is_some_and(Json::is_null),
            JsonTest::IsTrue => node.and_then(Json::as_bool) == Some(true),
            JsonTest::IsFalse => node.and_then(Json::as_bool) == Some(false),
            JsonTest::Compare(op, value) => match node {
                Some(Json::String(s)) => compare(*op, value, s, parse_number(s)),
                Some(Json::Number(n)) => compare(*op, value, &n.to_string(), n.as_f64()),
                _ => false,
            },
        }
    }
}

fn lookup<'a>(root: &'a Json, path: &[Step]) -> Option<&'a Json> {
    let mut node = root;
    for step in path {
        node = match step {
            Step::Key(key) => node.as_object()?.get(key)?,
            Step::Index(index) => node.as_array()?.get(*index)?,
        };
    }
    Some(node)
}

// ---------------------------------------------------------------------------
// Space-delimited patterns

#[derive(Debug, Clone)]
struct FieldCond {
    name: String,
    /// The index of the named field among the pattern's fields, if it names
    /// one.
    field: Option<usize>,
    op: Op,
    value: Value,
}

/// One comma-separated part of a space-delimited pattern, as first parsed.
#[derive(Debug, Clone)]
enum FieldNode {
    Name(String),
    Cond(FieldCond),
}

#[derive(Debug, Clone)]
struct Field {
    name: String,
    cond: Option<Expr<FieldCond>>,
}

#[derive(Debug, Clone)]
struct Delimited {
    /// The named fields, in order, without the `...`.
    fields: Vec<Field>,
    /// Where the `...` stands: how many named fields come before it.
    ellipsis: Option<usize>,
}

impl Delimited {
    fn matches(&self, message: &str) -> bool {
        let values = split_fields(message);
        let n = self.fields.len();
        let bound: Vec<&str> = match self.ellipsis {
            None if values.len() == n => values,
            None => return false,
            Some(before) => {
                let after = n.saturating_sub(before);
                let (Some(head), Some(tail)) = (
                    values.get(..before),
                    values
                        .len()
                        .checked_sub(after)
                        .filter(|&start| start >= before)
                        .and_then(|start| values.get(start..)),
                ) else {
                    return false;
                };
                head.iter().chain(tail).copied().collect()
            }
        };
        self.fields.iter().all(|field| {
            field.cond.as_ref().is_none_or(|cond| {
                cond.eval(&|c: &FieldCond| {
                    c.field
                        .and_then(|i| bound.get(i))
                        .is_some_and(|v| compare(c.op, &c.value, v, parse_number(v)))
                })
            })
        })
    }
}

/// Splits a message into space-delimited fields: blanks separate fields, and
/// `"..."` or `[...]` is one field (without its delimiters; an unclosed one
/// runs to the end of the message).
fn split_fields(message: &str) -> Vec<&str> {
    let mut fields = Vec::new();
    let mut rest = message;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
        let close = match rest.chars().next() {
            None => break,
            Some('"') => Some('"'),
            Some('[') => Some(']'),
            Some(_) => None,
        };
        match close {
            Some(close) => {
                // The opening delimiter is one byte.
                let inner = rest.get(1..).unwrap_or("");
                match inner.find(close) {
                    Some(end) => {
                        fields.push(inner.get(..end).unwrap_or(""));
                        rest = inner.get(end + 1..).unwrap_or("");
                    }
                    None => {
                        fields.push(inner);
                        rest = "";
                    }
                }
            }
            None => {
                let end = rest
                    .find(|c: char| c.is_ascii_whitespace())
                    .unwrap_or(rest.len());
                fields.push(rest.get(..end).unwrap_or(""));
                rest = rest.get(end..).unwrap_or("");
            }
        }
    }
    fields
}

// ---------------------------------------------------------------------------
// Regular expressions

/// The body of a pattern that is a single `%regex%`.
fn standalone_regex(pattern: &str) -> Option<&str> {
    let trimmed = pattern.trim();
    if trimmed.len() < 2 {
        return None;
    }
    trimmed.strip_prefix('%')?.strip_suffix('%')
}

fn compile_regex(body: &str) -> Result<Regex, FilterError> {
    let refuse = |message: String| FilterError::Regex {
        regex: body.to_owned(),
        message,
    };
    if body.is_empty() {
        return Err(refuse("is empty".to_owned()));
    }
    if let Some(c) = body.chars().find(|&c| {
        !(c.is_ascii_alphanumeric() || ":_#=@/;,- ".contains(c) || "^$?[]{}|\\*+.".contains(c))
    }) {
        return Err(refuse(format!("may not contain {c:?}")));
    }
    RegexBuilder::new(body)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .nest_limit(MAX_NESTING as u32)
        .build()
        .map_err(|e| refuse(format!("is not valid: {}", first_line(&e.to_string()))))
}

fn first_line(text: &str) -> &str {
    text.lines().find(|l| !l.trim().is_empty()).unwrap_or(text)
}

// ---------------------------------------------------------------------------
// The parser

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

fn is_bare_value_char(c: char) -> bool {
    !c.is_whitespace() && !"(){}[]\"&|,=!<>".contains(c)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
    regexes: usize,
}

type Parsed<T> = Result<T, FilterError>;

impl Parser {
    fn new(pattern: &str) -> Self {
        Parser {
            chars: pattern.chars().collect(),
            pos: 0,
            depth: 0,
            regexes: 0,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_str(&mut self, s: &str) -> bool {
        let n = s.chars().count();
        let matched = self.chars.get(self.pos..).is_some_and(|rest| {
            rest.len() >= n && rest.iter().zip(s.chars()).all(|(a, b)| *a == b)
        });
        if matched {
            self.pos += n;
        }
        matched
    }

    fn take_while(&mut self, pred: impl Fn(char) -> bool) -> String {
        let mut out = String::new();
        while let Some(c) = self.peek().filter(|&c| pred(c)) {
            out.push(c);
            self.pos += 1;
        }
        out
    }

    fn error_at(&self, pos: usize, message: impl Into<String>) -> FilterError {
        FilterError::Syntax {
            position: pos.saturating_add(1),
            message: message.into(),
        }
    }

    fn error(&self, message: impl Into<String>) -> FilterError {
        self.error_at(self.pos, message)
    }

    fn expect_end(&mut self, after: &str) -> Parsed<()> {
        self.skip_ws();
        if self.at_end() {
            Ok(())
        } else {
            Err(self.error(format!("unexpected text after the closing {after}")))
        }
    }

    /// A double-quoted string, the opening quote next; `\"` and `\\` are
    /// escapes, any other backslash is kept as is.
    fn parse_quoted(&mut self) -> Parsed<String> {
        let start = self.pos;
        self.bump();
        let mut out = String::new();
        loop {
            match self.bump() {
                None => return Err(self.error_at(start, "unterminated quoted string")),
                Some('"') => return Ok(out),
                Some('\\') => match self.bump() {
                    Some(c @ ('"' | '\\')) => out.push(c),
                    Some(c) => {
                        out.push('\\');
                        out.push(c);
                    }
                    None => return Err(self.error_at(start, "unterminated quoted string")),
                },
                Some(c) => out.push(c),
            }
        }
    }

    // -- terms --------------------------------------------------------------

    fn parse_terms(&mut self) -> Parsed<Terms> {
        let mut groups: Vec<Vec<String>> = Vec::new();
        let mut exclude = Vec::new();
        loop {
            self.skip_ws();
            let Some(c) = self.peek() else { break };
            let kind = match c {
                '?' => TermKind::Optional,
                '-' => TermKind::Excluded,
                _ => TermKind::Required,
            };
            if kind != TermKind::Required {
                self.bump();
                self.skip_ws();
                match self.peek() {
                    None => return Err(self.error(format!("'{c}' must be followed by a term"))),
                    Some(next @ ('?' | '-')) => {
                        return Err(self.error(format!("'{c}' cannot be followed by '{next}'")))
                    }
                    Some(_) => {}
                }
            }
            let term = self.parse_term()?;
            match kind {
                TermKind::Excluded => exclude.push(term),
                TermKind::Optional => groups.push(vec![term]),
                TermKind::Required => match groups.last_mut() {
                    Some(group) => group.push(term),
                    None => groups.push(vec![term]),
                },
            }
        }
        Ok(Terms { groups, exclude })
    }

    fn parse_term(&mut self) -> Parsed<String> {
        if self.peek() == Some('"') {
            let term = self.parse_quoted()?;
            if self.peek().is_some_and(|c| !c.is_whitespace()) {
                return Err(self.error("a quoted term must be followed by a blank"));
            }
            return Ok(term);
        }
        let start = self.pos;
        let term = self.take_while(|c| !c.is_whitespace());
        if let Some(offset) = term.chars().position(|c| c == '"') {
            return Err(self.error_at(
                start.saturating_add(offset),
                "a double quote may only open a term; quote the whole term",
            ));
        }
        Ok(term)
    }

    // -- boolean expressions ------------------------------------------------

    fn parse_or<C>(&mut self, cond: fn(&mut Parser) -> Parsed<C>) -> Parsed<Expr<C>> {
        let mut items = vec![self.parse_and(cond)?];
        loop {
            self.skip_ws();
            if self.eat_str("||") {
                items.push(self.parse_and(cond)?);
            } else {
                break;
            }
        }
        Ok(match <[Expr<C>; 1]>::try_from(items) {
            Ok([one]) => one,
            Err(items) => Expr::Or(items),
        })
    }

    fn parse_and<C>(&mut self, cond: fn(&mut Parser) -> Parsed<C>) -> Parsed<Expr<C>> {
        let mut items = vec![self.parse_primary(cond)?];
        loop {
            self.skip_ws();
            if self.eat_str("&&") {
                items.push(self.parse_primary(cond)?);
            } else {
                break;
            }
        }
        Ok(match <[Expr<C>; 1]>::try_from(items) {
            Ok([one]) => one,
            Err(items) => Expr::And(items),
        })
    }

    fn parse_primary<C>(&mut self, cond: fn(&mut Parser) -> Parsed<C>) -> Parsed<Expr<C>> {
        self.skip_ws();
        if self.peek() != Some('(') {
            return Ok(Expr::Cond(cond(self)?));
        }
        let open = self.pos;
        self.bump();
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(FilterError::TooDeep);
        }
        let expr = self.parse_or(cond)?;
        self.skip_ws();
        if !self.eat(')') {
            return Err(match self.peek() {
                None => self.error_at(open, "unbalanced '('"),
                Some(_) => self.error("expected ')', '&&' or '||'"),
            });
        }
        self.depth -= 1;
        Ok(expr)
    }

    fn parse_op(&mut self) -> Parsed<Op> {
        self.skip_ws();
        let op = if self.eat_str("!=") {
            Op::Ne
        } else if self.eat_str("<=") {
            Op::Le
        } else if self.eat_str(">=") {
            Op::Ge
        } else if self.eat('=') {
            Op::Eq
        } else if self.eat('<') {
            Op::Lt
        } else if self.eat('>') {
            Op::Gt
        } else {
            return Err(self.error("expected a comparison operator (=, !=, <, <=, >, >=)"));
        };
        Ok(op)
    }

    fn parse_value(&mut self, op: Op) -> Parsed<Value> {
        self.skip_ws();
        let start = self.pos;
        let value = match self.peek() {
            Some('"') => Value::Text(Wildcard::new(&self.parse_quoted()?)),
            Some('%') => {
                self.bump();
                let body = self.take_while(|c| c != '%');
                if !self.eat('%') {
                    return Err(self.error_at(start, "unterminated regular expression"));
                }
                self.regexes += 1;
                if self.regexes > MAX_REGEXES {
                    return Err(FilterError::TooManyRegexes);
                }
                Value::Regex(compile_regex(&body)?)
            }
            _ => {
                let word = self.take_while(is_bare_value_char);
                if word.is_empty() {
                    return Err(self.error("expected a value after the comparison operator"));
                }
                match parse_number(&word) {
                    Some(number) => Value::Number { number, text: word },
                    None => Value::Text(Wildcard::new(&word)),
                }
            }
        };
        if op.is_ordering() && !matches!(value, Value::Number { .. }) {
            return Err(self.error_at(start, "<, <=, > and >= need a number"));
        }
        Ok(value)
    }

    // -- JSON ---------------------------------------------------------------

    fn parse_json(&mut self) -> Parsed<Expr<JsonCond>> {
        self.bump(); // '{'
        let expr = self.parse_or(Parser::parse_json_cond)?;
        self.skip_ws();
        if !self.eat('}') {
            return Err(match self.peek() {
                None => self.error("missing '}' at the end of the JSON pattern"),
                Some(_) => self.error("expected '}', '&&' or '||'"),
            });
        }
        self.expect_end("'}'")?;
        Ok(expr)
    }

    fn parse_json_cond(&mut self) -> Parsed<JsonCond> {
        self.skip_ws();
        let path = self.parse_selector()?;
        self.skip_ws();
        if self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            let start = self.pos;
            let first = self.take_while(|c| c.is_ascii_alphabetic());
            self.skip_ws();
            let second = self.take_while(|c| c.is_ascii_alphabetic());
            let test =
                match (
                    first.to_ascii_uppercase().as_str(),
                    second.to_ascii_uppercase().as_str(),
                ) {
                    ("IS", "NULL") => JsonTest::IsNull,
                    ("IS", "TRUE") => JsonTest::IsTrue,
                    ("IS", "FALSE") => JsonTest::IsFalse,
                    ("NOT", "EXISTS") => JsonTest::NotExists,
                    _ => return Err(self.error_at(
                        start,
                        "expected IS NULL, IS TRUE, IS FALSE, NOT EXISTS or a comparison operator",
                    )),
                };
            return Ok(JsonCond { path, test });
        }
        let op = self.parse_op()?;
        let value = self.parse_value(op)?;
        Ok(JsonCond {
            path,
            test: JsonTest::Compare(op, value),
        })
    }

    fn parse_selector(&mut self) -> Parsed<Vec<Step>> {
        if !self.eat('$') {
            return Err(self.error("expected a selector starting with '$'"));
        }
        let mut path = Vec::new();
        loop {
            match self.peek() {
                Some('.') => {
                    self.bump();
                    let name = self.take_while(is_name_char);
                    if name.is_empty() {
                        return Err(self.error(
                            "expected a property name (letters, digits, '-', '_') after '.'",
                        ));
                    }
                    path.push(Step::Key(name));
                }
                Some('[') => {
                    if path.is_empty() {
                        return Err(self.error("an array index must follow a property"));
                    }
                    self.bump();
                    let start = self.pos;
                    let digits = self.take_while(|c| c.is_ascii_digit());
                    let index = digits
                        .parse::<usize>()
                        .map_err(|_| self.error_at(start, "expected an array index"))?;
                    if !self.eat(']') {
                        return Err(self.error("expected ']' after the array index"));
                    }
                    path.push(Step::Index(index));
                }
                _ => break,
            }
        }
        if path.is_empty() {
            return Err(self.error("expected '.property' after '$'"));
        }
        Ok(path)
    }

    // -- space-delimited ----------------------------------------------------

    fn parse_delimited(&mut self) -> Parsed<Delimited> {
        self.bump(); // '['
        let mut fields: Vec<Field> = Vec::new();
        let mut ellipsis = None;
        loop {
            self.skip_ws();
            let start = self.pos;
            if self.eat_str("...") || self.eat('…') {
                if ellipsis.is_some() {
                    return Err(self.error_at(start, "only one '...' is allowed"));
                }
                ellipsis = Some(fields.len());
            } else {
                let field = self.parse_field(start)?;
                if fields.iter().any(|f| f.name == field.name) {
                    return Err(
                        self.error_at(start, format!("field '{}' is named twice", field.name))
                    );
                }
                fields.push(field);
            }
            self.skip_ws();
            match self.peek() {
                Some(',') => {
                    self.bump();
                    self.skip_ws();
                    if self.eat(']') {
                        break;
                    }
                    if self.at_end() {
                        return Err(
                            self.error("missing ']' at the end of the space-delimited pattern")
                        );
                    }
                }
                Some(']') => {
                    self.bump();
                    break;
                }
                None => {
                    return Err(self.error("missing ']' at the end of the space-delimited pattern"))
                }
                Some(c) => return Err(self.error(format!("unexpected '{c}'; expected ',' or ']'"))),
            }
        }
        self.expect_end("']'")?;
        if fields.is_empty() {
            return Err(self.error_at(
                0,
                "a space-delimited pattern needs at least one named field",
            ));
        }
        let names: Vec<String> = fields.iter().map(|f| f.name.clone()).collect();
        for field in &mut fields {
            if let Some(cond) = field.cond.take() {
                let resolved = cond.try_map(&mut |mut c: FieldCond| {
                    c.field = names.iter().position(|n| *n == c.name);
                    Ok::<_, FilterError>(c)
                })?;
                field.cond = Some(resolved);
            }
        }
        Ok(Delimited { fields, ellipsis })
    }

    /// One comma-separated field: a name, or conditions on it.
    fn parse_field(&mut self, start: usize) -> Parsed<Field> {
        let expr = self.parse_or(Parser::parse_field_node)?;
        if let Expr::Cond(FieldNode::Name(name)) = expr {
            return Ok(Field { name, cond: None });
        }
        if expr.any(&|n| matches!(n, FieldNode::Name(_))) {
            return Err(self.error_at(
                start,
                "each part of a field condition must compare the field (name OP value)",
            ));
        }
        let name = match expr.first() {
            Some(FieldNode::Cond(c)) => c.name.clone(),
            _ => return Err(self.error_at(start, "expected a field name")),
        };
        let cond = expr.try_map(&mut |node| match node {
            FieldNode::Cond(c) => Ok(c),
            FieldNode::Name(_) => Err(self.error_at(start, "expected a field condition")),
        })?;
        Ok(Field {
            name,
            cond: Some(cond),
        })
    }

    fn parse_field_node(&mut self) -> Parsed<FieldNode> {
        self.skip_ws();
        let name = self.take_while(is_name_char);
        if name.is_empty() {
            return Err(self.error("expected a field name (letters, digits, '-', '_') or '...'"));
        }
        self.skip_ws();
        if !matches!(self.peek(), Some('=' | '!' | '<' | '>')) {
            return Ok(FieldNode::Name(name));
        }
        let op = self.parse_op()?;
        let value = self.parse_value(op)?;
        Ok(FieldNode::Cond(FieldCond {
            name,
            field: None,
            op,
            value,
        }))
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;

    fn pat(p: &str) -> FilterPattern {
        FilterPattern::parse(p).unwrap_or_else(|e| panic!("{p:?} should parse: {e}"))
    }

    fn check(p: &str, yes: &[&str], no: &[&str]) {
        let f = pat(p);
        for m in yes {
            assert!(f.matches(m), "{p:?} should match {m:?}");
        }
        for m in no {
            assert!(!f.matches(m), "{p:?} should not match {m:?}");
        }
    }

    fn refused(p: &str) -> FilterError {
        match FilterPattern::parse(p) {
            Ok(f) => panic!("{p:?} should be refused, got {f:?}"),
            Err(e) => {
                assert!(
                    e.to_string().starts_with("Invalid filter pattern"),
                    "message: {e}"
                );
                e
            }
        }
    }

    // -- terms --------------------------------------------------------------

    #[test]
    fn empty_and_quoted_empty_match_everything() {
        for p in ["", "   ", "\"\""] {
            check(p, &["anything", "", "{\"a\":1}"], &[]);
        }
    }

    #[test]
    fn single_term_is_a_case_sensitive_substring() {
        check(
            "ERROR",
            &[
                "[ERROR] A fatal exception has occurred",
                "Exiting with ERRORCODE: -1",
            ],
            &["error: lower case", "ERRO R"],
        );
    }

    #[test]
    fn all_terms_must_appear_in_any_order() {
        check(
            "ERROR Exception",
            &[
                "[ERROR] Caught IllegalArgumentException",
                "Exception then ERROR",
            ],
            &["[ERROR] only", "Exception only"],
        );
        check(
            "Failed to process the request",
            &[
                "[WARN] Failed to process the request",
                "the request to process Failed",
            ],
            &["Failed to process"],
        );
    }

    #[test]
    fn optional_terms_are_alternatives() {
        let f = pat("?ERROR ?WARN");
        assert!(f.matches("ERROR WARN message"));
        assert!(f.matches("ERROR message"));
        assert!(f.matches("WARN message"));
        assert!(!f.matches("INFO message"));
        // `? term` with a blank works too.
        check("? ERROR ? WARN", &["WARN x"], &["INFO"]);
    }

    #[test]
    fn optional_groups_follow_the_cdk() {
        // FilterPattern.anyTermGroup(["ERROR", "MainThread"], ["WARN", "Deadlock"])
        let f = pat(r#"?"ERROR" "MainThread" ?"WARN" "Deadlock""#);
        assert!(f.matches("ERROR in MainThread"));
        assert!(f.matches("WARN Deadlock found"));
        assert!(!f.matches("ERROR Deadlock"));
        assert!(!f.matches("WARN MainThread"));
    }

    #[test]
    fn excluded_terms() {
        check(
            "ERROR -WARN",
            &["ERROR message"],
            &["ERROR WARN message", "WARN message"],
        );
        check(
            "ERROR -Exiting",
            &["[ERROR] A fatal exception has occurred"],
            &["Exiting with ERRORCODE: -1"],
        );
        check(
            r#""ERROR" - "Exiting""#,
            &["[ERROR] fatal"],
            &["Exiting with ERRORCODE: -1"],
        );
        check("-x", &["abc", ""], &["xyz", "box"]);
        check("?a ?b -c", &["a", "b"], &["a c", "nothing"]);
    }

    #[test]
    fn quoted_phrases_are_one_term() {
        check(
            r#""Failed to process""#,
            &["[WARN] Failed to process the request"],
            &["Failed to  process", "process Failed to"],
        );
        check(
            r#""ERROR 401" "user=alice@example.com""#,
            &["got ERROR 401 for user=alice@example.com"],
            &["ERROR 401 for user=bob@example.com"],
        );
        check(
            r#""say \"hi\"""#,
            &[r#"he said say "hi" twice"#],
            &["say hi"],
        );
        check(r#""back\\slash""#, &[r"a back\slash"], &["backslash"]);
    }

    // -- JSON ---------------------------------------------------------------

    #[test]
    fn status_403_matches_numbers_and_numeric_strings() {
        let f = pat("{ $.status = 403 }");
        assert!(f.matches(r#"{"status":403}"#));
        assert!(f.matches(r#"{"status":"403"}"#));
        assert!(f.matches(r#"{"requestId":"x","status":403.0}"#));
        assert!(!f.matches(r#"{"status":"200"}"#));
        assert!(!f.matches(r#"{"status":200}"#));
        assert!(!f.matches(r#"{"other":403}"#));
        assert!(!f.matches("127.0.0.1 GET / status 403"));
        assert!(!f.matches(r#"[{"status":403}]"#));
        assert!(!f.matches(r#"{"status":403"#));
        // Without blanks, as the syntax page writes `{$.foo = bar}`.
        assert!(pat("{$.status=403}").matches(r#"{"status":"403"}"#));
    }

    const DOC_EVENT: &str = r#"{
        "eventType": "UpdateTrail",
        "sourceIPAddress": "111.111.111.111",
        "arrayKey": ["value", "another value"],
        "objectList": [{"name": "a", "id": 1}, {"name": "b", "id": 2}],
        "SomeObject": null,
        "ThisFlag": true
    }"#;

    #[test]
    fn json_examples_from_the_syntax_page() {
        for p in [
            r#"{ $.eventType = "UpdateTrail" }"#,
            "{ $.eventType = UpdateTrail }",
            "{ $.sourceIPAddress != 123.123.* }",
            r#"{ $.arrayKey[0] = "value" }"#,
            r#"{ $.arrayKey[1] = "another value" }"#,
            "{ $.objectList[1].id = 2 }",
            "{ $.SomeObject IS NULL }",
            "{ $.SomeOtherObject NOT EXISTS }",
            "{ $.ThisFlag IS TRUE }",
            "{ $.eventType = * }",
        ] {
            assert!(pat(p).matches(DOC_EVENT), "{p}");
        }
        for p in [
            r#"{ $.eventType = "Update" }"#,
            "{ $.sourceIPAddress != 111.111.* }",
            r#"{ $.arrayKey[2] = "value" }"#,
            "{ $.objectList[1].id = 1 }",
            "{ $.eventType IS NULL }",
            "{ $.ThisFlag IS FALSE }",
            "{ $.SomeObject NOT EXISTS }",
            "{ $.eventType.x NOT EXISTS && $.nope = 1 }",
            // A selector on an array or object, or on null, never compares.
            "{ $.arrayKey = value }",
            "{ $.arrayKey != value }",
            "{ $.objectList != 1 }",
            "{ $.SomeObject != 1 }",
        ] {
            assert!(!pat(p).matches(DOC_EVENT), "{p}");
        }
        assert!(pat("{ $.eventType.x NOT EXISTS }").matches(DOC_EVENT));
    }

    #[test]
    fn json_wildcards() {
        check(
            r#"{ $.eventType = "Update*" }"#,
            &[
                r#"{"eventType":"UpdateTrail"}"#,
                r#"{"eventType":"Update"}"#,
            ],
            &[
                r#"{"eventType":"CreateTrail"}"#,
                r#"{"eventType":"update"}"#,
            ],
        );
        check(
            "{ $.eventName = *Event }",
            &[r#"{"eventName":"PutEvent"}"#, r#"{"eventName":"GetEvent"}"#],
            &[r#"{"eventName":"EventId"}"#],
        );
        check(
            "{ $.eventName = *vent* }",
            &[r#"{"eventName":"EventId"}"#, r#"{"eventName":"PutEvent"}"#],
            &[r#"{"eventName":"Put"}"#],
        );
        // A `*` inside is an ordinary character.
        check(
            "{ $.e = Ev*ent }",
            &[r#"{"e":"Ev*ent"}"#],
            &[r#"{"e":"Event"}"#, r#"{"e":"Evxent"}"#],
        );
        // String patterns see a number's text.
        check(
            "{ $.status = 4* }",
            &[r#"{"status":403}"#, r#"{"status":"404"}"#],
            &[r#"{"status":500}"#],
        );
        check(
            r#"{ $.status = "403" }"#,
            &[r#"{"status":403}"#, r#"{"status":"403"}"#],
            &[r#"{"status":"0403"}"#],
        );
    }

    #[test]
    fn json_numeric_comparisons() {
        let cases: &[(&str, &str, bool)] = &[
            ("{ $.latency >= 500 }", r#"{"latency":500}"#, true),
            ("{ $.latency >= 500 }", r#"{"latency":499.9}"#, false),
            ("{ $.latency > +1000 }", r#"{"latency":1000.5}"#, true),
            ("{ $.latency > 1e3 }", r#"{"latency":"1500"}"#, true),
            ("{ $.latency > 1E3 }", r#"{"latency":999}"#, false),
            ("{ $.numbers[0] < 10e3 }", r#"{"numbers":[9999]}"#, true),
            ("{ $.numbers[0] < 10e-3 }", r#"{"numbers":[0.001]}"#, true),
            ("{ $.numbers[0] < 10e-3 }", r#"{"numbers":[0.01]}"#, false),
            (
                "{ $.p[4].avg <= 55.5 }",
                r#"{"p":[0,0,0,0,{"avg":55.5}]}"#,
                true,
            ),
            ("{ $.errorCode != 500 }", r#"{"errorCode":400}"#, true),
            ("{ $.errorCode != 500 }", r#"{"errorCode":"500"}"#, false),
            ("{ $.t < -1 }", r#"{"t":-1.5}"#, true),
            ("{ $.t < -1 }", r#"{"t":-1}"#, false),
            ("{ $.t = 1.5 }", r#"{"t":"1.50"}"#, true),
            ("{ $.t > 1 }", r#"{"t":"abc"}"#, false),
            ("{ $.t > 1 }", r#"{"t":true}"#, false),
            ("{ $.t > 1 }", "{}", false),
            ("{ $.t != 1 }", r#"{"t":"abc"}"#, true),
            ("{ $.t = 1 }", r#"{"t":"abc"}"#, false),
        ];
        for (p, m, want) in cases {
            assert_eq!(pat(p).matches(m), *want, "{p} on {m}");
        }
    }

    #[test]
    fn json_compound_conditions_from_the_syntax_page() {
        let event = r#"{
            "user": {"id": 1, "email": "John.Stiles@example.com"},
            "users": [
                {"id": 2, "email": "John.Doe@example.com"},
                {"id": 3, "email": "Jane.Doe@example.com"}
            ],
            "actions": ["GET", "PUT", "DELETE"],
            "coordinates": [[0, 1, 2], [4, 5, 6], [7, 8, 9]]
        }"#;
        let cases = [
            (
                r#"{ ($.user.id = 1) && ($.users[0].email = "John.Doe@example.com") }"#,
                true,
            ),
            (
                r#"{ ($.user.id = 2 && $.users[0].email = "nonmatch") || $.actions[2] = "GET" }"#,
                false,
            ),
            (
                r#"{ $.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = nonmatch && $.actions[2] = nomatch }"#,
                true,
            ),
            (
                r#"{ ($.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = nonmatch) && $.actions[2] = nomatch }"#,
                false,
            ),
            ("{ $.coordinates[2][0] = 7 }", true),
        ];
        for (p, want) in cases {
            assert_eq!(pat(p).matches(event), want, "{p}");
        }
        check(
            "{$.foo = bar || $.foo = baz }",
            &[r#"{"foo": "bar"}"#, r#"{"foo": "baz"}"#],
            &[r#"{"foo": "qux"}"#],
        );
    }

    // -- space-delimited ----------------------------------------------------

    const APACHE: [&str; 3] = [
        r#"127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /apache_pb.gif HTTP/1.0" 200 1534"#,
        r#"127.0.0.1 - frank [10/Oct/2000:13:35:22 -0700] "GET /index.html HTTP/1.0" 404 5324"#,
        r#"127.0.0.1 - frank [10/Oct/2000:13:50:35 -0700] "GET /apache_pb.gif HTTP/1.0" 500 355"#,
    ];

    fn which(p: &str, events: &[&str]) -> Vec<usize> {
        let f = pat(p);
        (0..events.len())
            .filter(|&i| f.matches(events[i]))
            .collect()
    }

    #[test]
    fn space_delimited_fields_and_ellipsis() {
        assert_eq!(
            which(
                "[ip, user, username, timestamp, request, status_code, bytes]",
                &APACHE
            ),
            [0, 1, 2]
        );
        // Exactly as many fields as named, unless there is a `...`.
        assert!(which(
            "[ip, user, username, timestamp, request, status_code]",
            &APACHE
        )
        .is_empty());
        assert!(which("[ip, user]", &APACHE).is_empty());
        assert_eq!(which("[..., status_code, bytes]", &APACHE), [0, 1, 2]);
        assert_eq!(
            which("[ip, user, ..., status_code, bytes]", &APACHE),
            [0, 1, 2]
        );
        assert_eq!(which("[ip, user, ...]", &APACHE), [0, 1, 2]);
        assert_eq!(which("[ip, ..., a, b, c, d, e, f]", &APACHE), [0, 1, 2]);
        assert!(which("[ip, ..., a, b, c, d, e, f, g]", &APACHE).is_empty());
        assert_eq!(which("[a, b, ...]", &["x y"]), [0]);
        assert!(which("[a, b, ...]", &["x"]).is_empty());
    }

    #[test]
    fn space_delimited_conditions() {
        let p = |s: &str| which(s, &APACHE);
        assert_eq!(
            p("[ip, user, username, timestamp, request, status_code, bytes > 1000]"),
            [0, 1]
        );
        assert_eq!(
            p("[ip, user, username, timestamp, request, status_code = 200, bytes]"),
            [0]
        );
        assert_eq!(
            p("[ip, user, username, timestamp, request, status_code = 4*, bytes]"),
            [1]
        );
        assert_eq!(
            p("[ip, user, username, timestamp, request = *html*, status_code = 4*, bytes]"),
            [1]
        );
        assert!(p("[..., request=*.html*, status_code=4*,]").is_empty());
        assert_eq!(p("[..., request=*.html*, status_code=4*, bytes]"), [1]);
        assert_eq!(p("[ip, user, ..., status_code=4*, size>1000]"), [1]);
        assert_eq!(p("[ip, user, ..., status_code != 200, size<=1000]"), [2]);
        assert_eq!(
            p("[..., status_code = 404 || status_code = 500, bytes]"),
            [1, 2]
        );
        assert_eq!(
            p("[..., status_code = 5* && status_code != 503, bytes]"),
            [2]
        );
        assert_eq!(p(r#"[ip, user = "-", username = frank, ...]"#), [0, 1, 2]);
        assert_eq!(p("[..., timestamp = *13:35*, r, s, b]"), [1]);
        assert_eq!(
            p(r#"[..., request = "GET /index.html HTTP/1.0", s, b]"#),
            [1]
        );
        // The documented `status_code = 4* && bytes > 1000` where no field is
        // named `bytes`: the unknown name never holds.
        assert!(
            p("[ip, user, username, timestamp, request, status_code = 4* && bytes > 1000]")
                .is_empty()
        );
        // A condition may name another field of the pattern.
        assert_eq!(p("[..., s, b = * && s = 404]"), [1]);
    }

    #[test]
    fn space_delimited_or_examples_from_the_syntax_page() {
        let events = ["ERROR WARN message", "ERROR message", "WARN message"];
        assert_eq!(which("[w1=ERROR, w2]", &events), [1]);
        assert_eq!(which("[w1=ERROR || w1=WARN, w2]", &events), [1, 2]);
        // The page says this matches "ERROR WARN message", but that event has
        // three fields and starts with ERROR: nothing can match.
        assert!(which("[w1!=ERROR&&w1!=WARN, w2]", &events).is_empty());
        assert_eq!(which("[w1!=ERROR&&w1!=WARN, w2]", &["INFO message"]), [0]);
        assert_eq!(which("[w1, w2=WARN, w3]", &events), [0]);
        assert_eq!(
            which("[(w1=ERROR || w1=WARN) && w1!=WARN, ...]", &events),
            [0, 1]
        );
    }

    #[test]
    fn message_splitting() {
        assert_eq!(
            split_fields(r#"  a "b c" [d e]  f"g "#),
            ["a", "b c", "d e", "f\"g"]
        );
        assert_eq!(split_fields(r#"a "unclosed x"#), ["a", "unclosed x"]);
        assert_eq!(split_fields("a [unclosed"), ["a", "unclosed"]);
        assert!(split_fields("   ").is_empty());
    }

    // -- regular expressions ------------------------------------------------

    #[test]
    fn regular_expressions() {
        check(
            "%ERR[O]+R%",
            &["an ERROR here", "ERROOR"],
            &["error", "ERRR"],
        );
        check("%^[hc]at%", &["hat trick", "cat"], &["a cat"]);
        check("%colou?r%", &["color", "colour"], &["colr"]);
        check(
            "{ $.eventType = %^Update.*% }",
            &[r#"{"eventType":"UpdateTrail"}"#],
            &[r#"{"eventType":"CreateUpdate"}"#],
        );
        check(
            r"[..., status = %^5\d\d$%, bytes]",
            &["x 503 10"],
            &["x 404 10", "x 5000 10"],
        );
        assert!(matches!(refused("%ERR(OR)%"), FilterError::Regex { .. }));
        assert!(matches!(refused("%something!%"), FilterError::Regex { .. }));
        assert!(matches!(refused("%é%"), FilterError::Regex { .. }));
        assert!(matches!(refused("%%"), FilterError::Regex { .. }));
        assert!(matches!(
            refused("%a{99999}{99999}%"),
            FilterError::Regex { .. }
        ));
        assert_eq!(
            refused("{ $.a = %a% || $.b = %b% || $.c = %c% }"),
            FilterError::TooManyRegexes
        );
        assert!(FilterPattern::parse("{ $.a = %a% || $.b = %b% }").is_ok());
        // A lone `%` is just a term.
        check("100%", &["at 100% load"], &["100 %"]);
    }

    // -- errors -------------------------------------------------------------

    #[test]
    fn malformed_patterns_are_refused() {
        for p in [
            "{ $.a = }",
            "{ $.a }",
            "{ $.a = 1",
            "{ $.a = 1 } trailing",
            "{ $.a = 1 }}",
            "{ }",
            "{ a = 1 }",
            "{ $ = 1 }",
            "{ $. = 1 }",
            "{ $[0] = 1 }",
            "{ $.a[x] = 1 }",
            "{ $.a[1 = 1 }",
            "{ $.a[99999999999999999999999] = 1 }",
            "{ $.a == 1 }",
            "{ $.a =! 1 }",
            "{ $.a > abc }",
            r#"{ $.a < "5" }"#,
            "{ $.a IS MAYBE }",
            "{ $.a NOT THERE }",
            "{ $.a = 1 && }",
            "{ $.a = 1 || || $.b = 2 }",
            "{ $.a = 1 & $.b = 2 }",
            "{ ($.a = 1 }",
            "{ $.a = 1) }",
            "{ (($.a = 1) }",
            r#"{ $.a = "unclosed }"#,
            "{ $.a = %unclosed }",
            "[a,",
            "[a",
            "[",
            "[]",
            "[,]",
            "[a,,b]",
            "[a b]",
            "[a, ..., b, ...]",
            "[a, a]",
            "[a > x]",
            "[a = ]",
            "[a && b]",
            "[a = 1 && b, c]",
            "[a, (b = 1]",
            "[a] x",
            r#""unbalanced"#,
            r#"ERROR "unbalanced"#,
            r#""a"b"#,
            r#"abc"def"#,
            "ERROR -",
            "?",
            "--x",
            "?-x",
        ] {
            refused(p);
        }
    }

    #[test]
    fn error_messages_are_clear() {
        let e = refused("{ $.a = }");
        assert_eq!(
            e.to_string(),
            "Invalid filter pattern: expected a value after the comparison operator (at character 9)"
        );
        let e = refused("[a,");
        assert!(e.to_string().contains("missing ']'"), "{e}");
        let e = refused("{ ($.a = 1 }");
        assert!(e.to_string().contains("')'"), "{e}");
        let e = refused(r#"ERROR "abc"#);
        assert!(
            e.to_string()
                .contains("unterminated quoted string (at character 7)"),
            "{e}"
        );
    }

    #[test]
    fn length_limit() {
        assert!(FilterPattern::parse(&"a".repeat(MAX_PATTERN_CHARS)).is_ok());
        assert_eq!(
            refused(&"a".repeat(MAX_PATTERN_CHARS + 1)),
            FilterError::TooLong { chars: 1025 }
        );
        // Characters, not bytes.
        assert!(FilterPattern::parse(&"é".repeat(MAX_PATTERN_CHARS)).is_ok());
        assert_eq!(
            refused(&"é".repeat(MAX_PATTERN_CHARS + 1)).to_string(),
            "Invalid filter pattern: it is 1025 characters long, more than the 1024 allowed"
        );
    }

    #[test]
    fn nesting_limit() {
        let nested = |n: usize| format!("{{ {}$.a = 1{} }}", "(".repeat(n), ")".repeat(n));
        let f = pat(&nested(MAX_NESTING));
        assert!(f.matches(r#"{"a":1}"#));
        assert!(!f.matches(r#"{"a":2}"#));
        assert_eq!(refused(&nested(MAX_NESTING + 1)), FilterError::TooDeep);
        assert_eq!(
            refused(&format!("{{ {}", "(".repeat(1000))),
            FilterError::TooDeep
        );
        assert_eq!(
            refused(&format!("[{}a = 1{}]", "(".repeat(40), ")".repeat(40))),
            FilterError::TooDeep
        );
        // Sequential groups are not nesting.
        let many = vec!["($.a = 1)"; 60].join(" || ");
        assert!(pat(&format!("{{ {many} }}")).matches(r#"{"a":1}"#));
    }

    #[test]
    fn wildcards_take_linear_time() {
        let message = format!(r#"{{"m":"{}b"}}"#, "a".repeat(200_000));
        let f = pat("{ $.m = *aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac* }");
        let started = std::time::Instant::now();
        assert!(!f.matches(&message));
        assert!(pat("{ $.m = *ab }").matches(&message));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    // -- no panics on anything ------------------------------------------------

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        /// Random bytes, made into a string the way a request body would be.
        fn bytes(&mut self, max: usize) -> String {
            let len = self.below(max + 1);
            let bytes: Vec<u8> = (0..len).map(|_| self.next() as u8).collect();
            String::from_utf8_lossy(&bytes).into_owned()
        }

        /// Random text from the pattern language's own alphabet, so that the
        /// parser gets past its first character more often.
        fn syntax(&mut self, max: usize) -> String {
            const PIECES: &[&str] = &[
                "{", "}", "[", "]", "(", ")", "\"", "\\", "$", ".", "$.a", "$.b[0]", "[1]", "=",
                "!=", "<", "<=", ">", ">=", "&&", "||", "&", "|", "*", "%", "?", "-", ",", "...",
                " ", " ", "a", "b", "403", "-1.5e3", "IS", "NULL", "TRUE", "FALSE", "NOT",
                "EXISTS", "é", "\u{0}", "\n", "^", "+", "x*", "*y",
            ];
            let n = self.below(max + 1);
            (0..n).map(|_| PIECES[self.below(PIECES.len())]).collect()
        }
    }

    #[test]
    fn random_patterns_and_messages_never_panic() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let fixed_messages = [
            String::new(),
            r#"{"a":1,"b":[403,"x"],"status":"403"}"#.to_owned(),
            APACHE[0].to_owned(),
            r#"{"a":{"b":null},"c":true}"#.to_owned(),
            "[unclosed \"quote".to_owned(),
        ];
        let mut parsed = 0;
        for round in 0..20_000 {
            let pattern = match round % 4 {
                0 => rng.bytes(64),
                1 => format!("{{{}", rng.syntax(24)),
                2 => format!("[{}", rng.syntax(24)),
                _ => rng.syntax(24),
            };
            let Ok(filter) = FilterPattern::parse(&pattern) else {
                continue;
            };
            parsed += 1;
            for message in &fixed_messages {
                filter.matches(message);
            }
            for _ in 0..3 {
                let message = if rng.below(2) == 0 {
                    rng.bytes(96)
                } else {
                    rng.syntax(32)
                };
                filter.matches(&message);
            }
        }
        assert!(parsed > 1_000, "only {parsed} random patterns parsed");
    }
}
