//! The actions (POST handlers): approve or reject held deletes, retry or dismiss a quarantined
//! record, reset a user. Each is a checked POST ([`Action`]: session, CSRF token, origin), calls
//! the engine's admin API with the actor [`ACTOR`] (the engine writes the audit entries), then
//! redirects (303) to the user's page with a flash message. None calls a connector: what they
//! decide takes effect in the user's next cycle.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tandem_core::model::ObjectKind;
use tandem_core::state::{RecordId, Side};

use super::auth::{Action, CsrfForm, Flash};
use super::pages::known;
use super::{ACTOR, WebError, WebState, path_segment};

fn object_of(text: &str) -> Result<Option<ObjectKind>, WebError> {
    match text {
        "" | "all" => Ok(None),
        "contact" | "contacts" => Ok(Some(ObjectKind::Contact)),
        "event" | "events" => Ok(Some(ObjectKind::Event)),
        other => Err(WebError::BadForm(format!("unknown object `{other}`"))),
    }
}

fn side_of(text: &str) -> Result<Side, WebError> {
    match text {
        "crm" => Ok(Side::Crm),
        "mailbox" => Ok(Side::Mailbox),
        other => Err(WebError::BadForm(format!("unknown side `{other}`"))),
    }
}

fn plural(n: usize, one: &str) -> String {
    if n == 1 { format!("1 {one}") } else { format!("{n} {one}s") }
}

/// Back to the user's page, with `flash` shown there.
fn back<T>(state: &WebState, action: &Action<T>, user: &str, ok: bool, text: String) -> Response {
    state.auth().set_flash(&action.admin, Flash { ok, text });
    Redirect::to(&format!("/users/{}", path_segment(user))).into_response()
}

/// The held-deletes forms: the object (`contact`, `event`, or empty for both).
#[derive(Debug, Deserialize)]
pub(crate) struct HeldForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    object: String,
}

impl CsrfForm for HeldForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_deref()
    }
}

/// `POST /users/{user}/held/approve`.
pub(crate) async fn approve_held(
    State(state): State<WebState>,
    Path(user): Path<String>,
    action: Action<HeldForm>,
) -> Result<Response, WebError> {
    let user = known(&state, &user).await?.user;
    let n = state.engine().approve_held_deletes(&user, object_of(&action.form.object)?, ACTOR).await?;
    let text = if n == 0 {
        "No held delete waited for approval.".to_owned()
    } else {
        format!("Approved {}; the next cycle applies them.", plural(n, "held delete"))
    };
    Ok(back(&state, &action, &user, n > 0, text))
}

/// `POST /users/{user}/held/reject`.
pub(crate) async fn reject_held(
    State(state): State<WebState>,
    Path(user): Path<String>,
    action: Action<HeldForm>,
) -> Result<Response, WebError> {
    let user = known(&state, &user).await?.user;
    let n = state.engine().reject_held_deletes(&user, object_of(&action.form.object)?, ACTOR).await?;
    let text = if n == 0 {
        "No held delete to reject.".to_owned()
    } else {
        format!("Rejected {}; the next cycle restores the deleted records.", plural(n, "held delete"))
    };
    Ok(back(&state, &action, &user, n > 0, text))
}

/// The quarantine forms: one record.
#[derive(Debug, Deserialize)]
pub(crate) struct RecordForm {
    #[serde(default)]
    csrf: Option<String>,
    object: String,
    side: String,
    id: String,
}

impl CsrfForm for RecordForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_deref()
    }
}

impl RecordForm {
    fn parse(&self) -> Result<(ObjectKind, Side, RecordId), WebError> {
        let object = object_of(&self.object)?.ok_or_else(|| WebError::BadForm("an object is required".into()))?;
        Ok((object, side_of(&self.side)?, RecordId::new(self.id.clone())))
    }
}

/// `POST /users/{user}/quarantine/retry`.
pub(crate) async fn retry_quarantined(
    State(state): State<WebState>,
    Path(user): Path<String>,
    action: Action<RecordForm>,
) -> Result<Response, WebError> {
    let user = known(&state, &user).await?.user;
    let (object, side, id) = action.form.parse()?;
    let found = state.engine().retry_quarantined(&user, object, side, &id, ACTOR).await?;
    let text = if found {
        format!("Released {object} {} ({side}); the next cycle reads it again.", id.as_str())
    } else {
        format!("No quarantined {object} {} on {side}.", id.as_str())
    };
    Ok(back(&state, &action, &user, found, text))
}

/// `POST /users/{user}/quarantine/dismiss`.
pub(crate) async fn dismiss_quarantined(
    State(state): State<WebState>,
    Path(user): Path<String>,
    action: Action<RecordForm>,
) -> Result<Response, WebError> {
    let user = known(&state, &user).await?.user;
    let (object, side, id) = action.form.parse()?;
    let found = state.engine().dismiss_quarantined(&user, object, side, &id, ACTOR).await?;
    let text = if found {
        format!("Dismissed {object} {} ({side}); it syncs again when it changes.", id.as_str())
    } else {
        format!("No quarantined {object} {} on {side}.", id.as_str())
    };
    Ok(back(&state, &action, &user, found, text))
}

/// The reset form: the object, and the confirmation box.
#[derive(Debug, Deserialize)]
pub(crate) struct ResetForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    object: String,
    #[serde(default)]
    confirm: Option<String>,
}

impl CsrfForm for ResetForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_deref()
    }
}

/// `POST /users/{user}/reset`: only with the confirmation box ticked.
pub(crate) async fn reset(
    State(state): State<WebState>,
    Path(user): Path<String>,
    action: Action<ResetForm>,
) -> Result<Response, WebError> {
    let user = known(&state, &user).await?.user;
    if action.form.confirm.as_deref() != Some("yes") {
        state.auth().set_flash(
            &action.admin,
            Flash { ok: false, text: "Nothing was reset: tick the confirmation box first.".to_owned() },
        );
        return Ok(Redirect::to(&format!("/users/{}/reset", path_segment(&user))).into_response());
    }
    let object = object_of(&action.form.object)?;
    state.engine().reset_user_by(&user, object, ACTOR).await?;
    let what = object.map_or_else(|| "contacts and events".to_owned(), |o| format!("{o}s"));
    let text = format!("Reset {user} ({what}); the next cycle reads both sides in full and re-links by matching.");
    Ok(back(&state, &action, &user, true, text))
}
