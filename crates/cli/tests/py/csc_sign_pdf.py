"""pyHanko signs a PDF through our CSC API and then validates it against our root, with our
CRL and OCSP, revocation checking hard-fail. Run by the Rust integration tests (csc.rs) with
the venv scripts/test makes; nothing of this project is imported here.

Exit status: 0 signed and validated (a JSON summary on stdout), 3 signing refused (pyHanko's
error on stderr), 4 signed but not valid, 2 bad arguments.
"""

import argparse
import asyncio
import io
import json
import sys
from datetime import datetime, timedelta, timezone

import aiohttp
from asn1crypto import algos, pem, x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers import csc_signer
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext


def minimal_pdf() -> bytes:
    """One empty A4 page, with a correct cross-reference table."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
    ]
    out = b"%PDF-1.7\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return out


class SessionAuthorization(csc_signer.CSCAuthorizationManager):
    """SCAL1: a SAD from credentials/authorize within the holder's signing session, bound to
    the hashes about to be signed."""

    def __init__(self, session, info, credential):
        super().__init__(info, credential)
        self.session = session

    async def authorize_signature(self, hash_b64s):
        request = self.format_csc_auth_request(hash_b64s=hash_b64s)
        url = self.csc_session_info.endpoint_url("credentials/authorize")
        async with self.session.post(
            url, headers=self.auth_headers, json=request, raise_for_status=True
        ) as response:
            return self.parse_csc_auth_response(await response.json())


class ConsentAuthorization(csc_signer.CSCAuthorizationManager):
    """SCAL2: for each batch of hashes, the holder authorizes exactly those with the passkey
    (oauth2/authorize, scope=credential); the credential token that comes back signs them,
    with no SAD. The browser part is the test's: it is asked on standard output and answers on
    standard input."""

    def __init__(self, info, credential):
        super().__init__(info, credential)
        self.credential_token = None

    async def authorize_signature(self, hash_b64s):
        print("AUTHORIZE " + json.dumps(hash_b64s), flush=True)
        self.credential_token = sys.stdin.readline().strip()
        expires = datetime.now(tz=timezone.utc) + timedelta(minutes=5)
        return csc_signer.CSCAuthorizationInfo(sad="", expires_at=expires)

    @property
    def auth_headers(self):
        return {"Authorization": f"Bearer {self.credential_token}"}


class PssSaltSigner(csc_signer.CSCSigner):
    """RSA-PSS with SHA-256, MGF1 with SHA-256 and a salt of the length given (pyHanko's own
    choice, with prefer_pss, is the longest salt the key allows)."""

    def __init__(self, session, auth_manager, salt):
        super().__init__(session, auth_manager=auth_manager)
        self.salt = salt

    def get_signature_mechanism_for_digest(self, digest_algorithm):
        params = algos.RSASSAPSSParams(
            {
                "hash_algorithm": {"algorithm": "sha256"},
                "mask_gen_algorithm": {
                    "algorithm": "mgf1",
                    "parameters": {"algorithm": "sha256"},
                },
                "salt_length": self.salt,
            }
        )
        return algos.SignedDigestAlgorithm({"algorithm": "rsassa_pss", "parameters": params})


async def sign(args) -> bytes:
    async with aiohttp.ClientSession() as session:
        info = csc_signer.CSCServiceSessionInfo(
            service_url=args.base,
            credential_id=args.credential,
            oauth_token=args.token,
            api_ver=args.api,
        )
        credential = await csc_signer.fetch_certs_in_csc_credential(session, info)
        if args.scal2:
            manager = ConsentAuthorization(info, credential)
        else:
            manager = SessionAuthorization(session, info, credential)
        if args.pss_salt is not None:
            signer = PssSaltSigner(session, manager, args.pss_salt)
        else:
            signer = csc_signer.CSCSigner(session, auth_manager=manager, prefer_pss=args.pss)
        meta = signers.PdfSignatureMetadata(
            field_name="Signature1",
            md_algorithm="sha256",
            subfilter=fields.SigSeedSubFilter.PADES,
        )
        out = await signers.PdfSigner(meta, signer=signer).async_sign_pdf(
            IncrementalPdfFileWriter(io.BytesIO(minimal_pdf()))
        )
        return out.getvalue()


async def validate(pdf: bytes, root_pem: str):
    with open(root_pem, "rb") as f:
        _, _, der = pem.unarmor(f.read())
    context = ValidationContext(
        trust_roots=[x509.Certificate.load(der)],
        allow_fetching=True,
        revocation_mode="hard-fail",
    )
    signature = PdfFileReader(io.BytesIO(pdf)).embedded_signatures[0]
    return await async_validate_pdf_signature(signature, context)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--credential", required=True)
    p.add_argument("--api", default="v1")
    p.add_argument("--pss", action="store_true", help="RSA-PSS as pyHanko chooses it")
    p.add_argument("--pss-salt", type=int, help="RSA-PSS with this salt length")
    p.add_argument("--scal2", action="store_true")
    p.add_argument("--root", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    try:
        pdf = asyncio.run(sign(args))
    except (SigningError, aiohttp.ClientError) as e:
        cause = e.__cause__
        print(f"signing refused: {e} ({cause})", file=sys.stderr)
        sys.exit(3)
    with open(args.out, "wb") as f:
        f.write(pdf)
    status = asyncio.run(validate(pdf, args.root))
    embedded = PdfFileReader(io.BytesIO(pdf)).embedded_signatures[0]
    mechanism = embedded.signer_info["signature_algorithm"]
    salt = None
    if mechanism["algorithm"].native == "rsassa_pss":
        salt = mechanism["parameters"]["salt_length"].native
    summary = {
        "pss_salt": salt,
        "intact": status.intact,
        "valid": status.valid,
        "trusted": status.trusted,
        "bottom_line": status.bottom_line,
        "signer": status.signing_cert.subject.human_friendly,
        "mechanism": status.md_algorithm + "/" + status.pkcs7_signature_mechanism,
    }
    print(json.dumps(summary))
    if not status.bottom_line:
        print(status.pretty_print_details(), file=sys.stderr)
        sys.exit(4)


if __name__ == "__main__":
    main()
