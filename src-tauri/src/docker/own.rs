//! The container Sickbay itself runs in, if any: Sickbay never watches, heals or stops it
//! (`monitor::watched`). Docker bind-mounts `/etc/hostname` (and `hosts`, `resolv.conf`) from
//! the container's own folder, `<docker root>/containers/<id>/`, so the mount table of this
//! process names the id, also with a private cgroup namespace (where `/proc/self/cgroup` says
//! only `0::/`) and whatever `--hostname` was given. On the host, no such mount is at
//! `/etc/hostname` (a container's `shm`, mounted on the host, is elsewhere).

use std::sync::OnceLock;

/// The id of the container this process runs in, read once.
pub fn container_id() -> Option<&'static str> {
    static OWN: OnceLock<Option<String>> = OnceLock::new();
    OWN.get_or_init(|| {
        let found = std::fs::read_to_string("/proc/self/mountinfo")
            .ok()
            .and_then(|m| id_in(&m));
        if let Some(id) = &found {
            tracing::info!(
                "Sickbay runs in container {}: it leaves that container alone",
                &id[..12]
            );
        }
        found
    })
    .as_deref()
}

/// The container id in a mount table (`/proc/self/mountinfo`): the 64 hex digits after
/// `/containers/` in the root of the mount at `/etc/hostname`.
pub fn id_in(mountinfo: &str) -> Option<String> {
    mountinfo.lines().find_map(|line| {
        // id parent major:minor root mount-point options ...
        let mut fields = line.split(' ');
        let root = fields.nth(3)?;
        let point = fields.next()?;
        if point != "/etc/hostname" {
            return None;
        }
        let (_, after) = root.split_once("/containers/")?;
        let id = after.split('/').next()?;
        (id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| id.to_ascii_lowercase())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f1c9a5e2b7d4c6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f";

    #[test]
    fn a_container_finds_its_id_in_the_hostname_mount() {
        let table = format!(
            "612 540 0:61 / / rw,relatime master:303 - overlay overlay rw,lowerdir=/x\n\
             620 612 8:1 /var/lib/docker/containers/{ID}/resolv.conf /etc/resolv.conf rw - ext4 /dev/sda1 rw\n\
             621 612 8:1 /var/lib/docker/containers/{ID}/hostname /etc/hostname rw - ext4 /dev/sda1 rw\n"
        );
        assert_eq!(id_in(&table).as_deref(), Some(ID));
    }

    #[test]
    fn the_host_is_no_container_even_with_containers_mounted() {
        // A container's shm is mounted in the host's namespace.
        let table = format!(
            "25 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n\
             900 25 0:70 / /var/lib/docker/containers/{ID}/mounts/shm rw - tmpfs shm rw\n"
        );
        assert_eq!(id_in(&table), None);
        // Not an id: a hostname mount from elsewhere.
        assert_eq!(
            id_in("5 1 8:1 /srv/containers/web/hostname /etc/hostname rw - ext4 /dev/sda1 rw\n"),
            None
        );
    }
}
