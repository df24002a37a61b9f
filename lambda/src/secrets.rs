//! Secret references of destinations ([`SecretRef`]: a Slack app's token,
//! a webhook's header values and HMAC key) resolved to their values when a
//! message is sent: an environment variable, an SSM parameter (GetParameter
//! with decryption, so a SecureString works) or a Secrets Manager secret
//! (GetSecretValue, its SecretString).
//!
//! Values from AWS are cached per process for [`TTL`] (a warm Lambda does
//! not call SSM for every alert, and a rotated secret is picked up within
//! minutes); environment variables are read each time. A failure names the
//! reference, never a value, and is the send's error.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use tattletail_compiler::config::SecretRef;

use crate::aws::{Clients, SetupError};
use crate::s3::describe_error;

/// How long a value read from SSM or Secrets Manager is reused.
pub const TTL: Duration = Duration::from_secs(300);

/// Why a reference could not be resolved; says which reference, never
/// the value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// `env:NAME` and the variable is unset or empty.
    #[error("the secret {reference} is not set: the environment variable is unset or empty; set it in the Lambda's (or the shell's) environment")]
    EnvNotSet {
        /// `env:NAME`.
        reference: String,
    },
    /// SSM or Secrets Manager refused or could not be reached.
    #[error("cannot read the secret {reference}: {why}; check that it exists in this region and that the role may read it ({permission})")]
    Aws {
        /// The reference as written.
        reference: String,
        /// The service's answer.
        why: String,
        /// The IAM permission reading it needs.
        permission: &'static str,
    },
    /// The secret exists and has no text value (a binary secret, an empty
    /// parameter).
    #[error("the secret {reference} has no text value; store the secret as a string")]
    NoValue {
        /// The reference as written.
        reference: String,
    },
    /// The client for the reference's service was not built.
    #[error("cannot read the secret {reference}: {source}")]
    NoClient {
        /// The reference as written.
        reference: String,
        /// Why there is no client.
        source: SetupError,
    },
}

type Cache = Mutex<HashMap<SecretRef, (String, Instant)>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(Cache::default)
}

/// The value of `r` (from the cache when read less than [`TTL`] ago).
pub async fn resolve(clients: &Clients, r: &SecretRef) -> Result<String, SecretError> {
    let reference = r.to_string();
    match r {
        SecretRef::Literal(v) => return Ok(v.clone()),
        SecretRef::Env(name) => {
            return std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or(SecretError::EnvNotSet { reference });
        }
        SecretRef::Ssm(_) | SecretRef::SecretsManager(_) => {}
    }
    if let Some((value, at)) = cache().lock().expect("not poisoned").get(r) {
        if at.elapsed() < TTL {
            return Ok(value.clone());
        }
    }
    let no_client = |source| SecretError::NoClient {
        reference: reference.clone(),
        source,
    };
    let value = match r {
        SecretRef::Ssm(name) => {
            let out = clients
                .ssm()
                .map_err(no_client)?
                .get_parameter()
                .name(name)
                .with_decryption(true)
                .send()
                .await
                .map_err(|e| SecretError::Aws {
                    reference: reference.clone(),
                    why: format!("SSM GetParameter failed: {}", describe_error(&e)),
                    permission: "ssm:GetParameter, and kms:Decrypt for a SecureString with a customer managed key",
                })?;
            out.parameter.and_then(|p| p.value)
        }
        SecretRef::SecretsManager(id) => {
            let out = clients
                .secrets()
                .map_err(no_client)?
                .get_secret_value()
                .secret_id(id)
                .send()
                .await
                .map_err(|e| SecretError::Aws {
                    reference: reference.clone(),
                    why: format!(
                        "Secrets Manager GetSecretValue failed: {}",
                        describe_error(&e)
                    ),
                    permission: "secretsmanager:GetSecretValue, and kms:Decrypt with a customer managed key",
                })?;
            out.secret_string
        }
        SecretRef::Literal(_) | SecretRef::Env(_) => unreachable!("returned above"),
    };
    let value = value
        .filter(|v| !v.is_empty())
        .ok_or(SecretError::NoValue { reference })?;
    cache()
        .lock()
        .expect("not poisoned")
        .insert(r.clone(), (value.clone(), Instant::now()));
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::{Needs, Settings};

    #[tokio::test]
    async fn literals_and_environment_variables() {
        let clients = Clients::new(&Settings::default(), Needs::default())
            .await
            .unwrap();
        let v = resolve(&clients, &SecretRef::Literal("x".into()))
            .await
            .unwrap();
        assert_eq!(v, "x");
        // PATH is set wherever tests run.
        let path = resolve(&clients, &SecretRef::Env("PATH".into()))
            .await
            .unwrap();
        assert_eq!(path, std::env::var("PATH").unwrap());
        let err = resolve(
            &clients,
            &SecretRef::Env("TATTLETAIL_TEST_SURELY_UNSET".into()),
        )
        .await
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("the secret env:TATTLETAIL_TEST_SURELY_UNSET is not set"),
            "{err}"
        );
        // No SSM client: the reference is named, nothing is called.
        let err = resolve(&clients, &SecretRef::Ssm("/a/b".into()))
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read the secret ssm:/a/b: the SSM client was not set up"),
            "{err}"
        );
    }
}
