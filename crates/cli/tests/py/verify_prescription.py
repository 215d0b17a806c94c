"""signxml's XAdES verifier checks a signed prescription: the signature over SignedInfo with
the certificate given (pinned), and all three references (the prescription data, KeyInfo,
SignedProperties). Exit status 0 when it verifies, 1 when it does not (the reason on stderr).
Run by the Rust integration tests (csc_documents.rs); nothing of this project is imported.
"""

import sys

from signxml import SignatureConfiguration
from signxml.exceptions import InvalidInput, InvalidSignature
from signxml.xades import XAdESVerifier


def main():
    document, certificate = sys.argv[1], sys.argv[2]
    with open(document, "rb") as f:
        data = f.read()
    with open(certificate) as f:
        pem = f.read()
    try:
        results = XAdESVerifier().verify(
            data,
            x509_cert=pem,
            expect_config=SignatureConfiguration(expect_references=3),
        )
    except (InvalidSignature, InvalidInput) as e:
        print(f"does not verify: {e}", file=sys.stderr)
        sys.exit(1)
    for r in results:
        print(type(r).__name__)


if __name__ == "__main__":
    main()
