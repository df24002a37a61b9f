//! Deterministic CloudTrail log generator.
//!
//! Realistic records: (eventSource, eventName) pairs drawn with the
//! frequencies seen in the public CloudTrail files of
//! `corpus/real` (`events.txt`), a mix of identity types (IAM users,
//! assumed roles, AWS services, root, federated users), about 9% error
//! codes, and sizes from a few hundred bytes to several kilobytes
//! (RunInstances-style request parameters).
//!
//! Adversarial records ([`adversarial_records`]) exercise exact JSON
//! semantics: nested `eventName` keys, `\u`-escaped and `\/`-escaped
//! names, shuffled key order, duplicate keys, missing or non-string names,
//! records that are not objects, and names that differ from rule literals
//! by a prefix, a suffix or a newline.
//!
//! The same seed always gives the same bytes: the PRNG is our own
//! SplitMix64, not a crate whose streams may change between versions.

use std::io::{self, Write};

use serde_json::{json, Map, Value};

/// SplitMix64: small, fast, and stable forever.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator with this seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    /// A random element.
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }

    fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from_digit(self.below(16) as u32, 16).unwrap_or('0'))
            .collect()
    }
}

/// (weight, eventSource, eventName) from the real corpus.
pub fn event_table() -> Vec<(u64, &'static str, &'static str)> {
    include_str!("events.txt")
        .lines()
        .filter_map(|l| {
            let mut it = l.split(' ');
            Some((it.next()?.parse().ok()?, it.next()?, it.next()?))
        })
        .collect()
}

const ERRORS: &[(&str, &str)] = &[
    ("AccessDenied", "Access Denied"),
    (
        "Client.UnauthorizedOperation",
        "You are not authorized to perform this operation.",
    ),
    ("ThrottlingException", "Rate exceeded"),
    ("NoSuchBucketPolicy", "The bucket policy does not exist"),
    (
        "AccessDeniedException",
        "User is not authorized to perform this action",
    ),
    (
        "Client.InvalidRouteTableID.NotFound",
        "The routeTable ID does not exist",
    ),
    (
        "NoSuchEntityException",
        "The user with name alice cannot be found.",
    ),
    ("ValidationException", "1 validation error detected"),
];

const REGIONS: &[&str] = &[
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-2",
];
const AGENTS: &[&str] = &[
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.1 exe/x86_64.amzn.2023",
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.1 lang/python#3.12.2",
    "console.amazonaws.com",
    "aws-sdk-go-v2/1.26.0 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64",
    "Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.42.0",
    "AWS Internal",
];

/// Generates realistic records.
pub struct Generator {
    rng: Rng,
    table: Vec<(u64, &'static str, &'static str)>,
    total: u64,
    seq: u64,
}

impl Generator {
    /// A generator with this seed.
    pub fn new(seed: u64) -> Generator {
        let table = event_table();
        let total = table.iter().map(|t| t.0).sum();
        Generator {
            rng: Rng::new(seed),
            table,
            total,
            seq: 0,
        }
    }

    /// The random source.
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    fn pick_event(&mut self) -> (&'static str, &'static str) {
        let mut x = self.rng.below(self.total);
        for &(w, s, n) in &self.table {
            if x < w {
                return (s, n);
            }
            x -= w;
        }
        ("sts.amazonaws.com", "AssumeRole")
    }

    fn identity(&mut self, account: &str) -> Value {
        let user = format!("user{}", self.rng.below(40));
        match self.rng.below(100) {
            0..=54 => json!({
                "type": "IAMUser", "principalId": format!("AIDA{}", self.rng.hex(16).to_uppercase()),
                "arn": format!("arn:aws:iam::{account}:user/{user}"), "accountId": account,
                "accessKeyId": format!("AKIA{}", self.rng.hex(16).to_uppercase()), "userName": user
            }),
            55..=84 => {
                let role = self
                    .rng
                    .pick(&[
                        "Admin",
                        "ReadOnly",
                        "deploy",
                        "AWSReservedSSO_Admin_0123abcd",
                    ])
                    .to_string();
                json!({
                    "type": "AssumedRole", "principalId": format!("AROA{}:{user}", self.rng.hex(16).to_uppercase()),
                    "arn": format!("arn:aws:sts::{account}:assumed-role/{role}/{user}"), "accountId": account,
                    "accessKeyId": format!("ASIA{}", self.rng.hex(16).to_uppercase()),
                    "sessionContext": {
                        "sessionIssuer": {"type": "Role", "arn": format!("arn:aws:iam::{account}:role/{role}"),
                                          "accountId": account, "userName": role},
                        "attributes": {"creationDate": "2026-11-01T11:00:00Z", "mfaAuthenticated": if self.rng.chance(0.3) { "true" } else { "false" }}
                    }
                })
            }
            85..=96 => {
                json!({"type": "AWSService", "invokedBy": self.rng.pick(&["ec2.amazonaws.com", "lambda.amazonaws.com", "cloudtrail.amazonaws.com"]).to_string()})
            }
            97 => {
                json!({"type": "Root", "principalId": account, "arn": format!("arn:aws:iam::{account}:root"), "accountId": account})
            }
            _ => json!({"type": "FederatedUser", "principalId": format!("{account}:{user}"),
                        "arn": format!("arn:aws:sts::{account}:federated-user/{user}"), "accountId": account}),
        }
    }

    /// One realistic record.
    pub fn record(&mut self) -> Value {
        self.seq += 1;
        let (source, name) = self.pick_event();
        let account = format!("{:012}", 100_000_000_000 + self.rng.below(4) * 111_111_111);
        let region = *self.rng.pick(REGIONS);
        let secs = 1_793_000_000 + self.seq * 3 + self.rng.below(3);
        let mut r = Map::new();
        r.insert("eventVersion".into(), json!("1.09"));
        r.insert("userIdentity".into(), self.identity(&account));
        r.insert("eventTime".into(), json!(format_time(secs)));
        r.insert("eventSource".into(), json!(source));
        r.insert("eventName".into(), json!(name));
        r.insert("awsRegion".into(), json!(region));
        r.insert(
            "sourceIPAddress".into(),
            json!(format!(
                "{}.{}.{}.{}",
                1 + self.rng.below(222),
                self.rng.below(256),
                self.rng.below(256),
                self.rng.below(256)
            )),
        );
        r.insert("userAgent".into(), json!(*self.rng.pick(AGENTS)));
        if self.rng.chance(0.09) {
            let (code, msg) = *self.rng.pick(ERRORS);
            r.insert("errorCode".into(), json!(code));
            r.insert("errorMessage".into(), json!(msg));
        }
        r.insert("requestParameters".into(), self.params(name));
        r.insert(
            "responseElements".into(),
            if self.rng.chance(0.6) {
                Value::Null
            } else {
                json!({"requestId": self.rng.hex(8)})
            },
        );
        if name == "ConsoleLogin" {
            r.insert("additionalEventData".into(), json!({"MFAUsed": if self.rng.chance(0.7) { "Yes" } else { "No" }, "LoginTo": "https://console.aws.amazon.com/"}));
            r.insert(
                "responseElements".into(),
                json!({"ConsoleLogin": if self.rng.chance(0.9) { "Success" } else { "Failure" }}),
            );
        }
        r.insert(
            "requestID".into(),
            json!(format!("{}-{}", self.rng.hex(8), self.rng.hex(12))),
        );
        r.insert(
            "eventID".into(),
            json!(format!(
                "{}-{}-{}-{}",
                self.rng.hex(8),
                self.rng.hex(4),
                self.rng.hex(4),
                self.rng.hex(12)
            )),
        );
        r.insert(
            "readOnly".into(),
            json!(
                name.starts_with("Get") || name.starts_with("List") || name.starts_with("Describe")
            ),
        );
        r.insert("eventType".into(), json!("AwsApiCall"));
        r.insert("managementEvent".into(), json!(true));
        r.insert("recipientAccountId".into(), json!(account));
        r.insert("eventCategory".into(), json!("Management"));
        r.insert("tlsDetails".into(), json!({"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256", "clientProvidedHostHeader": source}));
        Value::Object(r)
    }

    fn params(&mut self, name: &str) -> Value {
        if name == "RunInstances" || self.rng.chance(0.02) {
            // Large requests: user data, many tags.
            let user_data_len = 400 + self.rng.below(3000) as usize;
            let tags: Vec<Value> = (0..self.rng.below(30))
                .map(|i| json!({"key": format!("tag{i}"), "value": self.rng.hex(24)}))
                .collect();
            return json!({
                "instancesSet": {"items": [{"imageId": format!("ami-{}", self.rng.hex(17)), "minCount": 1, "maxCount": 1}]},
                "userData": self.rng.hex(user_data_len),
                "tagSpecificationSet": {"items": [{"resourceType": "instance", "tags": tags}]},
                "instanceType": "m5.large"
            });
        }
        match self.rng.below(4) {
            0 => Value::Null,
            1 => {
                json!({"bucketName": format!("bucket-{}", self.rng.hex(6)), "Host": "s3.amazonaws.com"})
            }
            2 => json!({"userName": format!("user{}", self.rng.below(40))}),
            _ => {
                json!({"roleArn": format!("arn:aws:iam::123456789012:role/r{}", self.rng.below(9)), "roleSessionName": self.rng.hex(10), "durationSeconds": 3600})
            }
        }
    }
}

/// RFC 3339 UTC time for Unix seconds (no dependency on a date crate).
fn format_time(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Records as raw JSON text that stress exact JSON semantics. Every one is
/// valid JSON; some are not objects.
pub fn adversarial_records() -> Vec<String> {
    let base = r#""eventVersion":"1.09","eventTime":"2026-11-01T00:00:00Z","eventID":"adv","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice"}"#;
    let mut v = vec![
        // Nested keys with the names we index; the top-level ones differ.
        format!(
            r#"{{{base},"requestParameters":{{"eventName":"ConsoleLogin","eventSource":"signin.amazonaws.com"}},"eventName":"GetObject","eventSource":"s3.amazonaws.com"}}"#
        ),
        format!(
            r#"{{"responseElements":{{"eventName":"StopLogging"}},{base},"eventSource":"s3.amazonaws.com","eventName":"ListBuckets"}}"#
        ),
        // \u escapes and escaped slashes in names and sources.
        format!(
            r#"{{{base},"eventName":"\u0043onsoleLogin","eventSource":"signin.amazonaws.com"}}"#
        ),
        format!(
            r#"{{{base},"eventName":"StopLoggin\u0067","eventSource":"cloudtrail\u002eamazonaws.com"}}"#
        ),
        format!(r#"{{{base},"eventName":"PutBucket\/Policy","eventSource":"s3.amazonaws.com"}}"#),
        format!(
            r#"{{{base},"eventName":"DeleteTrail","eventSource":"cloudtrail.amazonaws.com\/"}}"#
        ),
        format!(
            r#"{{{base},"\u0065ventName":"DeleteTrail","eventSource":"cloudtrail.amazonaws.com"}}"#
        ),
        // Key order: names first, last, between.
        format!(
            r#"{{"eventName":"CreateUser","eventSource":"iam.amazonaws.com",{base},"requestParameters":{{"userName":"mallory"}}}}"#
        ),
        format!(
            r#"{{"eventSource":"kms.amazonaws.com",{base},"eventName":"ScheduleKeyDeletion"}}"#
        ),
        // Duplicate keys: the last one wins (jq).
        format!(
            r#"{{{base},"eventName":"GetObject","eventSource":"s3.amazonaws.com","eventName":"PutBucketPolicy"}}"#
        ),
        format!(
            r#"{{{base},"eventName":"StopLogging","eventSource":"cloudtrail.amazonaws.com","eventSource":"s3.amazonaws.com"}}"#
        ),
        // Missing, null, numeric, object names.
        format!(r#"{{{base},"eventSource":"iam.amazonaws.com"}}"#),
        format!(r#"{{{base},"eventName":null,"eventSource":null}}"#),
        format!(r#"{{{base},"eventName":5,"eventSource":true}}"#),
        format!(
            r#"{{{base},"eventName":{{"name":"ConsoleLogin"}},"eventSource":["signin.amazonaws.com"]}}"#
        ),
        // Near misses: prefix, suffix, case, whitespace, newline.
        format!(r#"{{{base},"eventName":"ConsoleLoginX","eventSource":"signin.amazonaws.com"}}"#),
        format!(r#"{{{base},"eventName":"consolelogin","eventSource":"signin.amazonaws.com"}}"#),
        format!(r#"{{{base},"eventName":"ConsoleLogin\n","eventSource":"signin.amazonaws.com"}}"#),
        format!(
            r#"{{{base},"eventName":" StopLogging","eventSource":"cloudtrail.amazonaws.com"}}"#
        ),
        format!(r#"{{{base},"eventName":"","eventSource":""}}"#),
        format!(r#"{{{base},"eventName":"Stop","eventSource":"cloudtrail.amazonaws.com"}}"#),
        // Unicode.
        format!(r#"{{{base},"eventName":"Créer\u00e9","eventSource":"ünïcode.amazonaws.com"}}"#),
        // Errors and roots in tricky places.
        format!(
            r#"{{{base},"eventName":"GetObject","eventSource":"s3.amazonaws.com","errorCode":"AccessDenied"}}"#
        ),
        format!(
            r#"{{"eventName":"CreateAccessKey","eventSource":"iam.amazonaws.com","userIdentity":{{"type":"Root","arn":"arn:aws:iam::111122223333:root"}},"eventType":"AwsApiCall"}}"#
        ),
        format!(
            r#"{{"eventName":"ConsoleLogin","eventSource":"signin.amazonaws.com","userIdentity":{{"type":"IAMUser"}},"additionalEventData":{{"MFAUsed":"No"}},"responseElements":{{"ConsoleLogin":"Success"}}}}"#
        ),
        // Literals spelled with escapes, in keys, next to non-ASCII text.
        r#"{"eventName":"CreateAccessKey","eventSource":"iam.amazonaws.com","responseElements":{"accessKey":{"accessKeyId":"\u0041KIAEXAMPLE"}}}"#.to_string(),
        r#"{"eventName":"GetObject","eventSource":"s3.amazonaws.com","requestParameters":{"AKIAkey":1,"durationSeconds":3600}}"#.to_string(),
        r#"{"eventName":"GetObject","eventSource":"s3.amazonaws.com","requestParameters":{"note":"é AKIA mallory"}}"#.to_string(),
        r#"{"eventName":"AccessDenie\u0064","eventSource":"s3.amazonaws.com","errorCode":"Access\u0044enied"}"#.to_string(),
        // Empty object, and records that are not objects.
        "{}".to_string(),
        "null".to_string(),
        "42".to_string(),
        r#""ConsoleLogin""#.to_string(),
        r#"[{"eventName":"ConsoleLogin"}]"#.to_string(),
        "true".to_string(),
    ];
    // Pretty-printed record with escapes inside strings and deep nesting.
    v.push(format!(
        "{{\n  \"eventName\" : \"AttachRolePolicy\",\n  \"eventSource\" :\n    \"iam.amazonaws.com\",\n  \"requestParameters\" : {{ \"policyDocument\" : \"{{\\\"Statement\\\":[{{\\\"Effect\\\":\\\"Allow\\\"}}]}}\", \"deep\": [[[[{{\"eventName\":\"X\"}}]]]] }},\n  {base}\n}}"
    ));
    v
}

/// A pretty-printed CloudTrail file holding every adversarial record
/// (committed as `corp../adversarial/adversarial.json`).
pub fn adversarial_file() -> String {
    format!(
        "{{\n  \"Records\": [\n    {}\n  ]\n}}\n",
        adversarial_records().join(",\n    ")
    )
}

/// How to lay out a generated file.
#[derive(Clone, Copy, Debug, Default)]
pub struct Layout {
    /// Indent the JSON like a human-edited file.
    pub pretty: bool,
    /// Mix adversarial records in (about 1 in 50).
    pub adversarial: bool,
}

/// Write one CloudTrail log file with `n` records.
pub fn write_file(
    g: &mut Generator,
    n: u64,
    layout: Layout,
    out: &mut dyn Write,
) -> io::Result<()> {
    let adv = adversarial_records();
    out.write_all(if layout.pretty {
        b"{\n  \"Records\": [\n"
    } else {
        b"{\"Records\":["
    })?;
    for i in 0..n {
        if i > 0 {
            out.write_all(if layout.pretty { b",\n" } else { b"," })?;
        }
        if layout.adversarial && g.rng().chance(0.02) {
            let idx = g.rng().below(adv.len() as u64) as usize;
            out.write_all(adv[idx].as_bytes())?;
        } else {
            let r = g.record();
            if layout.pretty {
                serde_json::to_writer_pretty(&mut *out, &r)?;
            } else {
                serde_json::to_writer(&mut *out, &r)?;
            }
        }
    }
    out.write_all(if layout.pretty { b"\n  ]\n}\n" } else { b"]}" })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_bytes() {
        let file = |seed| {
            let mut out = Vec::new();
            let layout = Layout {
                pretty: false,
                adversarial: true,
            };
            write_file(&mut Generator::new(seed), 200, layout, &mut out).unwrap();
            out
        };
        let (a, b) = (file(7), file(7));
        assert_eq!(a, b);
        let v: Value = serde_json::from_slice(&a).unwrap();
        assert_eq!(v["Records"].as_array().unwrap().len(), 200);
    }

    #[test]
    fn adversarial_records_are_json() {
        for r in adversarial_records() {
            serde_json::from_str::<Value>(&r).unwrap_or_else(|e| panic!("{r}: {e}"));
        }
    }

    #[test]
    fn committed_adversarial_sample_is_current() {
        let committed = include_str!("../adversarial/adversarial.json");
        assert_eq!(committed, adversarial_file(), "run: cargo run -p tattletail-corpus -- --adversarial-sample corp../adversarial/adversarial.json");
    }

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_time(1_793_000_000), "2026-10-26T07:33:20Z");
    }
}
