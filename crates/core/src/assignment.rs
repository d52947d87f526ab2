//! R-USR-1/2/5/6: what assigning a person to Flex on a team does, given where they stand there.
//! The store reads the standing, asks [`plan_assign`], and writes what it says.

use crate::error::DomainError;

/// A current assignment: an invited person has not accepted yet; an active one may open products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignmentStatus {
    Invited,
    Active,
}

impl AssignmentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AssignmentStatus::Invited => "invited",
            AssignmentStatus::Active => "active",
        }
    }

    pub fn parse(s: &str) -> Option<AssignmentStatus> {
        [AssignmentStatus::Invited, AssignmentStatus::Active]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// Where a person stands on a team before an assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Never assigned to this team.
    Never,
    /// Assigned once, unassigned since (R-USR-6: the row and its history stay).
    Removed,
    Current(AssignmentStatus),
}

/// How an assignment arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// An admin assigns this person: assigning someone already there is a mistake to report.
    Individual,
    /// A line of an import: importing the same file again must change nothing (R-USR-5).
    Import,
}

/// What to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignPlan {
    /// Create (never assigned) or revive (removed) the assignment with this status and the given
    /// selection; an invited person gets a new invitation, replacing any open one.
    Assign { status: AssignmentStatus },
    /// Already on the team, by an import: at most the selection changes.
    KeepAssignment,
}

/// R-USR-1/2/5: a person with an account is active at once; anyone else is invited. Someone
/// already on the team is refused when assigned individually (409 `already_assigned` or
/// `already_invited`, naming their address) and kept as they are by an import.
pub fn plan_assign(
    standing: Standing,
    has_account: bool,
    arrival: Arrival,
    email: &str,
) -> Result<AssignPlan, DomainError> {
    match (standing, arrival) {
        (Standing::Current(_), Arrival::Import) => Ok(AssignPlan::KeepAssignment),
        (Standing::Current(AssignmentStatus::Active), Arrival::Individual) => {
            Err(DomainError::AlreadyAssigned {
                email: email.to_owned(),
            })
        }
        (Standing::Current(AssignmentStatus::Invited), Arrival::Individual) => {
            Err(DomainError::AlreadyInvited {
                email: email.to_owned(),
            })
        }
        (Standing::Never | Standing::Removed, _) => Ok(AssignPlan::Assign {
            status: if has_account {
                AssignmentStatus::Active
            } else {
                AssignmentStatus::Invited
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use AssignmentStatus::{Active, Invited};

    #[test]
    fn r_usr_1_2_accounts_are_active_at_once_others_invited_removed_ones_come_back() {
        for standing in [Standing::Never, Standing::Removed] {
            for arrival in [Arrival::Individual, Arrival::Import] {
                assert_eq!(
                    plan_assign(standing, true, arrival, "a@x.com"),
                    Ok(AssignPlan::Assign { status: Active })
                );
                assert_eq!(
                    plan_assign(standing, false, arrival, "a@x.com"),
                    Ok(AssignPlan::Assign { status: Invited })
                );
            }
        }
    }

    #[test]
    fn r_usr_5_someone_already_there_is_refused_individually_and_kept_by_an_import() {
        let e = plan_assign(
            Standing::Current(Active),
            true,
            Arrival::Individual,
            "a@x.com",
        )
        .unwrap_err();
        assert_eq!(e.code(), crate::ErrorCode::AlreadyAssigned);
        assert!(e.to_string().contains("a@x.com"), "{e}");
        let e = plan_assign(
            Standing::Current(Invited),
            false,
            Arrival::Individual,
            "b@x.com",
        )
        .unwrap_err();
        assert_eq!(e.code(), crate::ErrorCode::AlreadyInvited);
        assert!(e.to_string().contains("resend"), "{e}");
        for status in [Active, Invited] {
            assert_eq!(
                plan_assign(Standing::Current(status), true, Arrival::Import, "a@x.com"),
                Ok(AssignPlan::KeepAssignment)
            );
        }
        assert_eq!(AssignmentStatus::parse("active"), Some(Active));
        assert_eq!(AssignmentStatus::parse("gone"), None);
    }
}
