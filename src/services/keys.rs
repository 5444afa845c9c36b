//! Loading the key ring from configuration, generating the development key, and re-wrapping case
//! keys after a rotation.

use std::io::Write;
use std::path::Path;

use secrecy::ExposeSecret;

use super::{ServiceError, Services};
use crate::config::Settings;
use crate::crypto::{
    KekId, KeyRing, WrappedCaseKey, decode_kek_base64, encode_kek_base64, generate_kek,
};

const DEV_KEK_ID: &str = "dev";
const DEV_KEK_FILE: &str = "dev-kek.key";

fn decode_kek(id: &str, text: &str) -> Result<[u8; 32], String> {
    decode_kek_base64(text)
        .map(|key| *key)
        .map_err(|_| format!("KEK `{id}` must be the base64 of 32 random bytes"))
}

/// Reads a secret file, refusing one that others can read.
fn read_secret_file(id: &str, path: &Path) -> Result<String, String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| format!("KEK file for `{id}` ({}): {e}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(format!(
                "KEK file for `{id}` ({}) must be mode 0600, is {:o}",
                path.display(),
                mode & 0o777
            ));
        }
    }
    std::fs::read_to_string(path)
        .map_err(|e| format!("KEK file for `{id}` ({}): {e}", path.display()))
}

/// The key ring from `keys.*`; with no KEK configured, the development key (generated on first
/// use), which production refuses.
pub fn load_key_ring(settings: &Settings) -> Result<KeyRing, String> {
    let mut keks = Vec::new();
    for (id, value) in &settings.keys.keks {
        keks.push((id.to_lowercase(), decode_kek(id, value.expose_secret())?));
    }
    for (id, path) in &settings.keys.kek_files {
        keks.push((
            id.to_lowercase(),
            decode_kek(id, &read_secret_file(id, path)?)?,
        ));
    }
    let mut active = settings.keys.active.trim().to_lowercase();
    if keks.is_empty() {
        if settings.is_production() {
            return Err(
                "no key-encryption key configured (keys.keks or keys.kek_files); production refuses the development key"
                    .into(),
            );
        }
        tracing::warn!(
            path = %settings.data_dir.join(DEV_KEK_FILE).display(),
            "no key-encryption key configured: using a generated development key; do not use this in production"
        );
        keks.push((DEV_KEK_ID.to_owned(), dev_kek(&settings.data_dir)?));
        if active.is_empty() {
            DEV_KEK_ID.clone_into(&mut active);
        }
    } else if active.is_empty() {
        if keks.len() == 1 {
            active.clone_from(&keks[0].0);
        } else {
            return Err("keys.active must name one of the configured KEKs".into());
        }
    }
    let parsed = keks
        .into_iter()
        .map(|(id, key)| {
            Ok((
                KekId::parse(&id).map_err(|e| format!("KEK id `{id}`: {e}"))?,
                key,
            ))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let active = KekId::parse(&active).map_err(|e| format!("keys.active: {e}"))?;
    KeyRing::new(active, parsed).map_err(|e| format!("keys.active: {e}"))
}

/// The development KEK at `{data_dir}/dev-kek.key`, created (mode 0600) when absent.
fn dev_kek(data_dir: &Path) -> Result<[u8; 32], String> {
    let path = data_dir.join(DEV_KEK_FILE);
    if path.exists() {
        return decode_kek(DEV_KEK_ID, &read_secret_file(DEV_KEK_ID, &path)?);
    }
    std::fs::create_dir_all(data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
    let key = generate_kek();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    writeln!(file, "{}", encode_kek_base64(&key))
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(key)
}

/// Re-wraps every case key under the active KEK. Returns (re-wrapped, already current).
pub async fn rewrap_all(services: &Services) -> Result<(usize, usize), ServiceError> {
    let active = services.keys.active_id().as_str().to_owned();
    let mut rewrapped = 0;
    let mut current = 0;
    for (case, kek_id, wrapped) in services.repo.wrapped_case_keys().await? {
        if kek_id == active {
            current += 1;
            continue;
        }
        let old = WrappedCaseKey {
            kek_id: KekId::parse(&kek_id).map_err(|e| ServiceError::Internal(e.to_string()))?,
            bytes: wrapped,
        };
        let WrappedCaseKey { kek_id, bytes } = services
            .keys
            .rewrap(&case.to_string(), &old)
            .map_err(|e| ServiceError::Internal(format!("case key of {case}: {e}")))?;
        services
            .repo
            .update_case_key(case, kek_id.as_str(), &bytes)
            .await?;
        rewrapped += 1;
    }
    Ok((rewrapped, current))
}
