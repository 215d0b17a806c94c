//! Signing with a holder's second certificate's key, which only a certificate that is valid
//! right now may do: once revoked or expired, the key never signs again.

use hpki_core::domain::{
    CaRole, CertificateKind, CertificateStatus, Holder, StoredCertificate, Username,
};
use hpki_core::keystore::{DigestSigning, Sha256Digest};
use hpki_core::Error;

use super::CaService;

impl CaService {
    /// The holder's second certificate that may sign now (the newest valid one), or why none
    /// may (`Conflict`).
    pub async fn second_certificate(&self, holder: &Holder) -> Result<StoredCertificate, Error> {
        let certificates = self.certs.certificates_of_holder(holder.id).await?;
        StoredCertificate::signing_second(certificates, self.clock.now()).map_err(|why| {
            Error::Conflict(format!(
                "holder {} {why}: its key cannot sign",
                holder.username
            ))
        })
    }

    /// The CA certificates above a holder's: the signing CA, then the root.
    pub async fn signing_chain(&self) -> Result<Vec<Vec<u8>>, Error> {
        let mut chain = Vec::new();
        for role in [CaRole::Signing, CaRole::Root] {
            let ca = self
                .certs
                .ca_certificate(role)
                .await?
                .ok_or(Error::NotSetUp(hpki_core::Unset::Ca(role)))?;
            chain.push(ca.cert.der);
        }
        Ok(chain)
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

    /// Signs SHA-256 digests a relying system computed with the key of `certificate`, the
    /// holder's second certificate as just read (by the caller, in the same request): it must
    /// be the holder's, a second certificate, and valid now.
    pub async fn sign_digests_with_second_certificate(
        &self,
        holder: &Holder,
        certificate: &StoredCertificate,
        scheme: DigestSigning,
        digests: &[Sha256Digest],
    ) -> Result<Vec<Vec<u8>>, Error> {
        let now = self.clock.now();
        if certificate.cert.holder_id != Some(holder.id)
            || certificate.cert.kind != CertificateKind::Second
        {
            return Err(Error::Internal(format!(
                "certificate {} is not holder {}'s second certificate",
                certificate.cert.serial, holder.username
            )));
        }
        if certificate.status_at(now) != CertificateStatus::Valid {
            return Err(Error::Conflict(format!(
                "holder {}'s second certificate {} is not valid now: its key cannot sign",
                holder.username, certificate.cert.serial
            )));
        }
        let (alg, key) = certificate
            .cert
            .key
            .clone()
            .ok_or_else(|| Error::Internal("second certificate without key".into()))?;
        Ok(self
            .keystore
            .sign_digests(&key, alg, scheme, digests)
            .await?)
    }
}
