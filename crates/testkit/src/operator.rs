//! A NATS server in operator mode, where users are JWTs an account signed (as `nsc`
//! makes them) and clients log in with a credentials file (`NATS_CREDS`): an operator,
//! one account preloaded into the server's memory resolver, and users of it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nkeys::KeyPair;
use serde_json::{Value, json};

/// An operator and its account, and the server configuration that trusts them.
pub struct Operator {
    operator: KeyPair,
    account: KeyPair,
    /// The system account, which JetStream needs.
    system: KeyPair,
}

impl Default for Operator {
    fn default() -> Self {
        Self::new()
    }
}

impl Operator {
    /// A new operator with one account.
    pub fn new() -> Self {
        Self {
            operator: KeyPair::new_operator(),
            account: KeyPair::new_account(),
            system: KeyPair::new_account(),
        }
    }

    /// nats-server's configuration: the operator's JWT, and the account's and the
    /// system account's in a memory resolver.
    pub fn config(&self) -> String {
        let operator = jwt(
            &self.operator,
            &self.operator.public_key(),
            "waveplot-test",
            json!({"type": "operator", "version": 2}),
        );
        let account = jwt(
            &self.operator,
            &self.account.public_key(),
            "waveplot",
            json!({
                "type": "account",
                "version": 2,
                "limits": {
                    "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
                    "wildcards": true, "conn": -1, "leaf": -1,
                    "mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1,
                },
            }),
        );
        let system = jwt(
            &self.operator,
            &self.system.public_key(),
            "SYS",
            json!({"type": "account", "version": 2}),
        );
        format!(
            "operator: \"{operator}\"\nsystem_account: {sys}\nresolver: MEMORY\n\
             resolver_preload: {{\n  {acc}: \"{account}\"\n  {sys}: \"{system}\"\n}}\n",
            acc = self.account.public_key(),
            sys = self.system.public_key(),
        )
    }

    /// A credentials file's text for a new user of the account, allowed everything.
    pub fn creds(&self, name: &str) -> String {
        creds(&self.account, name)
    }

    /// A credentials file's text for a user that another account (one the server does
    /// not know) signed.
    pub fn foreign_creds(name: &str) -> String {
        creds(&KeyPair::new_account(), name)
    }
}

/// A user of `account` as a credentials file: its JWT and its seed.
fn creds(account: &KeyPair, name: &str) -> String {
    let user = KeyPair::new_user();
    let token = jwt(
        account,
        &user.public_key(),
        name,
        json!({
            "type": "user", "version": 2, "pub": {}, "sub": {},
            "subs": -1, "data": -1, "payload": -1,
        }),
    );
    let seed = user.seed().expect("a new user key has a seed");
    format!(
        "-----BEGIN NATS USER JWT-----\n{token}\n------END NATS USER JWT------\n\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
    )
}

/// A JWT of `claims` about `subject`, signed by `signer` (ed25519, as NATS signs them).
fn jwt(signer: &KeyPair, subject: &str, name: &str, claims: Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let iat = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let body = json!({
        "jti": format!("{:032x}", fastrand::u128(..)),
        "iat": iat,
        "iss": signer.public_key(),
        "name": name,
        "sub": subject,
        "nats": claims,
    });
    let payload = URL_SAFE_NO_PAD.encode(body.to_string());
    let signed = format!("{header}.{payload}");
    let signature = signer
        .sign(signed.as_bytes())
        .expect("sign with a seeded key");
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}
