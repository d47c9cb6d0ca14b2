//! The heal actions themselves, each run in a task of its own: a restart, the cache clear
//! (a fixed script in the container, the paths as arguments), a compose recreate or rebuild.
//! They report through a `Msg::ActionDone`; they never touch the engine's state.

use super::*;

/// One heal action to run, with what it needs.
pub(super) struct Job {
    pub(super) docker: Docker,
    pub(super) id: ContainerId,
    /// The action's number: its result carries it back.
    pub(super) seq: u64,
    pub(super) action: HealAction,
    pub(super) paths: Vec<String>,
    pub(super) stop_timeout: u64,
    pub(super) service: Option<crate::docker::stack::Service>,
    pub(super) name: String,
}

/// Runs `job` in a task and sends its result to the engine. The result always comes back,
/// also when the action's task panics; one that never comes is the policy's deadline to end
/// (`Decision::ActionTimedOut`).
pub(super) fn spawn(job: Job, tx: mpsc::Sender<Msg>) {
    let Job {
        docker,
        id,
        seq,
        action,
        paths,
        stop_timeout,
        service,
        name,
    } = job;
    let cid = id.clone();
    let work = tokio::spawn(async move {
        let cid = &cid;
        match action {
            HealAction::ClearCache => (clear_cache(&docker, cid, &paths).await, None),
            HealAction::Restart => (
                docker
                    .restart(cid, stop_timeout)
                    .await
                    .map_err(|e| e.to_string()),
                None,
            ),
            HealAction::Recreate | HealAction::Rebuild => {
                recreate(&docker, service, action, &name).await
            }
        }
    });
    tokio::spawn(async move {
        let (result, replaced_by) = match work.await {
            Ok(done) => done,
            Err(e) => (
                Err(format!("the {} task failed: {e}", action.as_str())),
                None,
            ),
        };
        // The engine has stopped when this fails: nobody is left to tell.
        let _ = tx
            .send(Msg::ActionDone {
                id,
                seq,
                action,
                result,
                replaced_by,
            })
            .await;
    });
}

/// Recreates a compose service's container (after building its image, for `rebuild`).
/// Returns how it went and the container that now has the name, whatever the outcome: compose
/// may have replaced the container before failing, and the incident follows the new one.
async fn recreate(
    docker: &Docker,
    service: Option<crate::docker::stack::Service>,
    action: HealAction,
    name: &str,
) -> (Result<(), String>, Option<ContainerInfo>) {
    use crate::docker::stack::{self, Op, Tool};
    let Some(service) = service else {
        return (Err("the container is not a compose service".into()), None);
    };
    // Finding compose runs it (`version`): not on the runtime's threads.
    let tool = tokio::task::spawn_blocking(Tool::cached)
        .await
        .ok()
        .flatten();
    let Some(tool) = tool else {
        return (Err(stack::ComposeError::NotInstalled.to_string()), None);
    };
    // The build and the recreate together: a user's start or stop of the stack waits.
    let _held = stack::lock(&service.project).await;
    let build = if action == HealAction::Rebuild {
        let op = Op::Build(service.service.clone());
        stack::run(tool, &service.project, &op, |_| {}).await
    } else {
        Ok(())
    };
    let result = match build {
        Ok(()) => {
            let op = Op::Recreate(service.service);
            stack::run(tool, &service.project, &op, |_| {}).await
        }
        Err(e) => Err(e),
    };
    let now = docker.inspect(&ContainerId(name.to_string())).await;
    let result = match (result, &now) {
        (Err(e), _) => Err(e.to_string()),
        (Ok(()), Err(e)) => Err(format!(
            "the recreated container {name} cannot be found: {e}"
        )),
        (Ok(()), Ok(_)) => Ok(()),
    };
    (result, now.ok())
}

/// Empties each cache folder inside the container, keeping the folder itself. The paths
/// were validated (absolute, no `..`, not a system folder) and are passed as arguments,
/// never spliced into the shell text.
async fn clear_cache(docker: &Docker, id: &ContainerId, paths: &[String]) -> Result<(), String> {
    let script = r#"status=0
for d in "$@"; do
  [ -d "$d" ] || continue
  find "$d" -mindepth 1 -maxdepth 1 -exec rm -rf -- {} + || status=1
done
exit $status"#;
    let mut cmd = vec![
        "sh".to_string(),
        "-c".to_string(),
        script.to_string(),
        "sh".to_string(),
    ];
    cmd.extend(paths.iter().cloned());
    match docker.exec(id, cmd).await {
        Ok((0, _)) => Ok(()),
        Ok((code, out)) => Err(format!("exit code {code}: {}", out.trim())),
        Err(e) => Err(e.to_string()),
    }
}
