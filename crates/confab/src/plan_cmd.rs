//! `confab plan` and `GET /api/plan`: the capacity planner of `confab-plan`
//! on the command line and over HTTP.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use clap::Args;
use confab_plan::{Capacity, Catalog, Request, ViewMode};

/// Where the benchmark writes the capacity it measured.
pub const DEFAULT_CAPACITY_FILE: &str = "bench/results/capacity.json";

#[derive(Args, Debug)]
pub struct PlanArgs {
    /// Number of meetings at the same time.
    #[arg(long, default_value_t = 10)]
    meetings: u64,
    /// Participants per meeting.
    #[arg(long, default_value_t = 10)]
    participants: u64,
    /// Video ladder preset: 180p, 360p, 720p or 1080p.
    #[arg(long, default_value = "720p")]
    preset: String,
    /// Layer bitrates in Mbit/s, lowest first, instead of the preset's (e.g. 0.2,0.6,2.5).
    #[arg(long, value_delimiter = ',')]
    layers: Option<Vec<f64>>,
    /// Publishers send only their top layer.
    #[arg(long)]
    no_simulcast: bool,
    /// What receivers look at: speaker, grid or audio-only.
    #[arg(long, default_value = "speaker", value_parser = parse_view)]
    view: ViewMode,
    /// Allowance for bitrate peaks, multiplied into video bitrates.
    #[arg(long, default_value_t = 1.2)]
    fluctuation: f64,
    /// Audio bitrate per stream, kbit/s (0 leaves audio out, as the seed's examples do).
    #[arg(long, default_value_t = 32.0)]
    audio_kbps: f64,
    /// Machine type from the catalog.
    #[arg(long, default_value = "c5n.18xlarge")]
    instance: String,
    /// TOML catalog of machine types, replacing the built-in one.
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// Capacity measured by the benchmark (JSON); default bench/results/capacity.json if present.
    #[arg(long)]
    capacity: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn parse_view(s: &str) -> Result<ViewMode, String> {
    match s {
        "speaker" => Ok(ViewMode::Speaker),
        "grid" => Ok(ViewMode::Grid),
        "audio-only" | "audio" => Ok(ViewMode::AudioOnly),
        _ => Err(format!("{s:?}: use speaker, grid or audio-only")),
    }
}

pub fn load_catalog(path: Option<&Path>) -> Result<Catalog, String> {
    match path {
        None => Ok(Catalog::builtin()),
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            toml::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))
        }
    }
}

pub fn load_capacity(path: Option<&Path>) -> Result<Option<Capacity>, String> {
    let (path, required) = match path {
        Some(p) => (p, true),
        None => (Path::new(DEFAULT_CAPACITY_FILE), false),
    };
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(_) if !required => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

pub fn run(args: PlanArgs) -> Result<String, String> {
    let catalog = load_catalog(args.catalog.as_deref())?;
    let capacity = load_capacity(args.capacity.as_deref())?;
    let request = Request {
        meetings: args.meetings,
        participants: args.participants,
        preset: args.preset,
        layers: args.layers,
        simulcast: !args.no_simulcast,
        view: args.view,
        fluctuation: args.fluctuation,
        audio_kbps: args.audio_kbps,
        instance: args.instance,
    };
    let report = request
        .run(&catalog, capacity.as_ref())
        .map_err(|e| e.to_string())?;
    if args.json {
        serde_json::to_string_pretty(&report).map_err(|e| e.to_string())
    } else {
        Ok(confab_plan::render(&report.plan, &report.recommendation))
    }
}

pub struct PlanState {
    pub catalog: Catalog,
    pub capacity: Option<Capacity>,
}

/// `GET /api/plan?meetings=10&participants=10&preset=720p&view=grid&...`
/// (the fields of [`Request`]; `layers` comma-separated) → JSON report.
pub fn router(state: Arc<PlanState>) -> Router {
    Router::new()
        .route("/api/plan", get(plan))
        .with_state(state)
}

#[derive(serde::Deserialize)]
struct PlanQuery {
    layers: Option<String>,
    #[serde(flatten)]
    rest: std::collections::HashMap<String, String>,
}

async fn plan(State(state): State<Arc<PlanState>>, Query(q): Query<PlanQuery>) -> Response {
    let bad = |msg: String| {
        (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({ "error": msg })),
        )
            .into_response()
    };
    // Query strings are all text: give numbers and booleans their JSON types,
    // then let the planner's own deserializer check names and values.
    let mut fields = serde_json::Map::new();
    for (k, v) in q.rest {
        let value = serde_json::from_str::<serde_json::Value>(&v)
            .ok()
            .filter(|v| v.is_number() || v.is_boolean())
            .unwrap_or(serde_json::Value::String(v));
        fields.insert(k, value);
    }
    if let Some(layers) = q.layers {
        let parsed: Result<Vec<f64>, _> = layers.split(',').map(|l| l.trim().parse()).collect();
        match parsed {
            Ok(l) => {
                fields.insert("layers".into(), serde_json::json!(l));
            }
            Err(_) => return bad("layers: comma-separated numbers in Mbit/s".into()),
        }
    }
    let request: Request = match serde_json::from_value(serde_json::Value::Object(fields)) {
        Ok(r) => r,
        Err(e) => return bad(e.to_string()),
    };
    match request.run(&state.catalog, state.capacity.as_ref()) {
        Ok(report) => axum::Json(report).into_response(),
        Err(e) => bad(e.to_string()),
    }
}
