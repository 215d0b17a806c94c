"""signxml's XAdES verifier checks a signed prescription: the signature over SignedInfo with
the certificate given (pinned), and all three references (the prescription data, KeyInfo,
SignedProperties). Exit status 0 when it verifies, 1 when it does not (the reason on stderr).
Then it reads the prescription data as a program that looks elements up by their Id would:
the element whose Id the signature's first reference names (it must be the only one), printed
as "read by Id: TEXT", so the test can compare it with what was sent.
Run by the Rust integration tests (csc_documents.rs); nothing of this project is imported.
"""

import sys

from lxml import etree

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
    tree = etree.fromstring(data)
    ns = {"ds": "http://www.w3.org/2000/09/xmldsig#"}
    uri = tree.xpath("//ds:SignedInfo/ds:Reference[1]/@URI", namespaces=ns)[0]
    if uri.startswith("#"):
        found = tree.xpath("//*[@Id=$id or @id=$id or @ID=$id]", id=uri[1:])
        if len(found) != 1:
            print(f"{len(found)} elements have the Id {uri[1:]}", file=sys.stderr)
            sys.exit(1)
        print(f"read by Id: {found[0].text}")


if __name__ == "__main__":
    main()
