//! Webhooks: what happens in rooms and recordings, posted to the URLs the
//! operator configured, in LiveKit's format so `livekit-server-sdk`'s
//! `WebhookReceiver` (and the other server SDKs') accept them unchanged.
//!
//! Each event is a JSON `WebhookEvent` (`room_started`, `participant_joined`,
//! `track_published`, `egress_started`, …) sent as `application/webhook+json`
//! with an `Authorization` token signed by an API key that carries the body's
//! SHA-256. A collector turns room activity and recording updates into
//! bodies; each URL has its own sender with a bounded queue, so a slow or
//! dead endpoint delays only itself and never a room: when its queue is full,
//! new events for it are dropped and counted. A failed post is retried with
//! backoff (0.5, 1, 2, 4 s) before it is given up.

use std::sync::Arc;
use std::time::Duration;

use confab_record::{Stage, Update};
use confab_room::Activity;
use livekit_protocol as lk;
use tokio::sync::{broadcast, mpsc};

use crate::{AppState, convert};

/// Events waiting for one URL; more are dropped.
const QUEUE: usize = 1000;
/// Tries per event and URL.
const ATTEMPTS: u32 = 5;
const FIRST_RETRY: Duration = Duration::from_millis(500);
const POST_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Default)]
pub struct WebhookSettings {
    /// Where events go; none turns webhooks off.
    pub urls: Vec<String>,
    /// The API key that signs them (the first configured key when `None`).
    pub api_key: Option<String>,
}

/// Start posting events for the server's life.
pub fn start(state: Arc<AppState>, settings: WebhookSettings) {
    if settings.urls.is_empty() {
        return;
    }
    let mut queues = Vec::new();
    for url in settings.urls {
        let (tx, rx) = mpsc::channel::<Arc<str>>(QUEUE);
        tokio::spawn(deliver(
            state.clone(),
            settings.api_key.clone(),
            url.clone(),
            rx,
        ));
        queues.push((url, tx));
    }
    let mut activity = state.rooms.activity();
    let mut recordings = state.recorder.updates();
    tokio::spawn(async move {
        loop {
            let event = tokio::select! {
                a = activity.recv() => match a {
                    Ok(a) => from_activity(a),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!("webhooks fell {n} room events behind; those were not sent");
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                r = recordings.recv() => match r {
                    Ok(update) => from_recording(update),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!("webhooks fell {n} recording updates behind; those were not sent");
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            };
            let body: Arc<str> = match serde_json::to_string(&event) {
                Ok(b) => b.into(),
                Err(e) => {
                    tracing::warn!("cannot encode webhook {}: {e}", event.event);
                    continue;
                }
            };
            for (url, queue) in &queues {
                if queue.try_send(body.clone()).is_err() {
                    tracing::warn!(%url, "webhook queue full: {} dropped", event.event);
                }
            }
        }
    });
}

async fn deliver(
    state: Arc<AppState>,
    api_key: Option<String>,
    url: String,
    mut queue: mpsc::Receiver<Arc<str>>,
) {
    while let Some(body) = queue.recv().await {
        let mut wait = FIRST_RETRY;
        for attempt in 1..=ATTEMPTS {
            // Signed per attempt: the token's lifetime starts now.
            let Some(token) = state.keys.sign_webhook(api_key.as_deref(), body.as_bytes()) else {
                tracing::warn!("webhooks need an API key to sign with; none is configured");
                break;
            };
            let sent = state
                .http
                .post(&url)
                .header("Content-Type", "application/webhook+json")
                .header("Authorization", token)
                .body(body.to_string())
                .timeout(POST_TIMEOUT)
                .send()
                .await;
            let failure = match sent {
                Ok(r) if r.status().is_success() => break,
                Ok(r) => format!("answered {}", r.status()),
                Err(e) => e.to_string(),
            };
            if attempt == ATTEMPTS {
                tracing::warn!(%url, "webhook given up after {ATTEMPTS} tries: {failure}");
                break;
            }
            tracing::debug!(%url, "webhook try {attempt} failed: {failure}");
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
    }
}

fn event(name: &str) -> lk::WebhookEvent {
    lk::WebhookEvent {
        event: name.to_string(),
        id: confab_room::new_sid("EV_"),
        created_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64),
        ..Default::default()
    }
}

fn from_activity(a: Activity) -> lk::WebhookEvent {
    let (name, room, participant, track) = match a {
        Activity::RoomStarted(r) => ("room_started", r, None, None),
        Activity::RoomFinished(r) => ("room_finished", r, None, None),
        Activity::ParticipantJoined(r, p) => ("participant_joined", r, Some(p), None),
        Activity::ParticipantLeft(r, p) => ("participant_left", r, Some(p), None),
        Activity::TrackPublished(r, p, t) => ("track_published", r, Some(p), Some(t)),
        Activity::TrackUnpublished(r, p, t) => ("track_unpublished", r, Some(p), Some(t)),
    };
    lk::WebhookEvent {
        room: Some(convert::room(&room)),
        participant: participant.as_ref().map(convert::participant),
        track: track.as_ref().map(convert::track),
        ..event(name)
    }
}

fn from_recording(update: Update) -> lk::WebhookEvent {
    let name = match update.stage {
        Stage::Started => "egress_started",
        Stage::Updated => "egress_updated",
        Stage::Ended => "egress_ended",
    };
    lk::WebhookEvent {
        egress_info: Some(update.info),
        ..event(name)
    }
}
