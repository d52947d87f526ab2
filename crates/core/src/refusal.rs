//! Why a sign-in is refused (R-SES-1): a leaf, so that errors and the session rules can both
//! name it without depending on each other.

use crate::code::ErrorCode;

/// The stable reasons a sign-in is refused (R-SES-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotAssigned,
    InvitationPending,
    ProductNotAllowed,
    UnknownProduct,
    TeamClosed,
}

impl Refusal {
    pub fn code(self) -> ErrorCode {
        match self {
            Refusal::NotAssigned => ErrorCode::NotAssigned,
            Refusal::InvitationPending => ErrorCode::InvitationPending,
            Refusal::ProductNotAllowed => ErrorCode::ProductNotAllowed,
            Refusal::UnknownProduct => ErrorCode::UnknownProduct,
            Refusal::TeamClosed => ErrorCode::TeamClosed,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Refusal::NotAssigned => {
                "you are not assigned to Flex on this team; ask its administrator"
            }
            Refusal::InvitationPending => {
                "accept your invitation (see your email) before signing in"
            }
            Refusal::ProductNotAllowed => "your administrator has not given you this product",
            Refusal::UnknownProduct => "no such product in the catalogue",
            Refusal::TeamClosed => "this team was merged into another; sign in with that team",
        }
    }
}
