//! `credentials/list` and `credentials/info`: the holder who signed in has one credential,
//! their second certificate and its key.

use base64::Engine;
use chrono::{DateTime, Utc};
use der::Decode;
use hpki_core::audit::Actor;
use hpki_core::domain::csc::CredentialId;
use hpki_core::domain::oidc::OAuthErrorCode;
use hpki_core::domain::StoredCertificate;
use hpki_core::keystore::KeyAlgorithm;
use hpki_core::Error;
use hpki_oidc::dpop::AccessToken;
use hpki_oidc::SigningSession;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{refusal, ApiVersion, CscService, SignAlgorithm};

/// The key a holder signs with now: their valid second certificate's.
#[derive(Clone, Debug)]
pub(crate) struct SigningKey {
    pub(crate) certificate: StoredCertificate,
    pub(crate) algorithm: KeyAlgorithm,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct CredentialListRequest {
    #[serde(rename = "userID")]
    pub user_id: Option<String>,
    #[serde(rename = "maxResults")]
    pub max_results: Option<u32>,
    /// v2: answer with each credential's info too.
    #[serde(rename = "credentialInfo")]
    pub credential_info: Option<bool>,
    pub certificates: Option<String>,
    #[serde(rename = "certInfo")]
    pub cert_info: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct CredentialInfoRequest {
    #[serde(rename = "credentialID")]
    pub credential_id: Option<String>,
    /// `none`, `single` (the default) or `chain`.
    pub certificates: Option<String>,
    #[serde(rename = "certInfo")]
    pub cert_info: Option<bool>,
}

/// Which certificates an answer carries.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Certificates {
    None,
    Single,
    Chain,
}

impl Certificates {
    fn parse(s: Option<&str>) -> Result<Self, Error> {
        match s.map(str::trim) {
            None | Some("") | Some("single") => Ok(Self::Single),
            Some("none") => Ok(Self::None),
            Some("chain") => Ok(Self::Chain),
            Some(other) => Err(refusal(
                OAuthErrorCode::InvalidRequest,
                format!("Invalid parameter certificates: {other:?} must be none, single or chain"),
            )),
        }
    }
}

/// GeneralizedTime as the CSC API writes validity (`YYYYMMDDHHMMSSZ`).
fn generalized(t: DateTime<Utc>) -> String {
    t.format("%Y%m%d%H%M%SZ").to_string()
}

impl CscService {
    pub async fn credentials_list(
        &self,
        actor: &Actor,
        version: ApiVersion,
        access: &AccessToken,
        r: &CredentialListRequest,
    ) -> Result<Value, Error> {
        const ENDPOINT: &str = "credentials/list";
        let token = access.token.as_str();
        let s = self.session(actor, ENDPOINT, token).await?;
        self.presented(actor, ENDPOINT, &s, access).await?;
        if let Some(user) = r.user_id.as_deref().filter(|u| !u.is_empty()) {
            if user != s.holder.username.to_string() {
                return Err(self
                    .refuse(
                        actor,
                        ENDPOINT,
                        &s,
                        OAuthErrorCode::InvalidRequest,
                        "Invalid parameter userID: the access token is the signed-in holder's; leave userID out",
                    )
                    .await);
            }
        }
        if r.max_results == Some(0) {
            return Err(refusal(
                OAuthErrorCode::InvalidRequest,
                "Invalid parameter maxResults: give 1 or more",
            ));
        }
        let id = CredentialId::of(&s.holder.username);
        let mut answer = json!({ "credentialIDs": [id.to_string()] });
        if version == ApiVersion::V2 && r.credential_info == Some(true) {
            let certificates = Certificates::parse(r.certificates.as_deref())?;
            let mut info = self
                .info_of(&s, certificates, r.cert_info == Some(true))
                .await?;
            info["credentialID"] = json!(id.to_string());
            answer["credentialInfos"] = json!([info]);
        }
        Ok(answer)
    }

    pub async fn credential_info(
        &self,
        actor: &Actor,
        access: &AccessToken,
        r: &CredentialInfoRequest,
    ) -> Result<Value, Error> {
        const ENDPOINT: &str = "credentials/info";
        let token = access.token.as_str();
        let s = self.session(actor, ENDPOINT, token).await?;
        self.presented(actor, ENDPOINT, &s, access).await?;
        self.credential_of(actor, ENDPOINT, &s, r.credential_id.as_deref())
            .await?;
        let certificates = Certificates::parse(r.certificates.as_deref())?;
        self.info_of(&s, certificates, r.cert_info == Some(true))
            .await
    }

    /// The holder's signing key: the second certificate the session found valid.
    pub(crate) fn signing_key(&self, s: &SigningSession) -> Result<SigningKey, Error> {
        let certificate = s.second_certificate.clone();
        let algorithm = certificate
            .cert
            .key
            .as_ref()
            .map(|(a, _)| *a)
            .ok_or_else(|| Error::Internal("second certificate without key".into()))?;
        Ok(SigningKey {
            certificate,
            algorithm,
        })
    }

    async fn info_of(
        &self,
        s: &SigningSession,
        certificates: Certificates,
        cert_info: bool,
    ) -> Result<Value, Error> {
        let credential = self.signing_key(s)?;
        let b64 = |der: &[u8]| base64::engine::general_purpose::STANDARD.encode(der);
        let cert = &credential.certificate.cert;
        let mut key = json!({
            "status": "enabled",
            "algo": SignAlgorithm::for_key(credential.algorithm),
            "len": match credential.algorithm {
                KeyAlgorithm::Rsa2048 => 2048,
                KeyAlgorithm::EcdsaP256 => 256,
            },
        });
        if credential.algorithm == KeyAlgorithm::EcdsaP256 {
            key["curve"] = json!("1.2.840.10045.3.1.7");
        }
        let mut cert_json = json!({ "status": "valid" });
        match certificates {
            Certificates::None => {}
            Certificates::Single => cert_json["certificates"] = json!([b64(&cert.der)]),
            Certificates::Chain => {
                let mut all = vec![b64(&cert.der)];
                all.extend(self.ca.signing_chain().await?.iter().map(|c| b64(c)));
                cert_json["certificates"] = json!(all);
            }
        }
        if cert_info {
            let parsed = x509_cert::Certificate::from_der(&cert.der)
                .map_err(|e| Error::Internal(format!("a stored certificate: {e}")))?;
            let tbs = &parsed.tbs_certificate;
            cert_json["issuerDN"] = json!(tbs.issuer.to_string());
            cert_json["subjectDN"] = json!(tbs.subject.to_string());
            // The serial's one form (lower-case hex, no leading zeros), as the CLI, the console
            // and the holder's page write it; every form is read back (`Serial::parse`).
            cert_json["serialNumber"] = json!(hpki_core::domain::Serial::from_bytes(
                tbs.serial_number.as_bytes()
            )
            .to_string());
            cert_json["validFrom"] = json!(generalized(cert.not_before));
            cert_json["validTo"] = json!(generalized(cert.not_after));
        }
        let (auth_mode, scal) = if s.client.signing.session && !Self::is_consent(s) {
            ("implicit", "1")
        } else {
            ("oauth2code", "2")
        };
        Ok(json!({
            "description": format!(
                "HPKI second certificate of {} ({})",
                s.holder.username,
                s.holder.qualification.code()
            ),
            "key": key,
            "cert": cert_json,
            "authMode": auth_mode,
            "auth": { "mode": auth_mode },
            "SCAL": scal,
            "multisign": self.settings.max_signatures,
            "lang": "ja-JP",
        }))
    }
}
