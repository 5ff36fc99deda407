//! One Python worker process and the frames exchanged with it (the protocol is written at the
//! top of `worker.py`). Every wait for a reply has a deadline, so a hung env cannot hang the
//! host; a worker that died, hung or broke the protocol is killed and named in the error,
//! with the last lines it wrote to stderr.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The worker's source, run with `python -c` so nothing has to be installed next to the host.
const SOURCE: &str = include_str!("worker.py");

/// How long a wait for a reply spins before it sleeps in the kernel.
const SPIN: Duration = Duration::from_micros(200);

/// The largest reply taken from a worker (a rendered frame or a pickled env state is far
/// smaller); a longer one is a broken worker, not a reason to allocate gigabytes.
const MAX_REPLY: usize = 256 << 20;

/// How many of the worker's last stderr lines an error quotes.
const STDERR_LINES: usize = 12;

/// The worker's answer to one request.
pub(super) enum Reply {
    Ok(Vec<u8>),
    /// The env raised (the payload is its traceback) or the request was bad.
    Error(String),
    /// The request cannot be done for this env (e.g. its state cannot be pickled); why.
    NotPossible(String),
}

pub(super) struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    stderr: Arc<Mutex<VecDeque<String>>>,
    timeout: Duration,
    /// Set once the worker has failed: every later request returns it.
    dead: Option<String>,
}

impl Worker {
    /// Start `python -c worker.py`. Its own process group keeps a terminal's Ctrl-C away from
    /// it (the host checkpoints on SIGINT and needs the worker for that); it exits when its
    /// stdin closes, so a killed host leaves no worker behind.
    pub(super) fn spawn(python: &str, timeout: Duration) -> Result<Self, std::io::Error> {
        let mut child = Command::new(python)
            .args(["-u", "-c", SOURCE])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        let tail = Arc::clone(&stderr);
        let err = child.stderr.take().expect("piped stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
                if t.len() == STDERR_LINES {
                    t.pop_front();
                }
                t.push_back(line);
            }
        });
        Ok(Self {
            child,
            stdin,
            stdout,
            stderr,
            timeout,
            dead: None,
        })
    }

    /// Send `op` with `payload` and wait for the reply. `Err` means the worker itself failed
    /// (exited, hung past the timeout, or sent garbage); it has been killed then.
    pub(super) fn request(&mut self, op: u8, payload: &[u8]) -> Result<Reply, String> {
        if let Some(why) = &self.dead {
            return Err(why.clone());
        }
        let what = op as char;
        let mut frame = Vec::with_capacity(5 + payload.len());
        frame.push(op);
        frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        frame.extend_from_slice(payload);
        let deadline = Instant::now() + self.timeout;
        let answer = self
            .stdin
            .write_all(&frame)
            .and_then(|_| self.stdin.flush())
            .map_err(|e| format!("cannot write to it ({e})"))
            .and_then(|_| {
                let mut header = [0u8; 5];
                self.read_exact(&mut header, deadline)?;
                if header[0] > 2 {
                    return Err(format!("it broke the protocol (status byte {})", header[0]));
                }
                let len = u32::from_le_bytes(header[1..5].try_into().unwrap()) as usize;
                if len > MAX_REPLY {
                    return Err(format!(
                        "it broke the protocol (a reply of {len} bytes; at most {} MiB are taken)",
                        MAX_REPLY >> 20
                    ));
                }
                // Grown as bytes arrive: a length the worker does not follow with data
                // costs no memory.
                let mut body = Vec::new();
                while body.len() < len {
                    let start = body.len();
                    body.resize(len.min(start + (1 << 20)), 0);
                    self.read_exact(&mut body[start..], deadline)?;
                }
                Ok((header[0], body))
            });
        match answer {
            Ok((0, body)) => Ok(Reply::Ok(body)),
            Ok((1, body)) => Ok(Reply::Error(String::from_utf8_lossy(&body).into_owned())),
            // 2, the one status left (checked above).
            Ok((_, body)) => Ok(Reply::NotPossible(
                String::from_utf8_lossy(&body).into_owned(),
            )),
            Err(why) => Err(self.fail(format!("{why} (request `{what}`)"))),
        }
    }

    /// Read exactly `buf.len()` bytes before `deadline`.
    fn read_exact(&mut self, buf: &mut [u8], deadline: Instant) -> Result<(), String> {
        let mut filled = 0;
        while filled < buf.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            let mut fd = libc::pollfd {
                fd: self.stdout.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = left.as_millis().min(i32::MAX as u128) as i32;
            // Replies usually come within tens of microseconds: spin briefly before sleeping
            // in the kernel, whose wake-up would cost as much again.
            let spin_until = Instant::now() + SPIN;
            let mut ready;
            loop {
                // SAFETY: one valid pollfd, alive for the call.
                ready = unsafe { libc::poll(&mut fd, 1, 0) };
                if ready != 0 || Instant::now() >= spin_until {
                    break;
                }
                std::hint::spin_loop();
            }
            if ready == 0 {
                // SAFETY: as above.
                ready = unsafe { libc::poll(&mut fd, 1, ms) };
            }
            if ready < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(format!("cannot wait for it ({e})"));
            }
            if ready == 0 {
                return Err(format!(
                    "it did not answer within {} s (ACGAP_GYM_TIMEOUT), so it was killed",
                    self.timeout.as_secs_f64()
                ));
            }
            match self.stdout.read(&mut buf[filled..]) {
                Ok(0) => return Err("its process ended".into()),
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("cannot read from it ({e})")),
            }
        }
        Ok(())
    }

    /// Kill the worker and describe its end: how it exited and what it last wrote to stderr.
    fn fail(&mut self, why: String) -> String {
        let _ = self.child.kill();
        let status = self
            .child
            .wait()
            .map(|s| format!("; {s}"))
            .unwrap_or_default();
        // The stderr reader sees the pipe close just after the exit; give it a moment.
        std::thread::sleep(Duration::from_millis(50));
        let tail: Vec<String> = self
            .stderr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect();
        let tail = if tail.is_empty() {
            String::new()
        } else {
            format!("; its stderr ended with:\n{}", tail.join("\n"))
        };
        let message = format!("the Python worker failed: {why}{status}{tail}");
        self.dead = Some(message.clone());
        message
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A "Python" that answers every request with `reply` and then waits.
    fn liar(name: &str, reply: &str) -> (std::path::PathBuf, Worker) {
        let dir = std::env::temp_dir().join(format!("acgap-liar-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("python");
        std::fs::write(&script, format!("#!/bin/sh\nprintf '{reply}'\nsleep 30\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let worker = Worker::spawn(script.to_str().unwrap(), Duration::from_secs(1)).unwrap();
        (dir, worker)
    }

    #[test]
    fn an_oversized_or_garbled_reply_is_a_protocol_error_not_an_allocation() {
        // Status 0 and a length of 4 GiB - 1, then nothing.
        let (dir, mut w) = liar("long", "\\000\\377\\377\\377\\377");
        let err = w.request(b'x', &[]).err().expect("refused");
        assert!(err.contains("a reply of 4294967295 bytes"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
        let (dir, mut w) = liar("status", "\\377\\377\\377\\377\\377");
        let err = w.request(b'x', &[]).err().expect("refused");
        assert!(err.contains("status byte 255"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
        // A length within bounds that the worker does not follow with data times out
        // (1 s here) without allocating it.
        let (dir, mut w) = liar("short", "\\000\\000\\000\\000\\010");
        let err = w.request(b'x', &[]).err().expect("refused");
        assert!(!err.contains("protocol"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
