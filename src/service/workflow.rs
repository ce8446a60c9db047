//! The lifecycles of cases and referrals: which status may follow which, defined once and checked here.
//! Every mutation that changes a status asks [`check_case`] or [`check_referral`]; an illegal move is
//! `CONFLICT`, naming the current status.

use entity::enums::{CaseStatus, ReferralStatus};

use crate::error::{AppError, AppResult};

/// The statuses a case may move to from `from`.
///
/// NEW -> ASSESSMENT | CLOSED; ASSESSMENT -> IN_SERVICE | REFERRED | CLOSED; IN_SERVICE -> REFERRED |
/// CLOSED; REFERRED -> IN_SERVICE (the partner declined, the referral expired or was withdrawn) | CLOSED;
/// CLOSED -> REOPENED; REOPENED -> ASSESSMENT | CLOSED.
pub fn case_successors(from: CaseStatus) -> &'static [CaseStatus] {
    use CaseStatus::*;
    match from {
        New => &[Assessment, Closed],
        Assessment => &[InService, Referred, Closed],
        InService => &[Referred, Closed],
        Referred => &[InService, Closed],
        Closed => &[Reopened],
        Reopened => &[Assessment, Closed],
    }
}

/// The statuses a referral may move to from `from`: SENT -> ACCEPTED | DECLINED | WITHDRAWN | EXPIRED;
/// ACCEPTED -> COMPLETED | WITHDRAWN. DECLINED, COMPLETED, WITHDRAWN and EXPIRED are final.
pub fn referral_successors(from: ReferralStatus) -> &'static [ReferralStatus] {
    use ReferralStatus::*;
    match from {
        Sent => &[Accepted, Declined, Withdrawn, Expired],
        Accepted => &[Completed, Withdrawn],
        Declined | Completed | Withdrawn | Expired => &[],
    }
}

fn names<T: Copy>(statuses: &[T], name: impl Fn(T) -> &'static str) -> String {
    if statuses.is_empty() {
        "none: it is final".to_owned()
    } else {
        statuses.iter().map(|s| name(*s)).collect::<Vec<_>>().join(", ")
    }
}

/// Refuses a case move the lifecycle does not allow.
pub fn check_case(from: CaseStatus, to: CaseStatus) -> AppResult<()> {
    if case_successors(from).contains(&to) {
        return Ok(());
    }
    Err(AppError::Conflict(format!(
        "the case is {}; it cannot become {} (allowed next: {})",
        from.as_str(),
        to.as_str(),
        names(case_successors(from), CaseStatus::as_str)
    )))
}

/// Refuses a referral move the lifecycle does not allow.
pub fn check_referral(from: ReferralStatus, to: ReferralStatus) -> AppResult<()> {
    if referral_successors(from).contains(&to) {
        return Ok(());
    }
    Err(AppError::Conflict(format!(
        "the referral is {}; it cannot become {} (allowed next: {})",
        from.as_str(),
        to.as_str(),
        names(referral_successors(from), ReferralStatus::as_str)
    )))
}
