//! The one long-lived thread that forks PostgreSQL processes.
//!
//! `PR_SET_PDEATHSIG` fires when the *thread* that forked a child exits, not the process. Tests
//! run on short-lived runtime threads, and the shared cluster lives in a `static` that is never
//! dropped, so children are forked from this dedicated thread instead: it lives as long as the
//! process, and when the process exits (normally, by panic or by SIGKILL) the kernel sends every
//! child the death signal.
//!
//! Flow: callers send a [`std::process::Command`] over a channel and await the spawned
//! [`Child`] on a oneshot. The thread's loop ends only when every sender is gone, which for the
//! `static` sender means never; it blocks in `recv` when idle.

use std::io;
use std::process::{Child, Command};
use std::sync::OnceLock;
use std::sync::mpsc;

use nix::sys::signal::Signal;
use tokio::sync::oneshot;

struct Job {
    command: Command,
    reply: oneshot::Sender<io::Result<Child>>,
}

/// Sender side of the spawner thread's queue; the thread owns the receiver.
static SPAWNER: OnceLock<Result<mpsc::Sender<Job>, String>> = OnceLock::new();

fn spawner() -> io::Result<&'static mpsc::Sender<Job>> {
    SPAWNER
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel::<Job>();
            std::thread::Builder::new()
                .name("sim-pg-spawner".into())
                .spawn(move || {
                    for job in rx {
                        let Job { mut command, reply } = job;
                        let spawned = command.spawn();
                        // If the caller went away (cancelled), don't leave its child running.
                        if let Err(Ok(mut orphan)) = reply.send(spawned) {
                            let _ = orphan.kill();
                            let _ = orphan.wait();
                        }
                    }
                })
                .map(|_| tx)
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| io::Error::other(format!("could not start the spawner thread: {e}")))
}

/// Spawns `command` from the spawner thread, after arranging that the child receives `signal`
/// when that thread (hence this process) dies.
pub(crate) async fn spawn_tied_to_process(
    mut command: Command,
    signal: Signal,
) -> io::Result<Child> {
    die_with_parent(&mut command, signal);
    let (reply, receive) = oneshot::channel();
    spawner()?
        .send(Job { command, reply })
        .map_err(|_| io::Error::other("the spawner thread has stopped"))?;
    receive
        .await
        .map_err(|_| io::Error::other("the spawner thread dropped the request"))?
}

/// Makes the child ask the kernel for `signal` when its parent thread dies.
///
/// std applies `uid`/`gid` before running `pre_exec` closures, which matters: a credential change
/// clears the parent-death signal, so it has to be set after the switch to the `postgres` user.
#[allow(unsafe_code)]
fn die_with_parent(command: &mut Command, signal: Signal) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
    // operations are allowed. It makes a single `prctl(PR_SET_PDEATHSIG)` system call through
    // nix (no allocation, no locks) and converts its errno into an io::Error (a plain integer
    // conversion, also allocation-free).
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(signal).map_err(io::Error::from)?;
            Ok(())
        });
    }
}
