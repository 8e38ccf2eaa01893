"""The seed's certificate policy: who the intermediate CA is, key size, validity."""

ORGANIZATION = "msgroup"
INTERMEDIATE_CN = "mindiems"
"""The only intermediate CA name the ms components accept (the seed: CN=mindiems, O=msgroup)."""
INTERMEDIATE_SUBJECT = {"commonName": INTERMEDIATE_CN, "organization": ORGANIZATION}
"""The intermediate's subject in pulumi-tls' spelling (CertRequest `subject`)."""

RSA_BITS = 4096
"""The seed's key size (openssl genrsa 4096)."""
MAX_VALIDITY_DAYS = 365
"""The seed's openssl -days 365: the longest an issued certificate may live."""
MAX_VALIDITY_HOURS = MAX_VALIDITY_DAYS * 24
