//! Exit statuses of `tattletail`, one place for all of them.
//!
//! When several apply, the first in this order wins: [`Status::Fatal`],
//! [`Status::Partial`], [`Status::TestFailed`], [`Status::Alerts`],
//! [`Status::Clean`]: a run that could not read everything never looks
//! clean, even with `--fail-on-alert`.

use std::process::ExitCode;

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// Everything was read (and delivered); with `--fail-on-alert`, no
    /// alert fired. Also when the reader of stdout went away (`| head`).
    Clean,
    /// `--fail-on-alert` and at least one alert fired.
    Alerts,
    /// `tattletail test`: a test failed (the config itself is valid).
    TestFailed,
    /// Some input or record could not be read, no input was a CloudTrail
    /// log, or an alert could not be delivered.
    Partial,
    /// Invalid config or usage, nothing to scan, or alerts could not be
    /// written to stdout: the run did not do its job.
    Fatal,
}

impl Status {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Status::Clean => 0,
            Status::Partial | Status::TestFailed => 1,
            Status::Fatal => 2,
            Status::Alerts => 3,
        }
    }

    /// The more serious of two statuses.
    pub fn and(self, other: Status) -> Status {
        self.max(other)
    }
}

impl From<Status> for ExitCode {
    fn from(s: Status) -> ExitCode {
        ExitCode::from(s.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_outrank_alerts() {
        assert_eq!(Status::Alerts.and(Status::Partial), Status::Partial);
        assert_eq!(Status::Clean.and(Status::Alerts), Status::Alerts);
        assert_eq!(Status::Fatal.and(Status::Alerts).code(), 2);
    }
}
