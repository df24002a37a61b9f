//! Tattletail's AWS side. With the `aws` feature (the default): the Lambda
//! handler ([`handler`]) and its inputs ([`event`], [`s3`], [`config_source`]),
//! delivery to SNS, SES and Slack in upstream's payload formats, to Slack
//! apps and any webhook ([`payload`], [`deliver`], [`slack_app`],
//! [`webhook`], with [`secrets`] for their tokens), the shared scan-and-deliver step
//! ([`pipeline`]), noise control and its state ([`noise`], [`state`],
//! [`followup`]), the invocation deadline ([`deadline`]) and JSON logs with
//! CloudWatch metrics ([`logging`]). Inputs are S3 objects and, in real
//! time, the CloudTrail records EventBridge and CloudWatch Logs deliver. The
//! engine crates (`tattletail-compiler`, `tattletail-runtime`) stay free of
//! the AWS SDK; this crate is the only one that builds it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "aws")]
pub mod config_source;
#[cfg(feature = "aws")]
pub mod deadline;
#[cfg(feature = "aws")]
pub mod deliver;
pub mod event;
#[cfg(feature = "aws")]
pub mod followup;
#[cfg(feature = "aws")]
pub mod handler;
#[cfg(feature = "aws")]
pub mod logging;
#[cfg(feature = "aws")]
pub mod noise;
#[cfg(feature = "aws")]
pub mod payload;
#[cfg(feature = "aws")]
pub mod pipeline;
#[cfg(feature = "aws")]
pub mod s3;
#[cfg(feature = "aws")]
pub mod secrets;
#[cfg(feature = "aws")]
pub mod slack_app;
#[cfg(feature = "aws")]
pub mod state;
#[cfg(feature = "aws")]
pub mod webhook;
