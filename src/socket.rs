//! The control socket as both sides see it: its address (`@NAME` abstract,
//! anything else a path), connecting and listening, and who may hold it or
//! talk to it (root or the same user: abstract names have no permissions).

use crate::sys::{self, Pid};
use crate::text::concat;
use crate::text::Part::{Int, Str, Uint};
use std::os::unix::net::{UnixListener, UnixStream};

pub fn connect(socket: &str) -> Result<UnixStream, sys::Errno> {
    connect_raw(socket).map_err(sys::Errno)
}

/// Connects to `socket`; `Err(errno)` (ECONNREFUSED or ENOENT: nobody listens).
pub fn connect_raw(socket: &str) -> Result<UnixStream, i32> {
    sys::connect_unix(socket)
}

/// Binds `socket`, non-blocking; a path's stale file from a dead daemon
/// (a live one was ruled out) is removed first.
pub fn listen(socket: &str) -> Result<UnixListener, sys::Errno> {
    if !socket.starts_with('@') {
        let _ = sys::remove_file(socket.as_bytes());
    }
    sys::listen_unix(socket)
}

/// True for a peer uid this process trusts: root, or its own user.
pub fn trusted(uid: u32) -> bool {
    uid == 0 || uid == sys::geteuid()
}

/// The peer of `stream` as (pid, uid) when it is someone this process must
/// not trust, else `None`.
pub fn untrusted_peer(stream: &UnixStream) -> Result<Option<(Pid, u32)>, sys::Errno> {
    let (pid, uid) = sys::peer_cred(stream)?;
    Ok((!trusted(uid)).then_some((pid, uid)))
}

/// `@NAME is held by uid N (pid P)`.
pub fn held_by(socket: &str, pid: Pid, uid: u32) -> String {
    concat("{} is held by uid {} (pid {})", &[Str(socket), Uint(uid.into()), Int(pid.into())])
}
