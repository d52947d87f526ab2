//! Turning the store's facts about an assignment into the email to queue (texts in
//! `jeton_core::mail`). Links point at this server's public address.

use jeton_core::mail::{self, Message};
use jeton_store::flex::MailFacts;

/// The page behind an invitation link (served by `routes::invitations`).
pub const ACCEPT_PATH: &str = "/invitations/accept";

pub fn accept_link(public_url: &str, secret: &str) -> String {
    format!("{public_url}{ACCEPT_PATH}?secret={secret}")
}

/// An invitation when the facts carry one, otherwise "access granted".
pub fn compose(public_url: &str, facts: &MailFacts) -> Message {
    match &facts.invitation {
        Some((secret, expires_at)) => mail::invitation(
            &facts.to,
            &facts.name,
            &facts.team,
            &facts.products,
            &accept_link(public_url, secret),
            *expires_at,
        ),
        None => mail::access_granted(&facts.to, &facts.name, &facts.team, &facts.products),
    }
}
