/*
 * FUZZ_SOURCES: src/jwt.c src/util.c
 * FUZZ_LIBS: -lsodium -lcrypto -ljson-c
 * fuzz_jwt.c: libFuzzer target for jwt.c, the parsers of what a client
 * sends to sign in (a compact JWS) and of what jwks_url answers (a JSON Web
 * Key Set document).
 * Input: 1 control byte c, then the bytes of one of four modes (c & 3):
 *   0  a JWKS document. c bit 2: padded with spaces to a length near
 *      JWKS_MAX_BYTES (c bits 4-7 pick the length, -8 .. +7 around it);
 *   1  a JWKS document, '\n' (the last one), a token verified against
 *      the keys of that document;
 *   2  a header JSON, '\n' (the first one), a claims JSON: this target
 *      encodes both and signs them (c bits 2-3: HS256 with the policy's
 *      secret, EdDSA, ES256 or RS256, with keys it holds), so the claims
 *      checks and alg confusion are reached with real signatures;
 *   3  a token verified against this target's own key set.
 *   In modes 1-3, c bits 4-7 choose the policy: a secret, an issuer, an
 *   audience and a name claim required.
 * Checked:
 *   - jwt_keyset_parse(): NULL comes with a message, a key set has at most
 *     JWKS_MAX_KEYS keys, kept plus skipped is the length of "keys" (when
 *     the document is one this target can read back), over JWKS_MAX_BYTES
 *     is refused;
 *   - jwt_verify(): a result of the enum; JWT_OK only for an accepted alg,
 *     an expiry after now, a kid and a name within bounds;
 *   - mode 2: JWT_OK only when the signing alg is the header's alg (no
 *     token signed by one key passes as another alg), the issuer equals
 *     the policy's and the name claim equals the reported name byte for
 *     byte (a claim with a NUL in it is not taken for a shorter one);
 *   - mode 3: JWT_OK only for a token whose signature this target checks
 *     independently (libsodium's HMAC or Ed25519; the RSA and EC keys are
 *     new each run, so no input can be signed by them): random bytes,
 *     "none" and alg confusion never pass.
 */
#define _GNU_SOURCE /* memrchr */
#include "jwt.h"

#include <json-c/json.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) \
	do { \
		if (!(cond)) { \
			fprintf(stderr, "fuzz_jwt: check failed at line %d: %s\n", __LINE__, #cond); \
			abort(); \
		} \
	} while (0)

#define NOW 1800000000
#define SECRET "unit-test-secret-of-32-bytes-ok!" /* the unit tests' fixtures (tests/data/jwt) */
#define ISSUER "https://issuer.test"
#define AUDIENCE "rtft"
#define NAME_CLAIM "preferred_username"

static struct {
	bool ready;
	uint8_t ed_pk[crypto_sign_PUBLICKEYBYTES], ed_sk[crypto_sign_SECRETKEYBYTES];
	EVP_PKEY *ec, *rsa;
	struct jwt_keyset *ks;
} K;

static char *b64(const uint8_t *p, size_t n)
{
	size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	char *s = malloc(cap);
	sodium_bin2base64(s, cap, p, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return s;
}

static char *b64_bn(const BIGNUM *bn, int pad)
{
	uint8_t buf[512];
	int n = pad ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
	CHECK(n > 0);
	return b64(buf, (size_t)n);
}

/* the key set of this target's own keys: kids rs, ec, ed */
static void init_keys(void)
{
	uint8_t seed[crypto_sign_SEEDBYTES];
	CHECK(sodium_init() >= 0);
	memset(seed, 7, sizeof seed);
	crypto_sign_seed_keypair(K.ed_pk, K.ed_sk, seed);
	K.ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	K.rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	CHECK(K.ec && K.rsa);
	BIGNUM *n = NULL, *e = NULL, *x = NULL, *y = NULL;
	CHECK(EVP_PKEY_get_bn_param(K.rsa, "n", &n) && EVP_PKEY_get_bn_param(K.rsa, "e", &e));
	CHECK(EVP_PKEY_get_bn_param(K.ec, "qx", &x) && EVP_PKEY_get_bn_param(K.ec, "qy", &y));
	char *ns = b64_bn(n, 0), *es = b64_bn(e, 0), *xs = b64_bn(x, 32), *ys = b64_bn(y, 32);
	char *eds = b64(K.ed_pk, sizeof K.ed_pk);
	char doc[2048];
	snprintf(doc, sizeof doc,
		 "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"rs\",\"n\":\"%s\",\"e\":\"%s\"},"
		 "{\"kty\":\"EC\",\"kid\":\"ec\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"},"
		 "{\"kty\":\"OKP\",\"kid\":\"ed\",\"crv\":\"Ed25519\",\"x\":\"%s\"}]}",
		 ns, es, xs, ys, eds);
	int skipped = -1;
	struct rt_err err = { "" };
	K.ks = jwt_keyset_parse(doc, strlen(doc), &skipped, &err);
	CHECK(K.ks && jwt_keyset_count(K.ks) == 3 && skipped == 0);
	free(ns);
	free(es);
	free(xs);
	free(ys);
	free(eds);
	BN_free(n);
	BN_free(e);
	BN_free(x);
	BN_free(y);
	K.ready = true;
}

/* the length of the document's "keys" array, or -1 when it has none that
 * json-c reads back the way jwt.c does */
static int keys_length(const char *doc, size_t len)
{
	json_tokener *tok = json_tokener_new_ex(8);
	json_object *o = json_tokener_parse_ex(tok, doc, (int)len), *arr;
	int n = -1;
	if (o && json_tokener_get_error(tok) == json_tokener_success && json_tokener_get_parse_end(tok) == len &&
	    json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, "keys", &arr) &&
	    json_object_is_type(arr, json_type_array))
		n = (int)json_object_array_length(arr);
	json_object_put(o);
	json_tokener_free(tok);
	return n;
}

static struct jwt_keyset *parse_keyset(const char *doc, size_t len)
{
	int skipped = -1;
	struct rt_err err = { "" };
	struct jwt_keyset *ks = jwt_keyset_parse(doc, len, &skipped, &err);
	int total = len <= JWKS_MAX_BYTES ? keys_length(doc, len) : -1;
	if (!ks) {
		CHECK(err.msg[0] != '\0');
		CHECK(total < 0);
		return NULL;
	}
	CHECK(len <= JWKS_MAX_BYTES);
	CHECK(jwt_keyset_count(ks) >= 0 && jwt_keyset_count(ks) <= JWKS_MAX_KEYS);
	CHECK(skipped >= 0 && jwt_keyset_count(ks) + skipped == total);
	return ks;
}

static void policy_of(uint8_t c, struct jwt_policy *p)
{
	memset(p, 0, sizeof *p);
	if (c & 0x10) {
		p->secret = SECRET;
		p->secret_len = strlen(SECRET);
	}
	if (c & 0x20)
		p->issuer = ISSUER;
	if (c & 0x40)
		p->audience = AUDIENCE;
	if (c & 0x80)
		p->name_claim = NAME_CLAIM;
}

static enum jwt_result verify(const char *tok, size_t len, const struct jwt_policy *p, const struct jwt_keyset *ks,
			      struct jwt_claims *cl)
{
	char *copy = malloc(len ? len : 1); /* exact size: ASan sees a read past the token */
	memcpy(copy, tok, len);
	enum jwt_result r = jwt_verify(copy, len, p, ks, NOW, cl);
	free(copy);
	CHECK(r >= JWT_OK && r <= JWT_NO_NAME);
	CHECK(jwt_result_text(r) != NULL);
	CHECK(strlen(cl->kid) < sizeof cl->kid);
	if (r == JWT_OK) {
		CHECK(cl->alg >= JWT_HS256 && cl->alg <= JWT_EDDSA);
		CHECK(cl->exp > NOW);
		CHECK(len <= JWT_MAX_BYTES);
		if (p->name_claim)
			CHECK(cl->name[0] && strlen(cl->name) <= JWT_NAME_MAX);
		else
			CHECK(cl->name[0] == '\0');
		if (cl->alg == JWT_HS256)
			CHECK(p->secret != NULL);
	}
	return r;
}

/* ---- mode 2: sign what the input says ---- */

static size_t sign(int alg, const char *in, size_t n, uint8_t *sig, size_t cap)
{
	if (alg == JWT_HS256) {
		crypto_auth_hmacsha256_state st;
		crypto_auth_hmacsha256_init(&st, (const uint8_t *)SECRET, strlen(SECRET));
		crypto_auth_hmacsha256_update(&st, (const uint8_t *)in, n);
		crypto_auth_hmacsha256_final(&st, sig);
		return crypto_auth_hmacsha256_BYTES;
	}
	if (alg == JWT_EDDSA) {
		crypto_sign_detached(sig, NULL, (const uint8_t *)in, n, K.ed_sk);
		return crypto_sign_BYTES;
	}
	uint8_t der[600];
	size_t dlen = sizeof der;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	CHECK(ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, alg == JWT_ES256 ? K.ec : K.rsa) == 1);
	CHECK(EVP_DigestSign(ctx, der, &dlen, (const uint8_t *)in, n) == 1);
	EVP_MD_CTX_free(ctx);
	if (alg == JWT_RS256) {
		CHECK(dlen <= cap);
		memcpy(sig, der, dlen);
		return dlen;
	}
	const uint8_t *q = der;
	ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &q, (long)dlen);
	CHECK(es && cap >= 64);
	CHECK(BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32) == 32 &&
	      BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32) == 32);
	ECDSA_SIG_free(es);
	return 64;
}

static const char *alg_name(int alg)
{
	static const char *names[] = { "none", "HS256", "RS256", "ES256", "EdDSA" };
	return names[alg];
}

/* the string member key of the JSON text, with its length; NULL if none */
static const char *json_str(json_object *o, const char *key, int *len)
{
	json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	*len = json_object_get_string_len(v);
	return json_object_get_string(v);
}

static json_object *json_of(const char *s, size_t n)
{
	json_tokener *tok = json_tokener_new_ex(8);
	json_object *o = json_tokener_parse_ex(tok, s, (int)n);
	json_tokener_free(tok);
	return o;
}

static void signed_mode(uint8_t c, const char *in, size_t n)
{
	static const int algs[] = { JWT_HS256, JWT_EDDSA, JWT_ES256, JWT_RS256 };
	int alg = algs[(c >> 2) & 3];
	const char *nl = memchr(in, '\n', n);
	if (!nl)
		return;
	size_t hn = (size_t)(nl - in), pn = n - hn - 1;
	if (hn > 2000 || pn > 3000)
		return;
	char *h64 = b64((const uint8_t *)in, hn), *p64 = b64((const uint8_t *)nl + 1, pn);
	size_t tcap = strlen(h64) + strlen(p64) + 1024;
	char *tok = malloc(tcap);
	int tl = snprintf(tok, tcap, "%s.%s", h64, p64);
	uint8_t sig[512];
	size_t slen = sign(alg, tok, (size_t)tl, sig, sizeof sig);
	char *s64 = b64(sig, slen);
	snprintf(tok + tl, tcap - (size_t)tl, ".%s", s64);
	struct jwt_policy p;
	policy_of(c, &p);
	struct jwt_claims cl;
	enum jwt_result r = verify(tok, strlen(tok), &p, K.ks, &cl);
	if (r == JWT_OK) {
		CHECK(cl.alg == alg);
		json_object *hdr = json_of(in, hn), *claims = json_of(nl + 1, pn);
		int l = 0;
		const char *a = json_str(hdr, "alg", &l);
		CHECK(a && (size_t)l == strlen(alg_name(alg)) && strcmp(a, alg_name(alg)) == 0);
		if (p.issuer) {
			const char *iss = json_str(claims, "iss", &l);
			CHECK(iss && (size_t)l == strlen(ISSUER) && memcmp(iss, ISSUER, (size_t)l) == 0);
		}
		if (p.name_claim) {
			const char *name = json_str(claims, NAME_CLAIM, &l);
			CHECK(name && (size_t)l == strlen(cl.name) && memcmp(name, cl.name, (size_t)l) == 0);
		}
		json_object_put(hdr);
		json_object_put(claims);
	}
	free(h64);
	free(p64);
	free(s64);
	free(tok);
}

/* ---- mode 3: nothing passes that this target did not sign ---- */

static bool signed_here(const char *tok, size_t len, enum jwt_alg alg)
{
	const char *dot = tok + len;
	while (dot > tok && dot[-1] != '.')
		dot--;
	uint8_t sig[128];
	size_t got = 0;
	if (dot == tok || sodium_base642bin(sig, sizeof sig, dot, len - (size_t)(dot - tok), NULL, &got, NULL,
					    sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
		return false;
	size_t in = (size_t)(dot - 1 - tok);
	if (alg == JWT_HS256) {
		uint8_t mac[crypto_auth_hmacsha256_BYTES];
		crypto_auth_hmacsha256_state st;
		crypto_auth_hmacsha256_init(&st, (const uint8_t *)SECRET, strlen(SECRET));
		crypto_auth_hmacsha256_update(&st, (const uint8_t *)tok, in);
		crypto_auth_hmacsha256_final(&st, mac);
		return got == sizeof mac && sodium_memcmp(mac, sig, sizeof mac) == 0;
	}
	if (alg == JWT_EDDSA)
		return got == crypto_sign_BYTES &&
		       crypto_sign_verify_detached(sig, (const uint8_t *)tok, in, K.ed_pk) == 0;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!K.ready)
		init_keys();
	if (size < 1 || size > 300000)
		return 0;
	uint8_t c = data[0];
	const char *in = (const char *)data + 1;
	size_t n = size - 1;
	struct jwt_policy p;
	struct jwt_claims cl;
	switch (c & 3) {
	case 0: {
		size_t len = n;
		if (c & 4) {
			size_t want = (size_t)JWKS_MAX_BYTES - 8 + (size_t)(c >> 4);
			if (n > want)
				return 0;
			len = want;
		}
		char *doc = malloc(len ? len : 1);
		memcpy(doc, in, n);
		memset(doc + n, ' ', len - n);
		jwt_keyset_unref(parse_keyset(doc, len));
		free(doc);
		break;
	}
	case 1: {
		const char *nl = n ? memrchr(in, '\n', n) : NULL;
		if (!nl)
			return 0;
		char *doc = malloc((size_t)(nl - in) + 1);
		memcpy(doc, in, (size_t)(nl - in));
		struct jwt_keyset *ks = parse_keyset(doc, (size_t)(nl - in));
		free(doc);
		policy_of(c, &p);
		(void)verify(nl + 1, n - (size_t)(nl - in) - 1, &p, ks, &cl);
		jwt_keyset_unref(ks);
		break;
	}
	case 2:
		signed_mode(c, in, n);
		break;
	case 3:
		policy_of(c, &p);
		if (verify(in, n, &p, K.ks, &cl) == JWT_OK)
			CHECK(signed_here(in, n, cl.alg));
		break;
	}
	return 0;
}
