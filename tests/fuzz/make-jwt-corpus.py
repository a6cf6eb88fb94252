#!/usr/bin/python3
"""Writes the seed corpus of fuzz_jwt.c (tests/fuzz/corpus/jwt/) from the
unit tests' fixtures (tests/data/jwt: tokens of each algorithm made with
Python's cryptography, and their key set) plus key sets made here: every
key type, bad base64url, a 8192-bit modulus and a huge exponent, wrong
curves, duplicate kids, more than 32 keys. Fresh keys each run; the
committed files are one run's output. See fuzz_jwt.c for the input format:
one control byte, then the mode's bytes."""
import base64, json, os
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

top = os.path.dirname(os.path.abspath(__file__))
data = os.path.join(top, "..", "data", "jwt")
out = os.path.join(top, "corpus", "jwt")


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def uint(n, size=None):
    return b64(n.to_bytes(size or (n.bit_length() + 7) // 8, "big"))


def write(name, control, body):
    with open(os.path.join(out, name), "wb") as f:
        f.write(bytes([control]) + body)


def rsa_jwk(bits, kid, e=65537):
    pub = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key().public_numbers()
    return {"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": uint(pub.n), "e": uint(e)}


def ec_jwk(curve, kid, crv):
    pub = ec.generate_private_key(curve).public_key().public_numbers()
    size = (curve.key_size + 7) // 8
    return {"kty": "EC", "kid": kid, "crv": crv, "x": uint(pub.x, size), "y": uint(pub.y, size)}


def ed_jwk(kid):
    raw = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": b64(raw)}


def doc(keys):
    return json.dumps({"keys": keys}).encode()


os.makedirs(out, exist_ok=True)
jwks = open(os.path.join(data, "jwks.json"), "rb").read()
tokens = [l.split() for l in open(os.path.join(data, "tokens.txt")) if l[0] != "#"]

# mode 0: key sets
write("jwks-fixture", 0, jwks)
write("jwks-fixture-padded", 0x04 | 0x70, jwks)
write("jwks-every-type", 0, doc([rsa_jwk(2048, "r"), ec_jwk(ec.SECP256R1(), "e", "P-256"), ed_jwk("d"),
                                 {"kty": "oct", "kid": "o", "k": b64(b"x" * 32)},
                                 {"kty": "OKP", "crv": "X25519", "x": b64(b"\1" * 32)}]))
write("jwks-huge", 0, doc([rsa_jwk(8192, "big"), dict(rsa_jwk(3072, "bige"), e=uint((1 << 3000) + 1)),
                           dict(rsa_jwk(2048, "e1"), e="AQ"), dict(rsa_jwk(2048, "long"), n="A" * 1400)]))
write("jwks-curves", 0, doc([ec_jwk(ec.SECP384R1(), "p384", "P-384"), ec_jwk(ec.SECP256K1(), "k1", "P-256"),
                             dict(ec_jwk(ec.SECP256R1(), "short", "P-256"), x="AAAA"),
                             {"kty": "OKP", "crv": "Ed448", "x": b64(b"\2" * 57)}]))
write("jwks-bad-base64", 0, doc([{"kty": "RSA", "n": "!!!!", "e": "AQAB"},
                                 {"kty": "EC", "crv": "P-256", "x": "a+b/", "y": "===="},
                                 {"kty": "OKP", "crv": "Ed25519", "x": b64(b"\3" * 32) + "="}]))
write("jwks-duplicate-kids", 0, doc([ed_jwk("same"), ed_jwk("same"), ec_jwk(ec.SECP256R1(), "same", "P-256")]))
write("jwks-40-keys", 0, doc([ed_jwk("k%d" % i) for i in range(40)]))

# mode 1: the fixture key set, then a fixture token, with the unit test's
# policies (p: secret, issuer, audience, name; k: the same without secret)
for name, _, pol, tok in tokens:
    c = 0xF0 if pol == "p" else 0xE0
    write("tok-" + name, 1 | c, jwks + b"\n" + tok.encode())
    if name.startswith(("hs256", "eddsa", "alg_")):
        write("own-" + name, 3 | c, tok.encode())

# mode 2: header and claims, signed by the target (c bits 2-3: HS256, EdDSA,
# ES256, RS256)
claims = json.dumps({"iss": "https://issuer.test", "aud": ["x", "rtft"], "exp": 1800000600,
                     "nbf": 1799999000, "preferred_username": "alice"}).encode()
for i, alg in enumerate(["HS256", "EdDSA", "ES256", "RS256"]):
    kid = ["", "ed", "ec", "rs"][i]
    hdr = {"alg": alg, "typ": "JWT"}
    if kid:
        hdr["kid"] = kid
    write("signed-" + alg, 2 | (i << 2) | 0xF0, json.dumps(hdr).encode() + b"\n" + claims)
    # the same key, another alg in the header: alg confusion
    other = ["RS256", "HS256", "EdDSA", "ES256"][i]
    write("confused-" + alg, 2 | (i << 2) | 0xF0, json.dumps(dict(hdr, alg=other)).encode() + b"\n" + claims)
write("signed-nul-name", 2 | 0xF0, b'{"alg":"HS256"}\n' + claims.replace(b'"alice"', b'"alice\\u0000x"'))
write("signed-huge-exp", 2 | 0xF0, b'{"alg":"HS256"}\n' + claims.replace(b"1800000600", b"9223372036854775807"))

# mode 3: tokens of the target's own Ed25519 key (libsodium's key of the
# seed 07..07, kid "ed"), so that a valid one is there to mutate
own = ed25519.Ed25519PrivateKey.from_private_bytes(b"\7" * 32)
for name, hdr in (("own-ed-kid", {"alg": "EdDSA", "kid": "ed"}), ("own-ed-nokid", {"alg": "EdDSA"})):
    signing = (b64(json.dumps(hdr).encode()) + "." + b64(claims)).encode()
    write(name, 3 | 0xE0, signing + b"." + b64(own.sign(signing)).encode())
