//! A safe wrapper over Berkeley DB hash and btree files (`libdb-sys`,
//! Berkeley DB 5.3), the storage of the hash maps of README §3.9 (aliases,
//! mailertable, access, qmgr_conf).
//!
//! This is the only module of the crate that uses `unsafe`. The wrapper
//! keeps Berkeley DB's rules in one place:
//!
//! - Handles are opened with `DB_THREAD`, so one [`Db`] may be shared by
//!   threads (it is `Send + Sync`). Berkeley DB then requires every returned
//!   key and data item to be allocated for the caller: this module asks for
//!   `DB_DBT_MALLOC`, copies the bytes into a `Vec` and frees them at once.
//! - Without a Berkeley DB environment there is no locking subsystem, so
//!   Berkeley DB allows many readers but only one writer and no reader while
//!   it writes. A reader-writer lock in [`Db`] enforces that: lookups and
//!   cursor steps share it, `put`, `delete` and `sync` take it alone. The
//!   lock is held for one operation, never across a whole iteration, so a
//!   thread may delete keys while it iterates.
//! - A file that is not a Berkeley DB file, or of the other access method,
//!   is refused by `DB->open` with an error, which is reported as
//!   [`MapError::Db`] (with Berkeley DB's own explanation when it gave one);
//!   nothing here panics on a foreign file.

#![allow(unsafe_code)]

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use libdb_sys::ffi;
use nix::libc;

use crate::MapError;

/// The Berkeley DB access method of a map file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbType {
    /// `DB_HASH`: sendmail's and Postfix's `hash:` maps.
    Hash,
    /// `DB_BTREE`: `btree:` maps, iterated in key order.
    Btree,
}

impl DbType {
    fn to_ffi(self) -> ffi::DBTYPE {
        match self {
            DbType::Hash => ffi::DBTYPE_DB_HASH,
            DbType::Btree => ffi::DBTYPE_DB_BTREE,
        }
    }
}

/// How [`Db::open`] opens a file.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// The access method; opening a file of the other method fails.
    pub db_type: DbType,
    /// Create the file when it does not exist (`DB_CREATE`).
    pub create: bool,
    /// Empty the file when it exists (`DB_TRUNCATE`).
    pub truncate: bool,
    /// Open for lookups only (`DB_RDONLY`); writes then fail.
    pub read_only: bool,
    /// Open without `DB_THREAD`: Berkeley DB takes no mutexes, which makes
    /// a bulk build about a third faster. Every operation, reads included,
    /// then holds the handle's lock exclusively.
    pub single_thread: bool,
    /// Size of the Berkeley DB cache in bytes (`DB->set_cachesize`);
    /// `None` keeps Berkeley DB's default.
    pub cache_size: Option<u64>,
    /// Expected number of entries of a hash file (`DB->set_h_nelem`), a
    /// sizing hint that spares page splits while a map is built. Ignored for
    /// btree files and for existing files.
    pub expected_entries: Option<u32>,
    /// File mode of a created file, before the umask (e.g. `0o644`).
    pub mode: u32,
}

impl OpenOptions {
    /// Open an existing file for lookups.
    pub fn read(db_type: DbType) -> Self {
        OpenOptions {
            db_type,
            create: false,
            truncate: false,
            read_only: true,
            single_thread: false,
            cache_size: None,
            expected_entries: None,
            mode: 0o644,
        }
    }

    /// Create a file, or empty an existing one, for writing (mode `0o644`).
    pub fn create(db_type: DbType) -> Self {
        OpenOptions {
            db_type,
            create: true,
            truncate: true,
            read_only: false,
            single_thread: false,
            cache_size: None,
            expected_entries: None,
            mode: 0o644,
        }
    }
}

/// An open Berkeley DB hash or btree file.
///
/// Closed by [`Db::close`], which reports errors, or on drop, which ignores
/// them.
pub struct Db {
    /// Never null while the `Db` exists; only `close`/`drop` null it.
    handle: *mut ffi::DB,
    path: PathBuf,
    /// Serialises writers against readers, see the module documentation.
    lock: RwLock<()>,
    /// Opened without DB_THREAD: readers exclude each other too.
    exclusive: bool,
}

/// The guard of one operation: shared for reads on a free-threaded handle,
/// exclusive otherwise. It is held, never read.
#[allow(dead_code)]
enum Guard<'a> {
    Shared(RwLockReadGuard<'a, ()>),
    Exclusive(RwLockWriteGuard<'a, ()>),
}

// SAFETY: the handle is opened with DB_THREAD, which makes a Berkeley DB
// handle free-threaded (usable from any thread, concurrently), or, with
// `single_thread`, without it, and then every operation holds `lock`
// exclusively, so the handle is never used by two threads at once. The one thing
// Berkeley DB leaves to the application without an environment, excluding
// writers from readers, is done by `lock`. Returned data is always
// DB_DBT_MALLOC, never memory owned by the handle.
unsafe impl Send for Db {}
// SAFETY: as for Send; every method takes `lock` before it touches the
// handle, shared for reads and exclusive for writes.
unsafe impl Sync for Db {}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("path", &self.path).finish()
    }
}

thread_local! {
    /// The last message Berkeley DB passed to the error callback in this
    /// thread. Berkeley DB calls the callback in the thread of the failing
    /// call, so the message belongs to the call that just failed.
    static LAST_DB_MESSAGE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The error callback set on every handle: keeps the message for the error
/// value instead of letting Berkeley DB print it on stderr.
unsafe extern "C" fn record_db_message(
    _env: *const ffi::DB_ENV,
    _prefix: *const c_char,
    message: *const c_char,
) {
    if message.is_null() {
        return;
    }
    // SAFETY: Berkeley DB passes a NUL-terminated string that lives for the
    // duration of the callback; it is copied before returning.
    let text = unsafe { CStr::from_ptr(message) }
        .to_string_lossy()
        .into_owned();
    // Must not unwind into C: try_with/try_borrow_mut instead of panicking
    // accessors; a message that cannot be stored is dropped.
    let _ = LAST_DB_MESSAGE.try_with(|cell| {
        if let Ok(mut slot) = cell.try_borrow_mut() {
            *slot = Some(text);
        }
    });
}

fn clear_db_message() {
    let _ = LAST_DB_MESSAGE.try_with(|cell| {
        if let Ok(mut slot) = cell.try_borrow_mut() {
            *slot = None;
        }
    });
}

fn take_db_message() -> Option<String> {
    LAST_DB_MESSAGE
        .try_with(|cell| cell.try_borrow_mut().ok().and_then(|mut s| s.take()))
        .ok()
        .flatten()
}

/// The text of a Berkeley DB or errno code.
fn strerror(code: c_int) -> String {
    // SAFETY: db_strerror accepts any int and returns a pointer to a static
    // (or thread-safe static-buffer) NUL-terminated string, never null for
    // known codes; null is checked anyway.
    let text = unsafe { ffi::db_strerror(code) };
    if text.is_null() {
        return format!("error {code}");
    }
    // SAFETY: non-null, NUL-terminated, valid until the next call in this
    // thread; copied at once.
    unsafe { CStr::from_ptr(text) }
        .to_string_lossy()
        .into_owned()
}

fn db_error(path: &Path, operation: &str, code: c_int) -> MapError {
    let mut message = format!("{operation}: {}", strerror(code));
    if let Some(detail) = take_db_message() {
        message.push_str(" (");
        message.push_str(&detail);
        message.push(')');
    }
    MapError::Db {
        path: path.to_path_buf(),
        message,
        code,
    }
}

fn invalid(path: &Path, message: String) -> MapError {
    MapError::Db {
        path: path.to_path_buf(),
        message,
        code: libc::EINVAL,
    }
}

/// A DBT that lends `bytes` to Berkeley DB for the duration of one call.
///
/// Berkeley DB does not write through a key or data DBT given as input, the
/// `*mut` is only the C signature.
fn input_dbt(path: &Path, what: &str, bytes: &[u8]) -> Result<ffi::DBT, MapError> {
    let size = u32::try_from(bytes.len())
        .map_err(|_| invalid(path, format!("{what} of {} bytes is too long", bytes.len())))?;
    Ok(ffi::DBT {
        data: bytes.as_ptr() as *mut c_void,
        size,
        ulen: 0,
        dlen: 0,
        doff: 0,
        app_data: ptr::null_mut(),
        flags: 0,
    })
}

/// An empty DBT in which Berkeley DB returns malloc'd memory.
fn malloc_dbt() -> ffi::DBT {
    ffi::DBT {
        data: ptr::null_mut(),
        size: 0,
        ulen: 0,
        dlen: 0,
        doff: 0,
        app_data: ptr::null_mut(),
        flags: ffi::DB_DBT_MALLOC,
    }
}

/// Copy out and free the memory Berkeley DB allocated in a DB_DBT_MALLOC
/// DBT. Safe to call on a DBT that was never filled (null data).
fn take_malloc_dbt(dbt: &mut ffi::DBT) -> Vec<u8> {
    if dbt.data.is_null() {
        return Vec::new();
    }
    // SAFETY: with DB_DBT_MALLOC, Berkeley DB stores in `data` a block of at
    // least `size` bytes from malloc(3) that the caller owns. It is read
    // once here and freed with the matching free(3) (libdb is linked into
    // this process and uses the C library allocator), then forgotten.
    let bytes =
        unsafe { std::slice::from_raw_parts(dbt.data as *const u8, dbt.size as usize) }.to_vec();
    // SAFETY: see above; `data` came from malloc and is freed exactly once.
    unsafe { libc::free(dbt.data) };
    dbt.data = ptr::null_mut();
    dbt.size = 0;
    bytes
}

/// Close a handle that `db_create` returned; errors are returned, the
/// handle is gone either way (Berkeley DB frees it even when close fails).
///
/// # Safety
/// `handle` must be a live handle from `db_create`, not used afterwards.
unsafe fn close_handle(handle: *mut ffi::DB) -> c_int {
    // SAFETY: the caller guarantees a live handle; reading its function
    // pointer field is a plain read of memory db_create initialised.
    match unsafe { (*handle).close } {
        // SAFETY: live handle, used for the last time (caller's contract).
        Some(close) => unsafe { close(handle, 0) },
        None => libc::EINVAL,
    }
}

/// A function pointer of a live DB handle, or an error when the library
/// left it unset.
macro_rules! db_method {
    ($handle:expr, $field:ident, $path:expr) => {{
        // SAFETY: `$handle` is a live handle from db_create (a Db never
        // holds null before close/drop). The function pointer fields are
        // set by db_create and never changed afterwards, so reading one
        // races with nothing.
        unsafe { (*$handle).$field }.ok_or_else(|| missing_method($path, stringify!($field)))
    }};
}

/// The function pointers of a DB handle are filled by `db_create`; a
/// missing one would be a broken library, reported as an error.
fn missing_method(path: &Path, name: &str) -> MapError {
    invalid(path, format!("Berkeley DB handle has no {name} method"))
}

impl Db {
    /// Open (or create) the file at `path` as `opts` says.
    pub fn open(path: &Path, opts: &OpenOptions) -> Result<Db, MapError> {
        let c_path = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| invalid(path, "open: the path contains a NUL byte".to_string()))?;
        let mode = c_int::try_from(opts.mode)
            .map_err(|_| invalid(path, format!("open: bad file mode {:o}", opts.mode)))?;

        clear_db_message();
        let mut handle: *mut ffi::DB = ptr::null_mut();
        // SAFETY: db_create writes a new handle into `handle`; no
        // environment (null) and no flags.
        let ret = unsafe { ffi::db_create(&mut handle, ptr::null_mut(), 0) };
        if ret != 0 || handle.is_null() {
            return Err(db_error(path, "db_create", ret));
        }
        // From here on the handle is owned by `db`, whose Drop closes it on
        // every early return below.
        let db = Db {
            handle,
            path: path.to_path_buf(),
            lock: RwLock::new(()),
            exclusive: opts.single_thread,
        };

        // SAFETY: live handle, not yet opened: the time to configure it.
        // The callback never unwinds.
        unsafe {
            if let Some(set_errcall) = (*handle).set_errcall {
                set_errcall(handle, Some(record_db_message));
            }
        }

        if let Some(bytes) = opts.cache_size {
            const GB: u64 = 1 << 30;
            let gbytes = u32::try_from(bytes / GB)
                .map_err(|_| invalid(path, format!("cache size {bytes} is too large")))?;
            // Lossless: the remainder is below 2^30.
            let rest = (bytes % GB) as u32;
            let set_cachesize = db_method!(handle, set_cachesize, path)?;
            // SAFETY: live, unopened handle; one cache region.
            let ret = unsafe { set_cachesize(handle, gbytes, rest, 1) };
            if ret != 0 {
                return Err(db_error(path, "set_cachesize", ret));
            }
        }

        if let (Some(n), DbType::Hash) = (opts.expected_entries, opts.db_type) {
            let set_h_nelem = db_method!(handle, set_h_nelem, path)?;
            // SAFETY: live, unopened handle of a hash database.
            let ret = unsafe { set_h_nelem(handle, n) };
            if ret != 0 {
                return Err(db_error(path, "set_h_nelem", ret));
            }
        }

        let mut flags = if opts.single_thread {
            0
        } else {
            ffi::DB_THREAD
        };
        if opts.create {
            flags |= ffi::DB_CREATE;
        }
        if opts.truncate {
            flags |= ffi::DB_TRUNCATE;
        }
        if opts.read_only {
            flags |= ffi::DB_RDONLY;
        }
        let open = db_method!(handle, open, path)?;
        // SAFETY: live, unopened handle; `c_path` outlives the call; no
        // transaction, no subdatabase name. Berkeley DB checks the file's
        // magic number and access method itself and fails with EINVAL on a
        // foreign file.
        let ret = unsafe {
            open(
                handle,
                ptr::null_mut(),
                c_path.as_ptr(),
                ptr::null(),
                opts.db_type.to_ffi(),
                flags,
                mode,
            )
        };
        if ret != 0 {
            return Err(db_error(path, "open", ret));
        }
        Ok(db)
    }

    fn read_lock(&self) -> Guard<'_> {
        // The lock guards no data; a panic elsewhere cannot leave it
        // inconsistent.
        if self.exclusive {
            Guard::Exclusive(self.write_lock())
        } else {
            Guard::Shared(self.lock.read().unwrap_or_else(PoisonError::into_inner))
        }
    }

    fn write_lock(&self) -> RwLockWriteGuard<'_, ()> {
        self.lock.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The value stored for `key`, `None` when there is none.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, MapError> {
        let mut key_dbt = input_dbt(&self.path, "key", key)?;
        let mut data_dbt = malloc_dbt();
        let get = db_method!(self.handle, get, &self.path)?;
        let _guard = self.read_lock();
        clear_db_message();
        // SAFETY: open handle (non-null for the life of `self`); `key`
        // outlives the call; the data DBT asks for malloc'd memory, taken
        // and freed below.
        let ret = unsafe { get(self.handle, ptr::null_mut(), &mut key_dbt, &mut data_dbt, 0) };
        match ret {
            0 => Ok(Some(take_malloc_dbt(&mut data_dbt))),
            ffi::DB_NOTFOUND => Ok(None),
            code => {
                take_malloc_dbt(&mut data_dbt);
                Err(db_error(&self.path, "get", code))
            }
        }
    }

    /// Store `value` under `key`. Returns `false`, storing nothing, when
    /// the key exists and `overwrite` is false (`DB_NOOVERWRITE`).
    pub fn put(&self, key: &[u8], value: &[u8], overwrite: bool) -> Result<bool, MapError> {
        let mut key_dbt = input_dbt(&self.path, "key", key)?;
        let mut data_dbt = input_dbt(&self.path, "value", value)?;
        let flags = if overwrite { 0 } else { ffi::DB_NOOVERWRITE };
        let put = db_method!(self.handle, put, &self.path)?;
        let _guard = self.write_lock();
        clear_db_message();
        // SAFETY: open handle; both DBTs point into slices that outlive the
        // call and are only read by Berkeley DB.
        let ret = unsafe {
            put(
                self.handle,
                ptr::null_mut(),
                &mut key_dbt,
                &mut data_dbt,
                flags,
            )
        };
        match ret {
            0 => Ok(true),
            ffi::DB_KEYEXIST => Ok(false),
            code => Err(db_error(&self.path, "put", code)),
        }
    }

    /// Remove `key`. Returns whether it was there.
    pub fn delete(&self, key: &[u8]) -> Result<bool, MapError> {
        let mut key_dbt = input_dbt(&self.path, "key", key)?;
        let del = db_method!(self.handle, del, &self.path)?;
        let _guard = self.write_lock();
        clear_db_message();
        // SAFETY: open handle; the key DBT points into a slice that outlives
        // the call.
        let ret = unsafe { del(self.handle, ptr::null_mut(), &mut key_dbt, 0) };
        match ret {
            0 => Ok(true),
            ffi::DB_NOTFOUND => Ok(false),
            code => Err(db_error(&self.path, "delete", code)),
        }
    }

    /// All entries, in key order for btree files and in hash order for hash
    /// files. The cursor is closed when the iterator is dropped.
    pub fn iter(&self) -> Result<DbIter<'_>, MapError> {
        let cursor_fn = db_method!(self.handle, cursor, &self.path)?;
        let mut cursor: *mut ffi::DBC = ptr::null_mut();
        let _guard = self.read_lock();
        clear_db_message();
        // SAFETY: open handle; Berkeley DB writes a new cursor into
        // `cursor`, owned by the DbIter below, which cannot outlive `self`.
        let ret = unsafe { cursor_fn(self.handle, ptr::null_mut(), &mut cursor, 0) };
        if ret != 0 || cursor.is_null() {
            return Err(db_error(&self.path, "cursor", ret));
        }
        Ok(DbIter {
            db: self,
            cursor,
            done: false,
        })
    }

    /// Write cached changes to the file.
    pub fn sync(&self) -> Result<(), MapError> {
        let sync = db_method!(self.handle, sync, &self.path)?;
        let _guard = self.write_lock();
        clear_db_message();
        // SAFETY: open handle; no flags.
        let ret = unsafe { sync(self.handle, 0) };
        if ret != 0 {
            return Err(db_error(&self.path, "sync", ret));
        }
        Ok(())
    }

    /// Flush and close the file, reporting errors (dropping a `Db` closes it
    /// too, but ignores them).
    pub fn close(mut self) -> Result<(), MapError> {
        let handle = std::mem::replace(&mut self.handle, ptr::null_mut());
        clear_db_message();
        // SAFETY: `self` is consumed, so no reference or DbIter (which
        // borrows it) is left; the handle is closed exactly once since Drop
        // sees null.
        let ret = unsafe { close_handle(handle) };
        if ret != 0 {
            return Err(db_error(&self.path, "close", ret));
        }
        Ok(())
    }

    /// The file this handle was opened on.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if !self.handle.is_null() {
            let handle = std::mem::replace(&mut self.handle, ptr::null_mut());
            // SAFETY: last use of the handle (`&mut self` in drop: no other
            // reference exists); errors cannot be reported from drop.
            unsafe { close_handle(handle) };
        }
    }
}

/// The entries of a [`Db`], from [`Db::iter`]: `(key, value)` pairs.
///
/// After an error the iterator ends.
pub struct DbIter<'a> {
    db: &'a Db,
    /// Open cursor, closed in Drop; never null.
    cursor: *mut ffi::DBC,
    done: bool,
}

impl std::fmt::Debug for DbIter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbIter")
            .field("path", &self.db.path)
            .field("done", &self.done)
            .finish()
    }
}

impl Iterator for DbIter<'_> {
    type Item = Result<(Vec<u8>, Vec<u8>), MapError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        // SAFETY: the cursor is open (closed only in Drop); DBC->get is set
        // by Berkeley DB for every cursor.
        let Some(get) = (unsafe { (*self.cursor).get }) else {
            self.done = true;
            return Some(Err(missing_method(&self.db.path, "cursor get")));
        };
        let mut key_dbt = malloc_dbt();
        let mut data_dbt = malloc_dbt();
        let ret = {
            let _guard = self.db.read_lock();
            clear_db_message();
            // SAFETY: open cursor used by this thread only (DbIter is
            // neither Send nor Sync); both DBTs ask for malloc'd memory,
            // taken and freed below.
            unsafe { get(self.cursor, &mut key_dbt, &mut data_dbt, ffi::DB_NEXT) }
        };
        match ret {
            0 => {
                let key = take_malloc_dbt(&mut key_dbt);
                let value = take_malloc_dbt(&mut data_dbt);
                Some(Ok((key, value)))
            }
            ffi::DB_NOTFOUND => {
                self.done = true;
                None
            }
            code => {
                take_malloc_dbt(&mut key_dbt);
                take_malloc_dbt(&mut data_dbt);
                self.done = true;
                Some(Err(db_error(&self.db.path, "cursor get", code)))
            }
        }
    }
}

impl Drop for DbIter<'_> {
    fn drop(&mut self) {
        let _guard = self.db.read_lock();
        // SAFETY: the cursor is open and this is its last use; its database
        // handle is still open because `self.db` is borrowed. Errors cannot
        // be reported from drop.
        unsafe {
            if let Some(close) = (*self.cursor).close {
                close(self.cursor);
            }
        }
    }
}
