//! Tollgate's Lambda host: functions run locally, each as warm worker
//! processes of its runtime that poll the Lambda Runtime API
//! (`/2018-06-01/runtime/invocation/next`, `/response`, `/error`,
//! `/init/error`), served by Tollgate on a loopback port per worker.
//!
//! - [`code`]: the uploaded zip, checked and unpacked;
//! - [`spec`]: a function as the host runs it, and the interpreter of its runtime;
//! - [`worker`]: one runtime process and its Runtime API;
//! - [`host`]: the functions, warm workers, concurrency, invocation;
//! - [`external`]: functions hosted elsewhere, behind an invoke URL;
//! - [`logs`]: function log lines, with AWS's START/END/REPORT lines.
//!
//! The runtimes' bootstraps (Python, Node.js) are this project's own, in
//! `src/bootstrap/`; `provided` runtimes bring their own `bootstrap`.

pub mod code;
mod external;
pub mod host;
pub mod logs;
pub mod spec;
mod worker;

pub use host::{
    HostConfig, Invocation, InvocationObserver, InvocationOutcome, InvocationRecord, InvokeError,
    InvokeRequest, InvokeResult, LambdaHost,
};
pub use logs::LogForward;
pub use spec::{FunctionSpec, Interpreters, Launcher};
