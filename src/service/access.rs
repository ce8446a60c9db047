//! Who may run which write command: one pure table ([`permits`]), checked by every command itself, so
//! that GraphQL, the command line and the background sweeps obey the same rule. Which *rows* a caller may
//! touch is not decided here but by the scoped lookups of [`Write::locked`](super::write::Write::locked).

use entity::enums::Role;

use crate::auth::Viewer;
use crate::error::{AppError, AppResult};

/// Who runs a command: a role holding an API key, or the server itself (the command line on the
/// server, the background sweeps), which needs no key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// A request made with an API key of this role.
    Key(Role),
    /// The server itself: `psm-api key ...`, `psm-api seed`, the expiry sweeps.
    Server,
}

impl Caller {
    /// The caller a viewer is.
    pub fn of(viewer: &Viewer) -> Caller {
        if viewer.key_id.is_none() && (viewer.label == SERVER_LABEL || viewer.label == COMMAND_LINE_LABEL) {
            Caller::Server
        } else {
            Caller::Key(viewer.role)
        }
    }
}

/// The audit label of the background sweeps.
pub const SERVER_LABEL: &str = "system";

/// The audit label of `psm-api` commands run on the server.
pub const COMMAND_LINE_LABEL: &str = "command line";

/// The viewer the server acts as: no key, the ADMIN role for reads, and `label` in the audit trail
/// ([`SERVER_LABEL`] or [`COMMAND_LINE_LABEL`]). [`Caller::of`] recognises it as [`Caller::Server`].
pub fn server_viewer(label: &'static str) -> Viewer {
    Viewer { label: label.to_owned(), ..Viewer::with_role(Role::Admin) }
}

/// Every write command of the domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    ReportCase,
    UpdateCase,
    ChangeCaseStatus,
    RegisterPerson,
    RecordConsent,
    RevokeConsent,
    SendReferral,
    AcceptReferral,
    DeclineReferral,
    CompleteReferral,
    WithdrawReferral,
    /// A referral nobody answered by its deadline expires (the sweeps).
    ExpireReferral,
    RegisterVolunteer,
    UpdateVolunteer,
    DeactivateVolunteer,
    RecordTrainingAttendance,
    RecordAward,
    CreateProgramme,
    UpdateProgramme,
    EnrolCase,
    RecordEnrollmentExit,
    RecordOutcome,
    VerifyOutcome,
    /// Creating an API key of the given role.
    CreateKey(Role),
    /// Revoking an API key of the given role.
    RevokeKey(Role),
}

impl Command {
    /// The operation's name: the GraphQL mutation it is, and how the audit trail and idempotency keys
    /// name it.
    pub fn name(self) -> &'static str {
        use Command::*;
        match self {
            ReportCase => "reportCase",
            UpdateCase => "updateCase",
            ChangeCaseStatus => "changeCaseStatus",
            RegisterPerson => "registerPerson",
            RecordConsent => "recordConsent",
            RevokeConsent => "revokeConsent",
            SendReferral => "sendReferral",
            AcceptReferral => "acceptReferral",
            DeclineReferral => "declineReferral",
            CompleteReferral => "completeReferral",
            WithdrawReferral => "withdrawReferral",
            ExpireReferral => "expireReferral",
            RegisterVolunteer => "registerVolunteer",
            UpdateVolunteer => "updateVolunteer",
            DeactivateVolunteer => "deactivateVolunteer",
            RecordTrainingAttendance => "recordTrainingAttendance",
            RecordAward => "recordAward",
            CreateProgramme => "createProgramme",
            UpdateProgramme => "updateProgramme",
            EnrolCase => "enrolCase",
            RecordEnrollmentExit => "recordEnrollmentExit",
            RecordOutcome => "recordOutcome",
            VerifyOutcome => "verifyOutcome",
            CreateKey(_) => "createApiKey",
            RevokeKey(_) => "revokeApiKey",
        }
    }

    /// What the command does, for "a PARTNER key may not ..." messages.
    fn doing(self) -> &'static str {
        use Command::*;
        match self {
            ReportCase => "report cases",
            UpdateCase => "update cases",
            ChangeCaseStatus => "change the status of cases",
            RegisterPerson => "register persons",
            RecordConsent => "record consents",
            RevokeConsent => "revoke consents",
            SendReferral => "send referrals",
            AcceptReferral | DeclineReferral | CompleteReferral => "answer referrals",
            WithdrawReferral => "withdraw referrals",
            ExpireReferral => "expire referrals",
            RegisterVolunteer => "register volunteers",
            UpdateVolunteer => "update volunteers",
            DeactivateVolunteer => "deactivate volunteers",
            RecordTrainingAttendance => "record training attendance",
            RecordAward => "record awards",
            CreateProgramme => "create programmes",
            UpdateProgramme => "update programmes",
            EnrolCase => "enrol cases in programmes",
            RecordEnrollmentExit => "record enrollment exits",
            RecordOutcome => "record outcomes",
            VerifyOutcome => "verify outcomes",
            CreateKey(Role::Admin | Role::Staff) => {
                "create ADMIN or STAFF keys (only `psm-api key create` on the server does)"
            }
            CreateKey(_) => "create API keys",
            RevokeKey(Role::Admin | Role::Staff) => {
                "revoke ADMIN or STAFF keys (only `psm-api key revoke` on the server does)"
            }
            RevokeKey(_) => "revoke API keys",
        }
    }
}

/// Whether `caller` may run `command`: the authorization matrix of writes, one row per command.
pub fn permits(caller: Caller, command: Command) -> bool {
    use Command::*;
    use Role::*;
    let role = match caller {
        // The server runs the sweeps and manages every key; it never writes case data on its own.
        Caller::Server => return matches!(command, ExpireReferral | CreateKey(_) | RevokeKey(_)),
        Caller::Key(role) => role,
    };
    let roles: &[Role] = match command {
        ReportCase | UpdateCase => &[Staff, Volunteer],
        ChangeCaseStatus => &[Staff],
        RegisterPerson => &[Staff],
        RecordConsent | RevokeConsent => &[Staff, Volunteer],
        SendReferral | WithdrawReferral => &[Staff],
        AcceptReferral | DeclineReferral | CompleteReferral => &[Staff, Partner],
        ExpireReferral => &[],
        RegisterVolunteer | UpdateVolunteer | DeactivateVolunteer => &[Staff],
        RecordTrainingAttendance | RecordAward => &[Staff],
        CreateProgramme | UpdateProgramme | EnrolCase | RecordEnrollmentExit => &[Staff],
        RecordOutcome => &[Staff, Volunteer],
        VerifyOutcome => &[Staff],
        // Separation of duties: keys that read or manage everything are made on the server only.
        CreateKey(Admin | Staff) | RevokeKey(Admin | Staff) => &[],
        CreateKey(_) | RevokeKey(_) => &[Admin],
    };
    roles.contains(&role)
}

/// Refuses `command` to a viewer the table does not permit it to (`FORBIDDEN`).
pub fn require(viewer: &Viewer, command: Command) -> AppResult<()> {
    if permits(Caller::of(viewer), command) {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!("a {} key may not {}", viewer.role.as_str(), command.doing())))
    }
}
