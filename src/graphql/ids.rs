//! Opaque global ids: `base64url("<Type>:<key>")`, e.g. a case's id encodes `Case:<uuid>`.
//!
//! Clients must treat them as opaque; the encoding only lets `node(id:)` find the right table.

use async_graphql::ID;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use crate::error::{AppError, AppResult};

/// The GraphQL object types that have global ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeType {
    Region,
    Organisation,
    Volunteer,
    TrainingAttendance,
    Award,
    Person,
    Consent,
    Case,
    CaseStatusChange,
    Programme,
    Enrollment,
    Referral,
    ReferralEvent,
    Outcome,
}

impl NodeType {
    const ALL: [NodeType; 14] = [
        NodeType::Region,
        NodeType::Organisation,
        NodeType::Volunteer,
        NodeType::TrainingAttendance,
        NodeType::Award,
        NodeType::Person,
        NodeType::Consent,
        NodeType::Case,
        NodeType::CaseStatusChange,
        NodeType::Programme,
        NodeType::Enrollment,
        NodeType::Referral,
        NodeType::ReferralEvent,
        NodeType::Outcome,
    ];

    fn name(self) -> &'static str {
        match self {
            NodeType::Region => "Region",
            NodeType::Organisation => "Organisation",
            NodeType::Volunteer => "Volunteer",
            NodeType::TrainingAttendance => "TrainingAttendance",
            NodeType::Award => "Award",
            NodeType::Person => "Person",
            NodeType::Consent => "Consent",
            NodeType::Case => "Case",
            NodeType::CaseStatusChange => "CaseStatusChange",
            NodeType::Programme => "Programme",
            NodeType::Enrollment => "Enrollment",
            NodeType::Referral => "Referral",
            NodeType::ReferralEvent => "ReferralEvent",
            NodeType::Outcome => "Outcome",
        }
    }
}

/// The global id of a row keyed by a UUID.
pub fn encode(node_type: NodeType, id: Uuid) -> ID {
    encode_key(node_type, &id.to_string())
}

/// The global id of a row keyed by text (regions, by their Kemendagri code).
pub fn encode_key(node_type: NodeType, key: &str) -> ID {
    ID(URL_SAFE_NO_PAD.encode(format!("{}:{key}", node_type.name())))
}

/// Splits a global id into its type and key; `argument` names the input in the error.
pub fn decode(id: &str, argument: &str) -> AppResult<(NodeType, String)> {
    let invalid = || AppError::bad_input(argument, format!("`{argument}` is not an id this API issued"));
    let bytes = URL_SAFE_NO_PAD.decode(id).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (name, key) = text.split_once(':').ok_or_else(invalid)?;
    let node_type = NodeType::ALL.into_iter().find(|t| t.name() == name).ok_or_else(invalid)?;
    Ok((node_type, key.to_owned()))
}

/// Decodes a global id that must be of `expected` type and keyed by a UUID.
pub fn decode_uuid(id: &str, expected: NodeType, argument: &str) -> AppResult<Uuid> {
    let (node_type, key) = decode(id, argument)?;
    if node_type != expected {
        return Err(AppError::bad_input(argument, format!("`{argument}` must be the id of a {}", expected.name())));
    }
    Uuid::parse_str(&key)
        .map_err(|_| AppError::bad_input(argument, format!("`{argument}` is not an id this API issued")))
}
