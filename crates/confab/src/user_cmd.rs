//! `confab user`: the built-in users who sign in to the Meet app with a
//! password and, optionally, a one-time code from an authenticator app.
//! Passwords come from standard input (or CONFAB_USER_PASSWORD), never from
//! the command line, where other users could read them.

use std::io::BufRead as _;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Subcommand;
use confab_signal::login;
use confab_store::{Store, User};

#[derive(Subcommand)]
pub enum UserAction {
    /// Add a user; reads the password from stdin (or CONFAB_USER_PASSWORD).
    Add {
        username: String,
        /// Display name (default: the username).
        #[arg(long)]
        name: Option<String>,
        /// The user moderates every meeting it joins.
        #[arg(long)]
        moderator: bool,
        /// Require a one-time code; prints the secret to add to an authenticator app.
        #[arg(long)]
        totp: bool,
    },
    /// List users (never their password hashes or secrets).
    List,
    Remove {
        username: String,
    },
    /// Give a user a new TOTP secret (prints it), e.g. after a lost phone.
    ResetTotp {
        username: String,
    },
}

pub fn run(database_url: &str, action: UserAction) -> Result<String, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let store = Store::open(database_url).await.map_err(|e| e.to_string())?;
        match action {
            UserAction::Add {
                username,
                name,
                moderator,
                totp,
            } => {
                let username = username.trim().to_string();
                if username.is_empty()
                    || username.len() > login::MAX_USERNAME
                    || username
                        .chars()
                        .any(|c| c.is_control() || c.is_whitespace())
                {
                    return Err(format!(
                        "a username is 1 to {} characters without spaces",
                        login::MAX_USERNAME
                    ));
                }
                let password = read_password()?;
                let (secret, url) = if totp {
                    let (s, u) = login::new_totp(&username)?;
                    (Some(s), Some(u))
                } else {
                    (None, None)
                };
                store
                    .add_user(&User {
                        username: username.clone(),
                        display_name: name.unwrap_or_else(|| username.clone()),
                        password_hash: login::hash_password(&password)?,
                        totp_secret: secret.clone(),
                        moderator,
                        created_at: SystemTime::now()
                            .duration_since(UNIX_EPOCH)
                            .map(|d| d.as_secs() as i64)
                            .unwrap_or(0),
                    })
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(match (secret, url) {
                    (Some(s), Some(u)) => {
                        format!("added {username}\ntotp secret: {s}\nauthenticator URL: {u}")
                    }
                    _ => format!("added {username}"),
                })
            }
            UserAction::List => {
                let users = store.users().await.map_err(|e| e.to_string())?;
                let mut out = String::from("username\tname\tmoderator\ttotp");
                for u in users {
                    out.push_str(&format!(
                        "\n{}\t{}\t{}\t{}",
                        u.username,
                        u.display_name,
                        if u.moderator { "yes" } else { "no" },
                        if u.totp_secret.is_some() { "yes" } else { "no" }
                    ));
                }
                Ok(out)
            }
            UserAction::Remove { username } => {
                if store
                    .remove_user(&username)
                    .await
                    .map_err(|e| e.to_string())?
                {
                    Ok(format!("removed {username}"))
                } else {
                    Err(format!("no user {username:?}"))
                }
            }
            UserAction::ResetTotp { username } => {
                let (secret, url) = login::new_totp(&username)?;
                if store
                    .set_totp(&username, Some(&secret))
                    .await
                    .map_err(|e| e.to_string())?
                {
                    Ok(format!(
                        "new totp secret for {username}: {secret}\nauthenticator URL: {url}"
                    ))
                } else {
                    Err(format!("no user {username:?}"))
                }
            }
        }
    })
}

fn read_password() -> Result<String, String> {
    let password = match std::env::var("CONFAB_USER_PASSWORD") {
        Ok(p) => p,
        Err(_) => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| e.to_string())?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    if password.len() < 8 || password.len() > login::MAX_PASSWORD {
        return Err(format!(
            "a password is 8 to {} bytes (give it on stdin or in CONFAB_USER_PASSWORD)",
            login::MAX_PASSWORD
        ));
    }
    Ok(password)
}
