//! The container Sickbay itself runs in, if any: Sickbay never watches, heals or stops it
//! (`monitor::watched`).
//!
//! Docker bind-mounts `/etc/hostname` from the folder of the container that owns the network
//! namespace, `<docker root>/containers/<id>/hostname`: the container's own, or, for one started
//! with `--network container:<other>` (compose's `network_mode: service:...`), the other's. So
//! the mount table names a candidate, also with a private cgroup namespace (where
//! `/proc/self/cgroup` says only `0::/`) and whatever `--hostname` was given; on the host no such
//! mount is at `/etc/hostname`. The candidate is then confirmed whatever the storage driver:
//! this process writes a file of a random name in its own filesystem (the temp folder; else
//! the data folder, for a read-only root), and the container is the only one, among the
//! candidate and those joined to its network, from which Docker's archive API reads that file
//! back (a folder of a volume two containers share would name both: then the next place).
//! Nothing found anywhere: the candidate stands. Docker failing to answer: the candidate is
//! left alone meanwhile and the question asked again at the next connection. Once answered,
//! never asked again in this process.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{OnceLock, RwLock};

use bollard::query_parameters::{
    DownloadFromContainerOptionsBuilder, ListContainersOptionsBuilder,
};
use futures_util::StreamExt;

use super::Docker;

/// The container confirmed, once (`None`: this process runs on a host).
static CONFIRMED: OnceLock<Option<String>> = OnceLock::new();
/// The mount table's candidate while it could not be confirmed yet (Docker did not answer):
/// left alone meanwhile, and asked about again at the next connection.
static UNCONFIRMED: RwLock<Option<String>> = RwLock::new(None);

/// Whether `id` is the container this process runs in (or, until that could be checked, the
/// mount table's candidate).
pub fn is_own(id: &str) -> bool {
    match CONFIRMED.get() {
        Some(own) => own.as_deref() == Some(id),
        None => UNCONFIRMED.read().is_ok_and(|c| c.as_deref() == Some(id)),
    }
}

/// What a check came to.
enum Checked {
    /// Exactly this container holds the file.
    Found(String),
    /// None of them, or more than one, holds it: try elsewhere.
    NotTold,
    /// Docker could not be asked.
    Failed,
}

/// Finds and confirms the container this process runs in; once confirmed (or known to be
/// none), never again.
pub async fn resolve(docker: &Docker) {
    if CONFIRMED.get().is_some() {
        return;
    }
    let Some(candidate) = std::fs::read_to_string("/proc/self/mountinfo")
        .ok()
        .and_then(|m| hint_in(&m))
    else {
        let _ = CONFIRMED.set(None);
        return;
    };
    // A marker in the container's own filesystem first (a folder in a volume may be another
    // container's too), then in the data folder (a read-only root).
    let mut failed = false;
    let mut found = None;
    for dir in [std::env::temp_dir(), crate::paths::data_dir()] {
        match confirm(docker, &candidate, dir).await {
            Checked::Found(id) => {
                found = Some(id);
                break;
            }
            Checked::NotTold => {}
            Checked::Failed => failed = true,
        }
    }
    let own = match found {
        Some(id) => id,
        None if failed => {
            if let Ok(mut c) = UNCONFIRMED.write() {
                *c = Some(candidate.clone());
            }
            tracing::warn!(
                "cannot tell yet which container Sickbay runs in (Docker did not answer); \
                 it leaves {} alone meanwhile",
                &candidate[..12]
            );
            return;
        }
        // Nothing could tell: the network's owner is the best guess.
        None => candidate,
    };
    if CONFIRMED.set(Some(own.clone())).is_ok() {
        tracing::info!(
            "Sickbay runs in container {}: it leaves that container alone",
            &own[..12.min(own.len())]
        );
    }
}

/// Writes a file of a random name in `dir` and asks Docker which of `candidate` and the
/// running containers joined to its network holds it.
async fn confirm(docker: &Docker, candidate: &str, dir: PathBuf) -> Checked {
    let token = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
    let marker = dir.join(format!(".sickbay-own-{token}"));
    if std::fs::write(&marker, &token).is_err() {
        return Checked::NotTold;
    }
    let checked = holder(docker, candidate, &marker.display().to_string()).await;
    let _ = std::fs::remove_file(&marker);
    checked
}

async fn holder(docker: &Docker, candidate: &str, path: &str) -> Checked {
    let mut filters: HashMap<String, Vec<String>> = HashMap::new();
    filters.insert("status".into(), vec!["running".into()]);
    let Ok(list) = docker
        .client
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
    else {
        return Checked::Failed;
    };
    let joined = format!("container:{candidate}");
    let mut ids = vec![candidate.to_string()];
    ids.extend(list.into_iter().filter_map(|c| {
        let mode = c.host_config.and_then(|h| h.network_mode);
        (mode.as_deref() == Some(joined.as_str()))
            .then_some(c.id)
            .flatten()
    }));
    let mut holders = Vec::new();
    for id in ids {
        match holds(docker, &id, path).await {
            Some(true) => holders.push(id),
            Some(false) => {}
            None => return Checked::Failed,
        }
    }
    match holders.as_slice() {
        [one] => Checked::Found(one.clone()),
        _ => Checked::NotTold,
    }
}

/// Whether Docker reads the file at `path` from container `id` (`None`: Docker failed).
async fn holds(docker: &Docker, id: &str, path: &str) -> Option<bool> {
    let opts = DownloadFromContainerOptionsBuilder::default()
        .path(path)
        .build();
    let mut archive = docker.client.download_from_container(id, Some(opts));
    let mut read = 0usize;
    while let Some(chunk) = archive.next().await {
        match chunk {
            Ok(b) => read += b.len(),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => return Some(false),
            Err(_) => return None,
        }
        // A tar of one small file.
        if read > 64 * 1024 {
            break;
        }
    }
    Some(read > 0)
}

/// The mount table's candidate (`/proc/self/mountinfo`): the 64 hex digits of the folder
/// holding the file mounted at `/etc/hostname`, when that folder is in a `containers` folder.
pub fn hint_in(mountinfo: &str) -> Option<String> {
    mountinfo.lines().find_map(|line| {
        // id parent major:minor root mount-point options ...
        let mut fields = line.split(' ');
        let root = fields.nth(3)?;
        if fields.next()? != "/etc/hostname" {
            return None;
        }
        let mut parts = root.rsplit('/');
        let (Some("hostname"), Some(id), Some("containers")) =
            (parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        (id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| id.to_ascii_lowercase())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f1c9a5e2b7d4c6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f";

    #[test]
    fn a_container_finds_its_candidate_in_the_hostname_mount() {
        let table = format!(
            "612 540 0:61 / / rw,relatime master:303 - overlay overlay rw,lowerdir=/l/1:/l/2,\
             upperdir=/var/lib/docker/overlay2/abc/diff,workdir=/var/lib/docker/overlay2/abc/work\n\
             620 612 8:1 /var/lib/docker/containers/{ID}/resolv.conf /etc/resolv.conf rw - ext4 /dev/sda1 rw\n\
             621 612 8:1 /var/lib/docker/containers/{ID}/hostname /etc/hostname rw - ext4 /dev/sda1 rw\n"
        );
        assert_eq!(hint_in(&table).as_deref(), Some(ID));
    }

    #[test]
    fn a_docker_root_under_a_containers_folder_is_read_from_the_end() {
        let table = format!(
            "621 612 8:1 /srv/containers/docker/containers/{ID}/hostname /etc/hostname rw - ext4 /dev/sda1 rw\n"
        );
        assert_eq!(hint_in(&table).as_deref(), Some(ID));
    }

    #[test]
    fn the_host_is_no_container_even_with_containers_mounted() {
        // A container's shm is mounted in the host's namespace.
        let table = format!(
            "25 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n\
             900 25 0:70 / /var/lib/docker/containers/{ID}/mounts/shm rw - tmpfs shm rw\n"
        );
        assert_eq!(hint_in(&table), None);
        // Not an id: a hostname mount from elsewhere.
        assert_eq!(
            hint_in("5 1 8:1 /srv/containers/web/hostname /etc/hostname rw - ext4 /dev/sda1 rw\n"),
            None
        );
    }
}
