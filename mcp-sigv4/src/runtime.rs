//! A command's tokio runtime: started, run to the end of the command's
//! future, and the failure to start it said the same way by every command.
//!
//! ```
//! let answer = mcp_sigv4::runtime::Runtime::multi_thread("doc")
//!     .block_on(async { 42 })
//!     .expect("the runtime starts");
//! assert_eq!(answer, 42);
//! ```

use std::future::Future;
use std::process::ExitCode;

/// How a command's runtime is built.
#[derive(Debug)]
#[must_use]
pub struct Runtime {
    command: &'static str,
    current_thread: bool,
    worker_threads: Option<usize>,
    abandon_blocking: bool,
}

impl Runtime {
    /// A multi-thread runtime (one worker per core) for `mcp-sigv4 {command}`.
    pub fn multi_thread(command: &'static str) -> Self {
        Self {
            command,
            current_thread: false,
            worker_threads: None,
            abandon_blocking: false,
        }
    }

    /// A runtime on the calling thread alone, for `mcp-sigv4 {command}`.
    pub fn current_thread(command: &'static str) -> Self {
        Self {
            current_thread: true,
            ..Self::multi_thread(command)
        }
    }

    /// At most `workers` worker threads (a multi-thread runtime).
    pub fn worker_threads(mut self, workers: usize) -> Self {
        self.worker_threads = Some(workers);
        self
    }

    /// Once the future is done, leave blocking tasks (a thread blocked reading
    /// stdin, which nothing can interrupt) behind rather than wait for them.
    pub fn abandon_blocking_tasks(mut self) -> Self {
        self.abandon_blocking = true;
        self
    }

    /// Start the runtime and run `future` to its end; when the runtime cannot
    /// start, say so on stderr and give the exit code to return.
    pub fn block_on<F: Future>(self, future: F) -> Result<F::Output, ExitCode> {
        let mut builder = if self.current_thread {
            tokio::runtime::Builder::new_current_thread()
        } else {
            tokio::runtime::Builder::new_multi_thread()
        };
        if let Some(workers) = self.worker_threads {
            builder.worker_threads(workers.max(1));
        }
        let runtime = builder.enable_all().build().map_err(|e| {
            eprintln!(
                "mcp-sigv4 {}: cannot start the async runtime: {e}",
                self.command
            );
            ExitCode::FAILURE
        })?;
        let output = runtime.block_on(future);
        if self.abandon_blocking {
            runtime.shutdown_background();
        }
        Ok(output)
    }
}
