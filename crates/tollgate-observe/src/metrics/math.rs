//! The metric-math expressions of GetMetricData that dashboards and alarms
//! use most: arithmetic (`+ - * /`, parentheses, numbers) over the ids of
//! other queries, and the functions `SUM`, `AVG`, `MIN`, `MAX` (of an array
//! of series: one series; of one series: a scalar), `METRICS()` and
//! `METRICS("text")` (the queries' series, or those whose id or label holds
//! the text), `RATE` (per-second change between datapoints), `DIFF`, `ABS`
//! and `FILL(series, value)`. Anything else is refused with a clear error.

use std::collections::BTreeMap;

/// A series: timestamp (epoch ms) → value.
pub type Series = BTreeMap<i64, f64>;

/// What an expression evaluates to.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar(f64),
    Series(Series),
    Array(Vec<Series>),
}

/// The series an expression can name: by query id, with its label.
pub struct Inputs<'a> {
    pub series: &'a [(String, String, Series)],
    /// The ids of the queries that are metrics (not expressions): what
    /// `METRICS()` returns.
    pub metrics: &'a [String],
}

/// Most nested parentheses and calls.
const MAX_DEPTH: usize = 32;
/// Longest expression AWS accepts.
const MAX_LEN: usize = 2048;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number(f64),
    Ident(String),
    Text(String),
    Op(char),
    Open,
    Close,
    Comma,
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        match c {
            ' ' | '\t' | '\n' => i += 1,
            '(' => {
                out.push(Token::Open);
                i += 1
            }
            ')' => {
                out.push(Token::Close);
                i += 1
            }
            ',' => {
                out.push(Token::Comma);
                i += 1
            }
            '+' | '-' | '*' | '/' => {
                out.push(Token::Op(c));
                i += 1
            }
            '"' => {
                let start = i + 1;
                let end = chars[start..]
                    .iter()
                    .position(|&c| c == '"')
                    .map(|p| start + p)
                    .ok_or("an unterminated string")?;
                out.push(Token::Text(chars[start..end].iter().collect()));
                i = end + 1;
            }
            c if c.is_ascii_digit() || c == '.' => {
                let start = i;
                while chars
                    .get(i)
                    .is_some_and(|c| c.is_ascii_digit() || *c == '.' || *c == 'e' || *c == 'E')
                {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                out.push(Token::Number(
                    text.parse().map_err(|_| format!("a bad number {text}"))?,
                ));
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while chars
                    .get(i)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
                {
                    i += 1;
                }
                out.push(Token::Ident(chars[start..i].iter().collect()));
            }
            other => return Err(format!("an unexpected character '{other}'")),
        }
    }
    Ok(out)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    at: usize,
    inputs: &'a Inputs<'a>,
    depth: usize,
}

/// Evaluates `expression` over `inputs`.
pub fn evaluate(expression: &str, inputs: &Inputs<'_>) -> Result<Value, String> {
    if expression.len() > MAX_LEN {
        return Err(format!(
            "the expression is longer than {MAX_LEN} characters"
        ));
    }
    let mut parser = Parser {
        tokens: tokens(expression)?,
        at: 0,
        inputs,
        depth: 0,
    };
    let value = parser.sum()?;
    if parser.at != parser.tokens.len() {
        return Err("unexpected text after the expression".into());
    }
    Ok(value)
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn deeper(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("the expression is nested too deeply".into());
        }
        Ok(())
    }

    fn sum(&mut self) -> Result<Value, String> {
        let mut left = self.product()?;
        while let Some(Token::Op(op @ ('+' | '-'))) = self.peek().cloned() {
            self.at += 1;
            let right = self.product()?;
            left = combine(left, right, op)?;
        }
        Ok(left)
    }

    fn product(&mut self) -> Result<Value, String> {
        let mut left = self.unary()?;
        while let Some(Token::Op(op @ ('*' | '/'))) = self.peek().cloned() {
            self.at += 1;
            let right = self.unary()?;
            left = combine(left, right, op)?;
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Value, String> {
        if self.peek() == Some(&Token::Op('-')) {
            self.at += 1;
            self.deeper()?;
            let v = self.unary()?;
            self.depth -= 1;
            return combine(Value::Scalar(0.0), v, '-');
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Value, String> {
        match self.next() {
            Some(Token::Number(n)) => Ok(Value::Scalar(n)),
            Some(Token::Open) => {
                self.deeper()?;
                let v = self.sum()?;
                self.depth -= 1;
                match self.next() {
                    Some(Token::Close) => Ok(v),
                    _ => Err("a missing )".into()),
                }
            }
            Some(Token::Ident(name)) => {
                if self.peek() == Some(&Token::Open) {
                    self.at += 1;
                    self.deeper()?;
                    let args = self.arguments()?;
                    self.depth -= 1;
                    call(&name, args, self.inputs)
                } else {
                    self.inputs
                        .series
                        .iter()
                        .find(|(id, _, _)| *id == name)
                        .map(|(_, _, s)| Value::Series(s.clone()))
                        .ok_or_else(|| format!("{name} names no query"))
                }
            }
            Some(Token::Text(_)) => Err("a string outside a function call".into()),
            _ => Err("an incomplete expression".into()),
        }
    }

    fn arguments(&mut self) -> Result<Vec<Arg>, String> {
        let mut args = Vec::new();
        if self.peek() == Some(&Token::Close) {
            self.at += 1;
            return Ok(args);
        }
        loop {
            if let Some(Token::Text(t)) = self.peek().cloned() {
                self.at += 1;
                args.push(Arg::Text(t));
            } else {
                args.push(Arg::Value(self.sum()?));
            }
            match self.next() {
                Some(Token::Comma) => continue,
                Some(Token::Close) => return Ok(args),
                _ => return Err("a missing ) after the arguments".into()),
            }
        }
    }
}

enum Arg {
    Value(Value),
    Text(String),
}

fn one_value(name: &str, mut args: Vec<Arg>) -> Result<Value, String> {
    match (args.pop(), args.is_empty()) {
        (Some(Arg::Value(v)), true) => Ok(v),
        _ => Err(format!("{name} takes one argument")),
    }
}

fn call(name: &str, args: Vec<Arg>, inputs: &Inputs<'_>) -> Result<Value, String> {
    match name {
        "METRICS" => {
            let filter = match args.as_slice() {
                [] => None,
                [Arg::Text(t)] => Some(t.clone()),
                _ => return Err("METRICS takes nothing or a string".into()),
            };
            Ok(Value::Array(
                inputs
                    .series
                    .iter()
                    .filter(|(id, _, _)| inputs.metrics.contains(id))
                    .filter(|(id, label, _)| {
                        filter
                            .as_ref()
                            .is_none_or(|f| id.contains(f.as_str()) || label.contains(f.as_str()))
                    })
                    .map(|(_, _, s)| s.clone())
                    .collect(),
            ))
        }
        "SUM" | "AVG" | "MIN" | "MAX" => {
            let fold = |values: &[f64]| -> f64 {
                match name {
                    "SUM" => values.iter().sum(),
                    "AVG" => values.iter().sum::<f64>() / values.len().max(1) as f64,
                    "MIN" => values.iter().cloned().fold(f64::INFINITY, f64::min),
                    _ => values.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
                }
            };
            match one_value(name, args)? {
                Value::Array(all) => {
                    let mut by_time: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
                    for s in &all {
                        for (t, v) in s {
                            by_time.entry(*t).or_default().push(*v);
                        }
                    }
                    Ok(Value::Series(
                        by_time.into_iter().map(|(t, v)| (t, fold(&v))).collect(),
                    ))
                }
                Value::Series(s) => {
                    let values: Vec<f64> = s.values().cloned().collect();
                    if values.is_empty() {
                        return Ok(Value::Series(Series::new()));
                    }
                    Ok(Value::Scalar(fold(&values)))
                }
                Value::Scalar(v) => Ok(Value::Scalar(v)),
            }
        }
        "RATE" | "DIFF" => map_series(one_value(name, args)?, |s| {
            let mut out = Series::new();
            let mut previous: Option<(i64, f64)> = None;
            for (t, v) in s {
                if let Some((pt, pv)) = previous {
                    let change = v - pv;
                    let seconds = (t - pt) as f64 / 1000.0;
                    out.insert(
                        *t,
                        if name == "RATE" {
                            change / seconds
                        } else {
                            change
                        },
                    );
                }
                previous = Some((*t, *v));
            }
            out
        }),
        "ABS" => map_series(one_value(name, args)?, |s| {
            s.iter().map(|(t, v)| (*t, v.abs())).collect()
        }),
        "FILL" => {
            let mut args = args.into_iter();
            let (Some(Arg::Value(series)), Some(Arg::Value(Value::Scalar(fill))), None) =
                (args.next(), args.next(), args.next())
            else {
                return Err("FILL takes a series and a number".into());
            };
            // Missing datapoints are filled at the timestamps of the others
            // queries produced.
            let mut times: Vec<i64> = inputs
                .series
                .iter()
                .flat_map(|(_, _, s)| s.keys().cloned())
                .collect();
            times.sort_unstable();
            times.dedup();
            map_series(series, |s| {
                times
                    .iter()
                    .map(|t| (*t, s.get(t).cloned().unwrap_or(fill)))
                    .collect()
            })
        }
        other => Err(format!("Tollgate does not evaluate the function {other}")),
    }
}

fn map_series(value: Value, f: impl Fn(&Series) -> Series) -> Result<Value, String> {
    match value {
        Value::Series(s) => Ok(Value::Series(f(&s))),
        Value::Array(all) => Ok(Value::Array(all.iter().map(f).collect())),
        Value::Scalar(_) => Err("a function of a series was given a number".into()),
    }
}

fn apply(a: f64, b: f64, op: char) -> f64 {
    match op {
        '+' => a + b,
        '-' => a - b,
        '*' => a * b,
        _ => a / b,
    }
}

fn combine(left: Value, right: Value, op: char) -> Result<Value, String> {
    let pointwise = |a: &Series, b: &Series| -> Series {
        a.iter()
            .filter_map(|(t, x)| b.get(t).map(|y| (*t, apply(*x, *y, op))))
            .collect()
    };
    Ok(match (left, right) {
        (Value::Scalar(a), Value::Scalar(b)) => Value::Scalar(apply(a, b, op)),
        (Value::Series(s), Value::Scalar(b)) => {
            Value::Series(s.iter().map(|(t, a)| (*t, apply(*a, b, op))).collect())
        }
        (Value::Scalar(a), Value::Series(s)) => {
            Value::Series(s.iter().map(|(t, b)| (*t, apply(a, *b, op))).collect())
        }
        (Value::Series(a), Value::Series(b)) => Value::Series(pointwise(&a, &b)),
        (Value::Array(all), Value::Scalar(b)) => Value::Array(
            all.iter()
                .map(|s| s.iter().map(|(t, a)| (*t, apply(*a, b, op))).collect())
                .collect(),
        ),
        (Value::Array(all), Value::Series(b)) => {
            Value::Array(all.iter().map(|a| pointwise(a, &b)).collect())
        }
        _ => return Err("arrays of series cannot be combined that way".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(points: &[(i64, f64)]) -> Series {
        points.iter().cloned().collect()
    }

    #[test]
    fn evaluates_the_common_expressions() {
        let inputs = vec![
            (
                "errors".to_string(),
                "4XX".to_string(),
                series(&[(0, 2.0), (60, 4.0)]),
            ),
            (
                "count".to_string(),
                "Count".to_string(),
                series(&[(0, 10.0), (60, 8.0)]),
            ),
        ];
        let metrics = vec!["errors".to_string(), "count".to_string()];
        let inputs = Inputs {
            series: &inputs,
            metrics: &metrics,
        };
        assert_eq!(
            evaluate("errors / count * 100", &inputs),
            Ok(Value::Series(series(&[(0, 20.0), (60, 50.0)])))
        );
        assert_eq!(
            evaluate("SUM(METRICS())", &inputs),
            Ok(Value::Series(series(&[(0, 12.0), (60, 12.0)])))
        );
        assert_eq!(evaluate("AVG(count)", &inputs), Ok(Value::Scalar(9.0)));
        assert_eq!(
            evaluate("RATE(count)", &inputs),
            Ok(Value::Series(series(&[(60, -2.0 / 0.06)])))
        );
        assert_eq!(
            evaluate("SUM(METRICS(\"err\"))", &inputs),
            Ok(Value::Series(series(&[(0, 2.0), (60, 4.0)])))
        );
        assert_eq!(
            evaluate("-(errors - 10)", &inputs),
            Ok(Value::Series(series(&[(0, 8.0), (60, 6.0)])))
        );
        for bad in [
            "nope",
            "errors +",
            "LOG(errors)",
            "(((",
            "\"x\"",
            "errors $",
        ] {
            assert!(evaluate(bad, &inputs).is_err(), "{bad}");
        }
        assert!(evaluate(&"(".repeat(100), &inputs).is_err());
    }
}
