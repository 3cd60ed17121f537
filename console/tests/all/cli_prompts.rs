//! The subcommands in-process with scripted answers: the confirmation paths that need a terminal.

use std::collections::VecDeque;
use std::time::Duration;

use control_plane::ids::{ClerkUserId, Handle, RuntimeSlot};
use control_plane::secret::Secret;
use matrix_console::cli::args::{DeleteArgs, MachineRef, RecoverArgs};
use matrix_console::cli::{Exit, Io, Prompt, delete, recover};
use matrix_console::client::PlatformClient;

use crate::support::Story;

/// Answers from a list, as an operator at a terminal would type them; records the questions.
struct Scripted {
    interactive: bool,
    answers: VecDeque<&'static str>,
    asked: Vec<String>,
}

impl Scripted {
    fn answering(answers: &[&'static str]) -> Self {
        Self {
            interactive: true,
            answers: answers.iter().copied().collect(),
            asked: Vec::new(),
        }
    }
}

impl Prompt for Scripted {
    fn is_interactive(&self) -> bool {
        self.interactive
    }
    fn ask(&mut self, question: &str) -> Option<String> {
        self.asked.push(question.to_owned());
        self.answers.pop_front().map(str::to_owned)
    }
}

struct Outcome {
    exit: Exit,
    out: String,
    err: String,
    asked: Vec<String>,
}

fn client(story: &Story) -> PlatformClient {
    PlatformClient::new(
        url::Url::parse(&story.fleet.platform_url).unwrap(),
        Secret::new(story.token()),
        Duration::from_secs(10),
    )
    .unwrap()
}

fn recover_args(user: &str, allow_empty: bool) -> RecoverArgs {
    RecoverArgs {
        user: ClerkUserId::parse(user).unwrap(),
        slot: RuntimeSlot::primary(),
        allow_empty,
        yes: false,
        json: false,
    }
}

async fn run_recover(
    story: &Story,
    args: &RecoverArgs,
    read_only: bool,
    mut prompt: Scripted,
) -> Outcome {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut io = Io {
        out: &mut out,
        err: &mut err,
        prompt: &mut prompt,
    };
    let exit = recover::run(&client(story), args, read_only, &mut io).await;
    Outcome {
        exit,
        out: String::from_utf8(out).unwrap(),
        err: String::from_utf8(err).unwrap(),
        asked: prompt.asked,
    }
}

async fn run_delete(story: &Story, handle: &str, mut prompt: Scripted) -> Outcome {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut io = Io {
        out: &mut out,
        err: &mut err,
        prompt: &mut prompt,
    };
    let args = DeleteArgs {
        machine: MachineRef::Handle(Handle::parse(handle).unwrap()),
        yes: false,
        json: false,
    };
    let exit = delete::run(&client(story), &args, false, &mut io).await;
    Outcome {
        exit,
        out: String::from_utf8(out).unwrap(),
        err: String::from_utf8(err).unwrap(),
        asked: prompt.asked,
    }
}

#[tokio::test]
async fn delete_asks_for_the_handle_and_anything_else_changes_nothing() {
    let story = Story::start().await;
    let alpha = story.running("user_alpha", "alpha").await;

    for wrong in [&["bravo"][..], &["ALPHA"], &["y"], &[]] {
        let o = run_delete(&story, "alpha", Scripted::answering(wrong)).await;
        assert_eq!(o.exit, Exit::NotConfirmed, "{wrong:?}: {}", o.err);
        assert_eq!(o.asked.len(), 1);
        assert!(o.asked[0].contains("(alpha)"), "{:?}", o.asked);
        assert!(o.out.is_empty());
        assert_eq!(story.status(&alpha).await.1["status"], "running");
    }

    let o = run_delete(&story, "alpha", Scripted::answering(&["alpha"])).await;
    assert_eq!(o.exit, Exit::Ok, "{}", o.err);
    assert!(o.out.contains("deleted alpha"), "{}", o.out);
    assert_eq!(story.status(&alpha).await.1["status"], "deleted");
}

#[tokio::test]
async fn recover_asks_once_and_a_no_changes_nothing() {
    let story = Story::start().await;
    let alpha = story.running("user_alpha", "alpha").await;
    story.back_up(&[&alpha]).await;

    let o = run_recover(
        &story,
        &recover_args("user_alpha", false),
        false,
        Scripted::answering(&["n"]),
    )
    .await;
    assert_eq!(o.exit, Exit::NotConfirmed, "{}", o.err);
    assert_eq!(o.asked.len(), 1, "{:?}", o.asked);
    assert!(o.asked[0].contains("[y/N]"), "{:?}", o.asked);
    assert_eq!(story.status(&alpha).await.1["status"], "running");

    let o = run_recover(
        &story,
        &recover_args("user_alpha", false),
        false,
        Scripted::answering(&["y"]),
    )
    .await;
    assert_eq!(o.exit, Exit::Ok, "{}", o.err);
    assert!(
        o.out.contains(&format!("old machine: {alpha}")),
        "{}",
        o.out
    );

    // A second recovery while the first is in flight is refused before asking anything.
    let o = run_recover(
        &story,
        &recover_args("user_alpha", false),
        false,
        Scripted::answering(&["y"]),
    )
    .await;
    assert_eq!(o.exit, Exit::Failed, "{}", o.err);
    assert!(o.asked.is_empty(), "{:?}", o.asked);
    assert!(o.err.contains("already recovering"), "{}", o.err);
}

#[tokio::test]
async fn recover_allow_empty_on_a_terminal_asks_a_second_question() {
    let story = Story::start().await;
    let charlie = story.running("user_charlie", "charlie").await;

    let o = run_recover(
        &story,
        &recover_args("user_charlie", true),
        false,
        Scripted::answering(&["y", "charlie"]),
    )
    .await;
    assert_eq!(o.exit, Exit::NotConfirmed, "{}", o.err);
    assert_eq!(o.asked.len(), 2, "{:?}", o.asked);
    assert!(
        o.asked[1].contains("EMPTY") && o.asked[1].contains("\"empty\""),
        "{:?}",
        o.asked
    );
    assert_eq!(story.status(&charlie).await.1["status"], "running");

    let o = run_recover(
        &story,
        &recover_args("user_charlie", true),
        false,
        Scripted::answering(&["y", "empty"]),
    )
    .await;
    assert_eq!(o.exit, Exit::Ok, "{}", o.err);
    let new_id = o
        .out
        .lines()
        .find_map(|l| l.strip_prefix("new machine: "))
        .expect("new id");
    assert_eq!(story.status(new_id).await.1["status"], "recovering");
}

#[tokio::test]
async fn read_only_is_enforced_where_the_actions_run() {
    let story = Story::start().await;
    let alpha = story.running("user_alpha", "alpha").await;
    let mut args = recover_args("user_alpha", true);
    args.yes = true;
    let o = run_recover(&story, &args, true, Scripted::answering(&[])).await;
    assert_eq!(o.exit, Exit::Usage, "{}", o.err);
    assert!(o.err.contains("read-only"), "{}", o.err);
    assert_eq!(story.status(&alpha).await.1["status"], "running");
}
