//! Why a report call was refused. Codes are stable API (GraphQL `extensions.code`).

use sea_orm::DbErr;
use thiserror::Error;

use super::rollup::{Month, MonthInvalid};

/// Why a report call was refused.
#[derive(Debug, Error)]
pub enum ReportError {
    /// The month is not `YYYY-MM` between 1970-01 and 9999-12.
    #[error(transparent)]
    MonthInvalid(#[from] MonthInvalid),
    /// The month has not begun: there is nothing to report yet.
    #[error("month {0} has not begun")]
    MonthNotBegun(Month),
    /// The reporting database failed (shown as an opaque internal error).
    #[error("database error: {0}")]
    Database(#[from] DbErr),
}

impl ReportError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            ReportError::MonthInvalid(_) | ReportError::MonthNotBegun(_) => "BAD_USER_INPUT",
            ReportError::Database(_) => "INTERNAL_SERVER_ERROR",
        }
    }
}
