//! Secrets at rest. Whatever SalesOS must be able to read back and use (webhook signing
//! secrets, mailbox passwords, connector tokens, stored answers that held one) is sealed
//! with a master key before it reaches the database, so a dump of the database alone
//! reveals none of it.
//!
//! - Sealing is ChaCha20-Poly1305 (ring, the AEAD behind our TLS), a fresh random 96-bit
//!   nonce each time, and the row the value belongs to as associated data (`table:id`):
//!   a sealed value moved to another row does not open. A key seals few values (secrets,
//!   not traffic), far below the 2³² random nonces one key stands.
//! - A sealed value reads `v1:<key id>:<base64 of nonce, ciphertext and tag>`; the key id
//!   is 8 hex digits of a hash of the key, so the value names the key that opens it.
//! - The master keys come from `SALESOS_MASTER_KEY` (base64 keys, comma-separated) or,
//!   when it is unset, from `master.key` in the data directory, created 0600 at first
//!   start. The first key seals; every key opens. The database records the keys in use
//!   (`master_keys`), and a node that lacks one of them refuses to start, so nodes of one
//!   PostgreSQL deployment cannot drift onto keys of their own.
//! - `salesos admin rotate-master-key` puts a new key first, reseals every sealed value of
//!   every area (each area lists its sealed columns in its [`Area`](crate::area::Area)),
//!   then retires the old keys. A server sharing the key file picks the new key up by
//!   itself: it rereads the file when it changes.

use std::{
    collections::HashSet,
    fmt,
    io::Write,
    path::{Path, PathBuf},
    sync::RwLock,
    time::SystemTime,
};

use base64::{Engine, engine::general_purpose::STANDARD};
use ring::{
    aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey},
    rand::{SecureRandom, SystemRandom},
};
use sha2::{Digest, Sha256};

pub mod stored;

use crate::settings::{Secret, Settings};

/// The prefix of every sealed value of this format.
const VERSION: &str = "v1";
const KEY_LEN: usize = 32;
/// The key file's name in the data directory.
pub const KEY_FILE: &str = "master.key";
const FILE_HEADER: &str = "# SalesOS master keys. The first line seals new secrets; every line opens them.\n\
# Keep this file private (0600) and backed up: without it the stored secrets cannot be read.\n";

/// Why a sealed value did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("the stored value is not sealed")]
    NotSealed,
    #[error("the stored value is sealed with master key {0}, which this node does not hold")]
    UnknownKey(String),
    #[error(
        "the stored value does not open with its master key (changed, or moved from another row)"
    )]
    Corrupt,
    #[error("the system's random number generator failed")]
    Random,
}

/// Where the master keys come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// `SALESOS_MASTER_KEY`.
    Environment,
    /// A key file (`master.key` in the data directory).
    File(PathBuf),
    /// Held in memory only (tests and tools).
    Memory,
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Environment => f.write_str("SALESOS_MASTER_KEY"),
            KeySource::File(p) => write!(f, "{}", p.display()),
            KeySource::Memory => f.write_str("memory"),
        }
    }
}

struct MasterKey {
    id: String,
    key: LessSafeKey,
    raw: [u8; KEY_LEN],
}

impl MasterKey {
    fn new(raw: [u8; KEY_LEN]) -> Self {
        let digest = Sha256::new()
            .chain_update(b"salesos master key id\0")
            .chain_update(raw)
            .finalize();
        let id = hex::encode(digest.get(..4).unwrap_or_default());
        let key = LessSafeKey::new(
            UnboundKey::new(&CHACHA20_POLY1305, &raw).unwrap_or_else(|_| unreachable_key()),
        );
        Self { id, key, raw }
    }

    fn encoded(&self) -> String {
        STANDARD.encode(self.raw)
    }
}

/// ring refuses a key only for a wrong length, which [`KEY_LEN`] rules out.
fn unreachable_key() -> UnboundKey {
    panic!("a 32-byte key is a ChaCha20-Poly1305 key")
}

struct Loaded {
    keys: Vec<MasterKey>,
    /// The key file as it was when read.
    modified: Option<Stamp>,
}

/// What tells one version of the key file from the next: it is replaced by a rename (a
/// new inode), and timestamps alone are too coarse (a clock tick of several ms).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Self {
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(meta);
        #[cfg(not(unix))]
        let inode = 0;
        Self {
            modified: meta.modified().ok(),
            len: meta.len(),
            inode,
        }
    }
}

/// The master keys of this node. Cheap to share behind an `Arc`; the store carries one.
pub struct Keyring {
    source: KeySource,
    loaded: RwLock<Loaded>,
    /// Whether this start created the key file.
    created: bool,
    random: SystemRandom,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("source", &self.source)
            .field("ids", &self.ids())
            .finish()
    }
}

impl Keyring {
    /// The keys `settings` name: `SALESOS_MASTER_KEY` when set, else the data directory's
    /// key file, created with one new key when there is none.
    pub fn load(settings: &Settings) -> anyhow::Result<Self> {
        if let Some(given) = &settings.master_key {
            let keys = parse_keys(given.expose().split(','), "SALESOS_MASTER_KEY")?;
            return Ok(Self::with(KeySource::Environment, keys, None, false));
        }
        let path = settings.data_dir.join(KEY_FILE);
        let random = SystemRandom::new();
        let created = match std::fs::symlink_metadata(&path) {
            Ok(_) => false,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(&settings.data_dir).map_err(|e| {
                    anyhow::anyhow!(
                        "cannot create data directory {}: {e}",
                        settings.data_dir.display()
                    )
                })?;
                let key = MasterKey::new(new_raw(&random)?);
                match write_file(&path, &[&key], true) {
                    Ok(()) => true,
                    // Another process of this node created it first: use that one.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
                    Err(e) => anyhow::bail!("cannot create the master key {}: {e}", path.display()),
                }
            }
            Err(e) => anyhow::bail!("cannot read the master key {}: {e}", path.display()),
        };
        let (keys, modified) = read_file(&path)?;
        Ok(Self::with(KeySource::File(path), keys, modified, created))
    }

    /// A keyring of one new key held only in memory.
    pub fn ephemeral() -> anyhow::Result<Self> {
        let raw = new_raw(&SystemRandom::new())?;
        Ok(Self::with(
            KeySource::Memory,
            vec![MasterKey::new(raw)],
            None,
            false,
        ))
    }

    fn with(
        source: KeySource,
        keys: Vec<MasterKey>,
        modified: Option<Stamp>,
        created: bool,
    ) -> Self {
        Self {
            source,
            loaded: RwLock::new(Loaded { keys, modified }),
            created,
            random: SystemRandom::new(),
        }
    }

    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// Whether this start made the key file (a new node, or a new deployment).
    pub fn created(&self) -> bool {
        self.created
    }

    /// The ids of the keys held, the sealing one first.
    pub fn ids(&self) -> Vec<String> {
        self.read().keys.iter().map(|k| k.id.clone()).collect()
    }

    /// The id of the key that seals.
    pub fn active_id(&self) -> String {
        self.refresh();
        self.read()
            .keys
            .first()
            .map(|k| k.id.clone())
            .unwrap_or_default()
    }

    /// Seal `plain` for the row `context` names (`table:id`).
    pub fn seal(&self, context: &str, plain: &str) -> Result<String, SecretError> {
        self.refresh();
        let loaded = self.read();
        let key = loaded
            .keys
            .first()
            .ok_or(SecretError::UnknownKey(String::new()))?;
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .map_err(|_| SecretError::Random)?;
        let mut out = plain.as_bytes().to_vec();
        key.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut out,
            )
            .map_err(|_| SecretError::Corrupt)?;
        let mut packed = nonce.to_vec();
        packed.extend_from_slice(&out);
        Ok(format!("{VERSION}:{}:{}", key.id, STANDARD.encode(packed)))
    }

    /// Open a value [`Keyring::seal`] made for the same `context`.
    pub fn open(&self, context: &str, sealed: &str) -> Result<Secret, SecretError> {
        let (id, body) = split(sealed)?;
        if !self.holds(id) {
            // Another process may have rotated the key file since it was read.
            self.refresh();
        }
        let loaded = self.read();
        let key = loaded
            .keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| SecretError::UnknownKey(id.to_owned()))?;
        let packed = STANDARD.decode(body).map_err(|_| SecretError::Corrupt)?;
        if packed.len() < NONCE_LEN {
            return Err(SecretError::Corrupt);
        }
        let (nonce, ciphertext) = packed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SecretError::Corrupt)?;
        let mut buf = ciphertext.to_vec();
        let plain = key
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| SecretError::Corrupt)?;
        String::from_utf8(plain.to_vec())
            .map(Secret::new)
            .map_err(|_| SecretError::Corrupt)
    }

    /// Whether `sealed` is sealed with the key that seals now (a rotation has nothing to
    /// do for it).
    pub fn is_current(&self, sealed: &str) -> bool {
        split(sealed).is_ok_and(|(id, _)| id == self.active_id())
    }

    /// Put a new key first in the key file, keeping the others to open what they sealed
    /// until [`Keyring::retire_others`]. Only for a key file: keys given in
    /// `SALESOS_MASTER_KEY` are changed where they are given.
    pub fn add_key_to_file(&self) -> anyhow::Result<String> {
        let KeySource::File(path) = &self.source else {
            anyhow::bail!("the master keys come from {}, not a key file", self.source);
        };
        self.refresh();
        let key = MasterKey::new(new_raw(&self.random)?);
        let id = key.id.clone();
        {
            let loaded = self.read();
            let mut all: Vec<&MasterKey> = vec![&key];
            all.extend(loaded.keys.iter().filter(|k| k.id != id));
            write_file(path, &all, false)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        }
        self.reload()?;
        Ok(id)
    }

    /// Keep only the sealing key in the key file; the others' ids are returned.
    pub fn retire_others(&self) -> anyhow::Result<Vec<String>> {
        let KeySource::File(path) = &self.source else {
            anyhow::bail!("the master keys come from {}, not a key file", self.source);
        };
        let retired = {
            let loaded = self.read();
            let Some(first) = loaded.keys.first() else {
                return Ok(Vec::new());
            };
            write_file(path, &[first], false)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            loaded.keys.iter().skip(1).map(|k| k.id.clone()).collect()
        };
        self.reload()?;
        Ok(retired)
    }

    fn holds(&self, id: &str) -> bool {
        self.read().keys.iter().any(|k| k.id == id)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Loaded> {
        self.loaded.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Reread the key file if it changed since it was read.
    fn refresh(&self) {
        let KeySource::File(path) = &self.source else {
            return;
        };
        let now = std::fs::metadata(path).ok().map(|m| Stamp::of(&m));
        if now.is_some()
            && now != self.read().modified
            && let Err(e) = self.reload()
        {
            tracing::warn!(error = %e, "the master key file changed but cannot be read; keeping the keys held");
        }
    }

    fn reload(&self) -> anyhow::Result<()> {
        let KeySource::File(path) = &self.source else {
            return Ok(());
        };
        let (keys, modified) = read_file(path)?;
        let mut loaded = self.loaded.write().unwrap_or_else(|p| p.into_inner());
        *loaded = Loaded { keys, modified };
        Ok(())
    }
}

/// A new master key, base64, for `SALESOS_MASTER_KEY`.
pub fn generate_key() -> anyhow::Result<String> {
    Ok(MasterKey::new(new_raw(&SystemRandom::new())?).encoded())
}

/// The id of a base64 master key, as sealed values name it.
pub fn key_id(encoded: &str) -> anyhow::Result<String> {
    let keys = parse_keys(std::iter::once(encoded), "the key")?;
    Ok(keys.first().map(|k| k.id.clone()).unwrap_or_default())
}

/// Whether `value` is in the sealed format (not whether it opens).
pub fn is_sealed(value: &str) -> bool {
    split(value).is_ok()
}

/// The id of the key that sealed `value`.
pub fn sealed_with(value: &str) -> Option<&str> {
    split(value).ok().map(|(id, _)| id)
}

fn split(sealed: &str) -> Result<(&str, &str), SecretError> {
    let mut parts = sealed.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(VERSION), Some(id), Some(body))
            if id.len() == 8 && id.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            Ok((id, body))
        }
        _ => Err(SecretError::NotSealed),
    }
}

fn new_raw(random: &SystemRandom) -> anyhow::Result<[u8; KEY_LEN]> {
    let mut raw = [0u8; KEY_LEN];
    random
        .fill(&mut raw)
        .map_err(|_| anyhow::anyhow!("the system's random number generator failed"))?;
    Ok(raw)
}

fn parse_keys<'a>(
    encoded: impl Iterator<Item = &'a str>,
    what: &str,
) -> anyhow::Result<Vec<MasterKey>> {
    let mut keys = Vec::new();
    let mut seen = HashSet::new();
    for (n, text) in encoded.enumerate() {
        let text = text.trim();
        let raw: [u8; KEY_LEN] = STANDARD
            .decode(text)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "{what}: key {} is not 32 bytes in base64 (make one with `salesos admin generate-master-key`)",
                    n + 1
                )
            })?;
        let key = MasterKey::new(raw);
        if seen.insert(key.id.clone()) {
            keys.push(key);
        }
    }
    anyhow::ensure!(!keys.is_empty(), "{what} holds no key");
    Ok(keys)
}

fn read_file(path: &Path) -> anyhow::Result<(Vec<MasterKey>, Option<Stamp>)> {
    let meta = std::fs::metadata(path)
        .map_err(|e| anyhow::anyhow!("cannot read the master key {}: {e}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        anyhow::ensure!(
            mode & 0o077 == 0,
            "the master key {} can be read by others (mode {mode:o}); run `chmod 600 {}`",
            path.display(),
            path.display()
        );
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read the master key {}: {e}", path.display()))?;
    let lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    let keys = parse_keys(lines, &path.display().to_string())?;
    Ok((keys, Some(Stamp::of(&meta))))
}

/// Write the key file, 0600, whole or not at all: written beside it first, then put in
/// place, by a hard link when `new` (which fails with `AlreadyExists` if another process
/// made it meanwhile, so no one reads a half-written file), else by a rename over the old.
fn write_file(path: &Path, keys: &[&MasterKey], new: bool) -> std::io::Result<()> {
    let mut text = FILE_HEADER.to_owned();
    for k in keys {
        text.push_str(&k.encoded());
        text.push('\n');
    }
    // Named by process and the new first key, so writers never share one.
    let first = keys.first().map(|k| k.id.as_str()).unwrap_or("none");
    let staged = path.with_extension(format!("key.{}.{first}.new", std::process::id()));
    // A leftover of a crash keeps its mode; start from nothing.
    let _ = std::fs::remove_file(&staged);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(&staged).and_then(|mut file| {
        file.write_all(text.as_bytes())?;
        file.sync_all()
    });
    let placed = written.and_then(|()| {
        if new {
            std::fs::hard_link(&staged, path)
        } else {
            std::fs::rename(&staged, path)
        }
    });
    let _ = std::fs::remove_file(&staged);
    placed?;
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// A table column of sealed values, for rotation to reseal: the table's `id` (a UUID) is
/// the row each value is sealed for ([`context`]).
#[derive(Clone, Copy, Debug)]
pub struct SealedColumn {
    pub table: &'static str,
    pub column: &'static str,
}

/// The associated data a value of `table`'s row `id` is sealed with.
pub fn context(table: &str, id: impl fmt::Display) -> String {
    format!("{table}:{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings_in(dir: &Path) -> Settings {
        Settings {
            data_dir: dir.to_path_buf(),
            ..Settings::default()
        }
    }

    #[test]
    fn a_sealed_value_opens_only_for_its_row_and_reveals_nothing() {
        let ring = Keyring::ephemeral().expect("keyring");
        let sealed = ring.seal("webhook_endpoints:1", "whsec_abc").expect("seal");
        assert!(
            sealed.starts_with(&format!("v1:{}:", ring.active_id())),
            "{sealed}"
        );
        assert!(!sealed.contains("whsec_abc"));
        assert_eq!(
            ring.open("webhook_endpoints:1", &sealed)
                .expect("open")
                .expose(),
            "whsec_abc"
        );
        // Two seals of one value differ (fresh nonce each time).
        assert_ne!(
            sealed,
            ring.seal("webhook_endpoints:1", "whsec_abc").expect("seal")
        );
        assert_eq!(
            ring.open("webhook_endpoints:2", &sealed).err(),
            Some(SecretError::Corrupt)
        );
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(ring.open("webhook_endpoints:1", &tampered).is_err());
        assert_eq!(
            ring.open("t:1", "whsec_plain").err(),
            Some(SecretError::NotSealed)
        );
        let other = Keyring::ephemeral().expect("keyring");
        assert!(matches!(
            other.open("webhook_endpoints:1", &sealed),
            Err(SecretError::UnknownKey(id)) if id == ring.active_id()
        ));
    }

    #[test]
    fn the_key_file_is_made_private_once_and_refused_when_others_can_read_it() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("dir");
        let first = Keyring::load(&settings_in(dir.path())).expect("load");
        assert!(first.created());
        let path = dir.path().join(KEY_FILE);
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = Keyring::load(&settings_in(dir.path())).expect("load again");
        assert!(!again.created());
        assert_eq!(again.ids(), first.ids());

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = Keyring::load(&settings_in(dir.path())).expect_err("too open");
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    #[test]
    fn processes_starting_together_share_the_one_key_file_one_of_them_made() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().expect("dir");
            let settings = settings_in(dir.path());
            let loads: Vec<_> = (0..4)
                .map(|_| {
                    let s = settings.clone();
                    std::thread::spawn(move || Keyring::load(&s).expect("load"))
                })
                .collect();
            let rings: Vec<Keyring> = loads.into_iter().map(|t| t.join().expect("join")).collect();
            assert_eq!(rings.iter().filter(|r| r.created()).count(), 1);
            assert!(rings.iter().all(|r| r.ids() == rings[0].ids()));
            let left: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
            assert_eq!(left.len(), 1, "only master.key is left");
        }
    }

    #[test]
    fn keys_given_in_the_environment_seal_with_the_first_and_open_with_any() {
        let (a, b) = (generate_key().expect("a"), generate_key().expect("b"));
        let mut s = Settings {
            master_key: Some(Secret::new(format!("{b}, {a}"))),
            ..Settings::default()
        };
        let ring = Keyring::load(&s).expect("load");
        assert_eq!(
            ring.ids(),
            [key_id(&b).expect("id"), key_id(&a).expect("id")]
        );
        assert_eq!(ring.source(), &KeySource::Environment);

        s.master_key = Some(Secret::new(a.clone()));
        let old = Keyring::load(&s).expect("old");
        let sealed = old.seal("t:1", "x").expect("seal");
        assert_eq!(ring.open("t:1", &sealed).expect("open").expose(), "x");
        assert!(!ring.is_current(&sealed));

        s.master_key = Some(Secret::new("c2hvcnQ="));
        let err = Keyring::load(&s).expect_err("short key");
        assert!(err.to_string().contains("not 32 bytes"), "{err}");
    }

    #[test]
    fn a_new_key_seals_while_the_old_still_opens_until_retired_and_others_see_it() {
        let dir = tempfile::tempdir().expect("dir");
        let ring = Keyring::load(&settings_in(dir.path())).expect("load");
        // Another process reading the same file, as a server beside the CLI.
        let server = Keyring::load(&settings_in(dir.path())).expect("load");
        let old_id = ring.active_id();
        let sealed = server.seal("t:1", "secret").expect("seal");

        let new_id = ring.add_key_to_file().expect("add");
        assert_ne!(new_id, old_id);
        assert_eq!(ring.ids(), [new_id.clone(), old_id.clone()]);
        assert_eq!(ring.open("t:1", &sealed).expect("open").expose(), "secret");
        let resealed = ring.seal("t:1", "secret").expect("reseal");
        assert!(ring.is_current(&resealed));
        // The server opens what the new key sealed, and seals with it from now on.
        assert_eq!(
            server.open("t:1", &resealed).expect("open").expose(),
            "secret"
        );
        assert_eq!(server.active_id(), new_id);

        assert_eq!(ring.retire_others().expect("retire"), vec![old_id.clone()]);
        let later = Keyring::load(&settings_in(dir.path())).expect("load");
        assert!(matches!(
            later.open("t:1", &sealed),
            Err(SecretError::UnknownKey(id)) if id == old_id
        ));
        let text = std::fs::read_to_string(dir.path().join(KEY_FILE)).expect("read");
        assert_eq!(text.lines().filter(|l| !l.starts_with('#')).count(), 1);
    }
}
