#!/usr/bin/python3
"""Writes the JWT verifier's fixtures: jwks.json (the public keys) and
tokens.txt ("case expected policy token" lines) for tests/unit/test_jwt.c.
Fresh keys each run; the committed files are one run's output. Times are
fixed around NOW, which the unit test passes to jwt_verify."""
import base64, json, os, sys
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

NOW = 1800000000
SECRET = b"unit-test-secret-of-32-bytes-ok!"
ISS, AUD, NAME = "https://issuer.test", "rtft", "preferred_username"


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def uint(n, size=None):
    size = size or (n.bit_length() + 7) // 8
    return b64(n.to_bytes(size, "big"))


def sign(alg, key, data):
    if alg == "HS256":
        h = hmac.HMAC(key, hashes.SHA256()); h.update(data); return h.finalize()
    if alg == "RS256":
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if alg == "ES256":
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return key.sign(data)


def token(alg, key, claims=None, header=None, kid=None, raw_sig=None):
    h = {"alg": alg, "typ": "JWT"}
    if kid:
        h["kid"] = kid
    h.update(header or {})
    c = {"iss": ISS, "aud": AUD, "exp": NOW + 600, "iat": NOW - 10, NAME: "alice"}
    c.update(claims or {})
    c = {k: v for k, v in c.items() if v is not None}
    data = (b64(json.dumps(h).encode()) + "." + b64(json.dumps(c).encode())).encode()
    sig = raw_sig if raw_sig is not None else sign(alg, key, data)
    return data.decode() + "." + b64(sig)


def main(out):
    rsa_k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_k = ec.generate_private_key(ec.SECP256R1())
    ed_k = ed25519.Ed25519PrivateKey.generate()
    rn = rsa_k.public_key().public_numbers()
    en = ec_k.public_key().public_numbers()
    ed_x = ed_k.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key().public_numbers()
    jwks = {"keys": [
        {"kty": "RSA", "kid": "rsa1", "use": "sig", "alg": "RS256", "n": uint(rn.n), "e": uint(rn.e)},
        {"kty": "EC", "kid": "ec1", "crv": "P-256", "x": uint(en.x, 32), "y": uint(en.y, 32)},
        {"kty": "OKP", "kid": "ed1", "crv": "Ed25519", "x": b64(ed_x)},
        {"kty": "RSA", "kid": "small", "n": uint(small.n), "e": uint(small.e)},
        {"kty": "oct", "kid": "oct1", "k": b64(SECRET)},
        {"kty": "EC", "kid": "p384", "crv": "P-384", "x": "AA", "y": "AA"},
    ]}
    pem = rsa_k.public_key().public_bytes(serialization.Encoding.PEM,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    der_sig = ec_k.sign(b"x", ec.ECDSA(hashes.SHA256()))
    none_tok = token("HS256", SECRET).split(".")
    none_hdr = b64(json.dumps({"alg": "none"}).encode())
    cases = [
        ("hs256_good", "OK", "p", token("HS256", SECRET)),
        ("hs256_bad_signature", "BAD_SIGNATURE", "p", token("HS256", b"another secret")),
        ("rs256_good", "OK", "p", token("RS256", rsa_k, kid="rsa1")),
        ("rs256_no_kid", "OK", "p", token("RS256", rsa_k)),
        ("rs256_bad_signature", "BAD_SIGNATURE", "p", token("RS256", rsa_other, kid="rsa1")),
        ("es256_good", "OK", "p", token("ES256", ec_k, kid="ec1")),
        ("es256_bad_signature", "BAD_SIGNATURE", "p", token("ES256", ec.generate_private_key(ec.SECP256R1()), kid="ec1")),
        ("es256_der_signature", "BAD_SIGNATURE", "p", token("ES256", ec_k, kid="ec1", raw_sig=der_sig)),
        ("eddsa_good", "OK", "p", token("EdDSA", ed_k, kid="ed1")),
        ("eddsa_bad_signature", "BAD_SIGNATURE", "p", token("EdDSA", ed25519.Ed25519PrivateKey.generate(), kid="ed1")),
        ("expired", "EXPIRED", "p", token("HS256", SECRET, {"exp": NOW - 61})),
        ("expired_within_skew", "OK", "p", token("HS256", SECRET, {"exp": NOW - 30})),
        ("nbf_future", "NOT_YET", "p", token("HS256", SECRET, {"nbf": NOW + 120})),
        ("nbf_within_skew", "OK", "p", token("HS256", SECRET, {"nbf": NOW + 30})),
        ("exp_not_number", "MALFORMED", "p", token("HS256", SECRET, {"exp": "soon"})),
        ("no_exp", "NO_EXP", "p", token("HS256", SECRET, {"exp": None})),
        ("issuer_mismatch", "ISSUER", "p", token("HS256", SECRET, {"iss": "https://evil.test"})),
        ("issuer_missing", "ISSUER", "p", token("HS256", SECRET, {"iss": None})),
        ("audience_mismatch", "AUDIENCE", "p", token("HS256", SECRET, {"aud": "other"})),
        ("audience_array", "OK", "p", token("HS256", SECRET, {"aud": ["other", "rtft"]})),
        ("audience_array_without", "AUDIENCE", "p", token("HS256", SECRET, {"aud": ["other", 7]})),
        ("no_name_claim", "NO_NAME", "p", token("HS256", SECRET, {NAME: None})),
        ("name_not_string", "NO_NAME", "p", token("HS256", SECRET, {NAME: 42})),
        ("alg_confusion_rsa_pem_as_secret", "BAD_ALG", "k", token("HS256", pem, kid="rsa1")),
        ("hs256_without_secret", "BAD_ALG", "k", token("HS256", SECRET)),
        ("oct_key_not_used", "BAD_ALG", "k", token("HS256", SECRET, kid="oct1")),
        ("alg_none", "BAD_ALG", "p", none_hdr + "." + none_tok[1] + "."),
        ("alg_unknown", "BAD_ALG", "p", token("HS256", SECRET, header={"alg": "HS512"})),
        ("crit_header", "BAD_ALG", "p", token("HS256", SECRET, header={"crit": ["exp"]})),
        ("kid_for_other_alg", "BAD_ALG", "p", token("RS256", rsa_k, kid="ec1")),
        ("unknown_kid", "UNKNOWN_KID", "p", token("RS256", rsa_k, kid="rsa9")),
        ("small_rsa_key_skipped", "UNKNOWN_KID", "p", token("RS256", rsa_k, kid="small")),
        ("two_parts", "MALFORMED", "p", ".".join(token("HS256", SECRET).split(".")[:2])),
        ("four_parts", "MALFORMED", "p", token("HS256", SECRET) + ".x"),
        ("bad_base64", "MALFORMED", "p", "eyJ!bGciOiJIUzI1NiJ9." + none_tok[1] + "." + none_tok[2]),
        ("padded_base64", "MALFORMED", "p", none_tok[0] + "=." + none_tok[1] + "." + none_tok[2]),
        ("header_not_json", "MALFORMED", "p", b64(b"{alg:HS256") + "." + none_tok[1] + "." + none_tok[2]),
        ("header_not_object", "MALFORMED", "p", b64(b'["HS256"]') + "." + none_tok[1] + "." + none_tok[2]),
        ("claims_trailing_bytes", "MALFORMED", "p", none_tok[0] + "." + b64(b'{"exp":1}x') + "." + none_tok[2]),
        ("empty_signature", "MALFORMED", "p", none_tok[0] + "." + none_tok[1] + "."),
    ]
    with open(os.path.join(out, "jwks.json"), "w") as f:
        json.dump(jwks, f, indent=1)
        f.write("\n")
    with open(os.path.join(out, "tokens.txt"), "w") as f:
        f.write("# case expected policy(p: secret and keys, k: keys only) token; now = %d\n" % NOW)
        for c in cases:
            f.write(" ".join(c) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
