//! Signing with a holder's second certificate's key, which only a certificate that is valid
//! right now may do: once revoked or expired, the key never signs again.

use hpki_core::domain::{
    CaRole, CertificateKind, CertificateStatus, Holder, StoredCertificate, Username,
};
use hpki_core::keystore::{DigestSigning, KeyAlgorithm, Sha256Digest};
use hpki_core::Error;

use super::CaService;

/// The certificate a holder signs with now, and the CA certificates above it (issuing CA,
/// then root).
#[derive(Clone, Debug)]
pub struct SigningCredential {
    pub certificate: StoredCertificate,
    pub algorithm: KeyAlgorithm,
    pub chain: Vec<Vec<u8>>,
}

impl CaService {
    /// The holder's second certificate that may sign now (the newest valid one), or why none
    /// may (`Conflict`).
    pub async fn second_certificate(&self, holder: &Holder) -> Result<StoredCertificate, Error> {
        let now = self.clock.now();
        let seconds: Vec<StoredCertificate> = self
            .certs
            .certificates_of_holder(holder.id)
            .await?
            .into_iter()
            .filter(|c| c.cert.kind == CertificateKind::Second)
            .collect();
        if let Some(valid) = seconds
            .iter()
            .rev()
            .find(|c| c.status_at(now) == CertificateStatus::Valid)
        {
            return Ok(valid.clone());
        }
        let why = match seconds.last().map(|c| c.status_at(now)) {
            None => "has no second certificate",
            Some(CertificateStatus::Revoked { .. }) => "has only a revoked second certificate",
            Some(CertificateStatus::Expired) => "has only an expired second certificate",
            Some(_) => "has no second certificate valid now",
        };
        Err(Error::Conflict(format!(
            "holder {} {why}: its key cannot sign",
            holder.username
        )))
    }

    /// The holder's signing credential: the second certificate that may sign now and its
    /// chain up to the root.
    pub async fn signing_credential(&self, holder: &Holder) -> Result<SigningCredential, Error> {
        let certificate = self.second_certificate(holder).await?;
        let algorithm = certificate
            .cert
            .key
            .as_ref()
            .map(|(a, _)| *a)
            .ok_or_else(|| Error::Internal("second certificate without key".into()))?;
        let mut chain = Vec::new();
        for role in [CaRole::Signing, CaRole::Root] {
            let ca = self
                .certs
                .ca_certificate(role)
                .await?
                .ok_or_else(|| Error::NotSetUp(format!("the {} CA", role.as_str())))?;
            chain.push(ca.cert.der);
        }
        Ok(SigningCredential {
            certificate,
            algorithm,
            chain,
        })
    }

    /// Signs with the holder's second certificate's key. Returns the signature and the
    /// certificate (DER) it belongs to.
    pub async fn sign_with_second_certificate(
        &self,
        username: &Username,
        message: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), Error> {
        let holder = self.holder(username).await?;
        let cert = self.second_certificate(&holder).await?;
        let (alg, key) = cert
            .cert
            .key
            .clone()
            .ok_or_else(|| Error::Internal("second certificate without key".into()))?;
        let signature = self.sign(&key, alg, message).await?;
        Ok((signature, cert.cert.der))
    }

    /// Signs SHA-256 digests a relying system computed with the key of `certificate`, which
    /// must still be the holder's valid second certificate when this runs (checked again
    /// here: a revocation since it was looked up stops the signature).
    pub async fn sign_digests_with_second_certificate(
        &self,
        holder: &Holder,
        certificate: &StoredCertificate,
        scheme: DigestSigning,
        digests: &[Sha256Digest],
    ) -> Result<Vec<Vec<u8>>, Error> {
        let current = self.second_certificate(holder).await?;
        if current.cert.serial != certificate.cert.serial {
            return Err(Error::Conflict(format!(
                "holder {}'s second certificate changed to serial {} while signing",
                holder.username, current.cert.serial
            )));
        }
        let (alg, key) = current
            .cert
            .key
            .ok_or_else(|| Error::Internal("second certificate without key".into()))?;
        Ok(self
            .keystore
            .sign_digests(&key, alg, scheme, digests)
            .await?)
    }
}
