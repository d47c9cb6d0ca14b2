//! The heal actions themselves, each run in a task of its own: a restart, the cache clear
//! (a fixed script in the container, the paths as arguments), a compose recreate or rebuild.
//! They report through a `Msg::ActionDone`; they never touch the engine's state.

use super::*;

/// One action to run on a container, with what it needs.
pub(super) struct Job {
    pub(super) docker: Docker,
    pub(super) id: ContainerId,
    /// The action's number: its result carries it back.
    pub(super) seq: u64,
    pub(super) stop_timeout: u64,
    pub(super) service: Option<crate::docker::stack::Service>,
    pub(super) name: String,
    pub(super) work: Work,
}

/// What a [`Job`] does.
pub(super) enum Work {
    /// A rung of the heal ladder; its result comes back as `Msg::ActionDone`.
    Heal {
        action: HealAction,
        paths: Vec<String>,
    },
    /// A dependent started, restarted or recreated for its dependency (`parent`: its
    /// namespace parent, whose namespace it is checked against afterwards); its result comes
    /// back as `Msg::Followed`.
    Follow {
        action: dependencies::Follow,
        dependency: String,
        parent: Option<ContainerId>,
    },
    /// A restart a person asked for (`by`: where); its result comes back as `Msg::Asked`.
    Asked { by: String },
}

/// Where a job's result goes.
enum Reply {
    Heal(HealAction),
    Follow(dependencies::Follow, String),
    Asked(String),
}

/// What a job came to: its result, the container that took this one's place (a compose
/// recreate makes a new one) and, for a follow, whether the namespace is shared.
type Outcome = (Result<(), String>, Option<ContainerInfo>, Option<bool>);

/// Runs `job` in a task and sends its result to the engine. The result always comes back,
/// also when the action's task panics; one that never comes is the policy's deadline to end
/// (`Decision::ActionTimedOut`).
pub(super) fn spawn(job: Job, tx: mpsc::Sender<Msg>) {
    use dependencies::{Follow, Followed};
    let Job {
        docker,
        id,
        seq,
        stop_timeout,
        service,
        name,
        work,
    } = job;
    // What the answer says, whatever the task comes to.
    let (what, reply) = match &work {
        Work::Heal { action, .. } => (action.as_str(), Reply::Heal(*action)),
        Work::Follow {
            action, dependency, ..
        } => (action.as_str(), Reply::Follow(*action, dependency.clone())),
        Work::Asked { by } => ("restart", Reply::Asked(by.clone())),
    };
    let cid = id.clone();
    let task = tokio::spawn(async move {
        let cid = &cid;
        let restart = || async {
            docker
                .restart(cid, stop_timeout)
                .await
                .map_err(|e| e.to_string())
        };
        match work {
            Work::Heal { action, paths } => {
                let (result, replaced_by) = match action {
                    HealAction::ClearCache => (clear_cache(&docker, cid, &paths).await, None),
                    HealAction::Restart => (restart().await, None),
                    HealAction::Recreate | HealAction::Rebuild => {
                        recreate(&docker, service, action, &name).await
                    }
                };
                (result, replaced_by, None)
            }
            Work::Follow { action, parent, .. } => {
                let (result, replaced_by) = match action {
                    Follow::Start => (docker.start(cid).await.map_err(|e| e.to_string()), None),
                    Follow::Restart => (restart().await, None),
                    Follow::Recreate => {
                        recreate(&docker, service, HealAction::Recreate, &name).await
                    }
                };
                let now = replaced_by.as_ref().map_or(cid.clone(), |n| n.id.clone());
                let namespace = match (&result, &parent) {
                    (Ok(()), Some(p)) if action != Follow::Recreate => {
                        same_namespace(&docker, &now, p).await
                    }
                    _ => None,
                };
                (result, replaced_by, namespace)
            }
            Work::Asked { .. } => (restart().await, None, None),
        }
    });
    tokio::spawn(async move {
        let (result, replaced_by, namespace): Outcome = match task.await {
            Ok(done) => done,
            Err(e) => (Err(format!("the {what} task failed: {e}")), None, None),
        };
        let msg = match reply {
            Reply::Heal(action) => Msg::ActionDone {
                id,
                seq,
                action,
                result,
                replaced_by,
            },
            Reply::Follow(action, dependency) => Msg::Followed(Box::new(Followed {
                id,
                seq,
                dependency,
                action,
                result,
                namespace,
                replaced_by,
            })),
            Reply::Asked(by) => Msg::Asked {
                id,
                seq,
                by,
                result,
            },
        };
        // The engine has stopped when this fails: nobody is left to tell.
        let _ = tx.send(msg).await;
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

/// Whether two containers share one network namespace: each one's `/proc/self/ns/net` as a
/// process inside it sees it. `None` when either cannot tell (no `readlink` in the image).
async fn same_namespace(docker: &Docker, a: &ContainerId, b: &ContainerId) -> Option<bool> {
    let netns = |id: &ContainerId| {
        let id = id.clone();
        async move {
            let cmd = ["readlink", "/proc/self/ns/net"].map(String::from).to_vec();
            match docker.exec(&id, cmd).await {
                Ok((0, out)) if out.trim().starts_with("net:[") => Some(out.trim().to_string()),
                _ => None,
            }
        }
    };
    let (x, y) = tokio::join!(netns(a), netns(b));
    Some(x? == y?)
}
