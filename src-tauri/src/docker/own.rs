//! The container Sickbay itself runs in, if any: Sickbay never watches, heals or stops it
//! (`monitor::watched`).
//!
//! Docker bind-mounts `/etc/hostname` from the folder of the container that owns the network
//! namespace, `<docker root>/containers/<id>/hostname`: the container's own, or, for one started
//! with `--network container:<other>` (compose's `network_mode: service:...`), the other's. So
//! the mount table names a candidate, also with a private cgroup namespace (where
//! `/proc/self/cgroup` says only `0::/`) and whatever `--hostname` was given; on the host no such
//! mount is at `/etc/hostname`. The candidate is then confirmed whatever the storage driver:
//! this process writes a file of a random name and content in its data folder, and the
//! container is the one, among the candidate and those joined to its network, from which
//! Docker's archive API reads that file back. Without an answer the candidate stands. Read
//! once per process, when Docker is first reached.

use std::collections::HashMap;
use std::sync::OnceLock;

use bollard::query_parameters::{
    DownloadFromContainerOptionsBuilder, ListContainersOptionsBuilder,
};
use futures_util::StreamExt;

use super::Docker;

static OWN: OnceLock<Option<String>> = OnceLock::new();

/// The id of the container this process runs in (`None`: on a host, or before Docker was
/// reached; then the mount table's candidate, unconfirmed).
pub fn container_id() -> Option<&'static str> {
    match OWN.get() {
        Some(own) => own.as_deref(),
        None => None,
    }
}

/// Finds and confirms the container this process runs in, once per process.
pub async fn resolve(docker: &Docker) {
    if OWN.get().is_some() {
        return;
    }
    let candidate = std::fs::read_to_string("/proc/self/mountinfo")
        .ok()
        .and_then(|m| hint_in(&m));
    let found = match candidate {
        Some(c) => Some(confirm(docker, &c).await.unwrap_or(c)),
        None => None,
    };
    if OWN.set(found.clone()).is_ok() {
        if let Some(id) = &found {
            tracing::info!(
                "Sickbay runs in container {}: it leaves that container alone",
                &id[..12.min(id.len())]
            );
        }
    }
}

/// The container, among `candidate` and the running containers joined to its network, in
/// which a file this process just wrote is found. `None`: no file could be written, or none
/// of them has it.
async fn confirm(docker: &Docker, candidate: &str) -> Option<String> {
    let token = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
    let dir = crate::paths::data_dir();
    let dir = if dir.is_dir() {
        dir
    } else {
        std::env::temp_dir()
    };
    let marker = dir.join(format!(".sickbay-own-{token}"));
    std::fs::write(&marker, &token).ok()?;
    let path = marker.display().to_string();
    let mut ids = vec![candidate.to_string()];
    let mut filters: HashMap<String, Vec<String>> = HashMap::new();
    filters.insert("status".into(), vec!["running".into()]);
    let joined = format!("container:{candidate}");
    if let Ok(list) = docker
        .client
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
    {
        ids.extend(list.into_iter().filter_map(|c| {
            let mode = c.host_config.and_then(|h| h.network_mode);
            (mode.as_deref() == Some(joined.as_str()))
                .then_some(c.id)
                .flatten()
        }));
    }
    let mut found = None;
    for id in ids {
        if holds(docker, &id, &path, &token).await {
            found = Some(id);
            break;
        }
    }
    let _ = std::fs::remove_file(&marker);
    found
}

/// Whether Docker reads the file at `path`, holding `token`, from container `id`.
async fn holds(docker: &Docker, id: &str, path: &str, token: &str) -> bool {
    let opts = DownloadFromContainerOptionsBuilder::default()
        .path(path)
        .build();
    let mut archive = docker.client.download_from_container(id, Some(opts));
    let mut bytes = Vec::new();
    while let Some(chunk) = archive.next().await {
        match chunk {
            Ok(b) => bytes.extend_from_slice(&b),
            Err(_) => return false,
        }
        // A tar of one small file: its header and the token.
        if bytes.len() > 64 * 1024 {
            break;
        }
    }
    bytes.windows(token.len()).any(|w| w == token.as_bytes())
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
