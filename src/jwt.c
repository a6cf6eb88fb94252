/*
 * jwt.c: compact JWS parsing and verification; JWKS parsing.
 * Every size is bounded before anything is decoded; the JSON documents go
 * through json-c with a small depth limit.
 */
#include "autoconf.h"
#include "jwt.h"
#include "util.h"

#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define JSON_DEPTH 8

struct jwt_key {
	char kid[128];
	enum jwt_alg alg; /* the one alg this key verifies */
	EVP_PKEY *pkey;
};

struct jwt_keyset {
	atomic_int refs;
	int n;
	struct jwt_key keys[];
};

const char *jwt_result_text(enum jwt_result r)
{
	switch (r) {
	case JWT_OK:
		return "valid";
	case JWT_MALFORMED:
		return "malformed token";
	case JWT_TOO_BIG:
		return "token too long";
	case JWT_BAD_ALG:
		return "token algorithm not accepted";
	case JWT_UNKNOWN_KID:
		return "token signed with an unknown key";
	case JWT_NO_KEYS:
		return "signing keys not loaded yet";
	case JWT_BAD_SIGNATURE:
		return "bad token signature";
	case JWT_EXPIRED:
		return "token expired";
	case JWT_NOT_YET:
		return "token not valid yet";
	case JWT_NO_EXP:
		return "token has no exp claim";
	case JWT_ISSUER:
		return "token issuer not accepted";
	case JWT_AUDIENCE:
		return "token audience not accepted";
	case JWT_NO_NAME:
		return "token lacks the name claim";
	}
	return "invalid token";
}

/* ---- helpers ---- */

/* base64url without padding, strictly; returns the decoded length or -1 */
static ssize_t b64url(const char *s, size_t n, uint8_t *out, size_t cap)
{
	size_t got = 0;
	if (n == 0)
		return 0;
	if (sodium_base642bin(out, cap, s, n, NULL, &got, NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
		return -1;
	return (ssize_t)got;
}

static json_object *parse_object(const char *s, size_t n)
{
	json_tokener *tok = json_tokener_new_ex(JSON_DEPTH);
	if (!tok)
		return NULL;
	json_object *o = json_tokener_parse_ex(tok, s, (int)n);
	bool whole = o && json_tokener_get_error(tok) == json_tokener_success && json_tokener_get_parse_end(tok) == n;
	json_tokener_free(tok);
	if (!whole || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static json_object *decode_object(const char *s, size_t n)
{
	uint8_t buf[JWT_MAX_BYTES];
	ssize_t got = b64url(s, n, buf, sizeof buf);
	if (got <= 0 || memchr(buf, 0, (size_t)got))
		return NULL;
	return parse_object((const char *)buf, (size_t)got);
}

/* the value of a JSON string, or NULL when it is not one or has a NUL in
 * it ("\u0000"): such a string is not the shorter one before the NUL */
static const char *str_of(json_object *v)
{
	if (!json_object_is_type(v, json_type_string))
		return NULL;
	const char *s = json_object_get_string(v);
	return strlen(s) == (size_t)json_object_get_string_len(v) ? s : NULL;
}

static const char *get_str(json_object *o, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) ? str_of(v) : NULL;
}

/* a NumericDate: 1 found, 0 absent, -1 not a number or beyond 1e15 s
 * either way (what the skew and the session's milliseconds add to it
 * then fits in an int64_t) */
static int get_time(json_object *o, const char *key, int64_t *out)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (json_object_is_type(v, json_type_int)) {
		int64_t t = json_object_get_int64(v); /* json-c clamps to INT64_MIN..INT64_MAX */
		if (t <= -1000000000000000 || t >= 1000000000000000)
			return -1;
		*out = t;
		return 1;
	}
	if (json_object_is_type(v, json_type_double)) {
		double d = json_object_get_double(v);
		if (!(d > -1e15 && d < 1e15))
			return -1;
		*out = (int64_t)d;
		return 1;
	}
	return -1;
}

static enum jwt_alg alg_by_name(const char *s)
{
	if (!s)
		return JWT_ALG_NONE;
	if (strcmp(s, "HS256") == 0)
		return JWT_HS256;
	if (strcmp(s, "RS256") == 0)
		return JWT_RS256;
	if (strcmp(s, "ES256") == 0)
		return JWT_ES256;
	if (strcmp(s, "EdDSA") == 0)
		return JWT_EDDSA;
	return JWT_ALG_NONE;
}

/* ---- the key set ---- */

static BIGNUM *b64_bn(const char *s)
{
	uint8_t buf[1024]; /* 8192-bit moduli at most */
	if (!s)
		return NULL;
	ssize_t n = b64url(s, strlen(s), buf, sizeof buf);
	return n > 0 ? BN_bin2bn(buf, (int)n, NULL) : NULL;
}

static EVP_PKEY *from_params(const char *type, OSSL_PARAM_BLD *bld)
{
	EVP_PKEY *pkey = NULL;
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	if (params && ctx && EVP_PKEY_fromdata_init(ctx) == 1)
		if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
			pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return pkey;
}

static EVP_PKEY *rsa_key(json_object *k)
{
	BIGNUM *n = b64_bn(get_str(k, "n")), *e = b64_bn(get_str(k, "e"));
	EVP_PKEY *pkey = NULL;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	/* e odd, 3 or more and of at most 33 bits, as BoringSSL requires: e = 1
	 * verifies anything, and a huge e makes every verification as slow as
	 * a private key operation (25 ms for a 3000-bit e, for each key a
	 * token without kid is tried against) */
	bool e_ok = e && BN_is_odd(e) && !BN_is_one(e) && BN_num_bits(e) <= 33;
	if (n && e_ok && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
		pkey = from_params("RSA", bld);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	if (pkey && EVP_PKEY_get_bits(pkey) < 2048) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	return pkey;
}

static EVP_PKEY *ec_key(json_object *k)
{
	const char *crv = get_str(k, "crv"), *xs = get_str(k, "x"), *ys = get_str(k, "y");
	if (!crv || strcmp(crv, "P-256") != 0 || !xs || !ys)
		return NULL;
	uint8_t pt[65];
	pt[0] = 4; /* uncompressed: 04 || x || y */
	if (b64url(xs, strlen(xs), pt + 1, 32) != 32 || b64url(ys, strlen(ys), pt + 33, 32) != 32)
		return NULL;
	EVP_PKEY *pkey = NULL;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	if (bld && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof pt))
		pkey = from_params("EC", bld);
	OSSL_PARAM_BLD_free(bld);
	return pkey;
}

static EVP_PKEY *okp_key(json_object *k)
{
	const char *crv = get_str(k, "crv"), *xs = get_str(k, "x");
	uint8_t x[32];
	if (!crv || strcmp(crv, "Ed25519") != 0 || !xs || b64url(xs, strlen(xs), x, sizeof x) != 32)
		return NULL;
	return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, sizeof x);
}

/* one JWK: true and *key filled when it is a usable signing key */
static bool parse_jwk(json_object *k, struct jwt_key *key)
{
	if (!json_object_is_type(k, json_type_object))
		return false;
	const char *kty = get_str(k, "kty"), *use = get_str(k, "use"), *alg = get_str(k, "alg");
	const char *kid = get_str(k, "kid");
	if (!kty || (use && strcmp(use, "sig") != 0))
		return false;
	if (kid && strlen(kid) >= sizeof key->kid)
		return false;
	enum jwt_alg want;
	EVP_PKEY *pkey;
	if (strcmp(kty, "RSA") == 0) {
		want = JWT_RS256;
		pkey = alg && alg_by_name(alg) != want ? NULL : rsa_key(k);
	} else if (strcmp(kty, "EC") == 0) {
		want = JWT_ES256;
		pkey = alg && alg_by_name(alg) != want ? NULL : ec_key(k);
	} else if (strcmp(kty, "OKP") == 0) {
		want = JWT_EDDSA;
		pkey = alg && alg_by_name(alg) != want ? NULL : okp_key(k);
	} else {
		return false; /* "oct" among them: shared secrets come only from jwt_secret */
	}
	if (!pkey)
		return false;
	snprintf(key->kid, sizeof key->kid, "%s", kid ? kid : "");
	key->alg = want;
	key->pkey = pkey;
	return true;
}

struct jwt_keyset *jwt_keyset_parse(const char *json, size_t len, int *skipped, struct rt_err *err)
{
	*skipped = 0;
	if (len > JWKS_MAX_BYTES) {
		rt_err_set(err, "key set of %zu bytes is over the limit of %d", len, JWKS_MAX_BYTES);
		return NULL;
	}
	json_object *doc = parse_object(json, len), *arr;
	if (!doc) {
		rt_err_set(err, "key set is not a JSON object");
		return NULL;
	}
	if (!json_object_object_get_ex(doc, "keys", &arr) || !json_object_is_type(arr, json_type_array)) {
		json_object_put(doc);
		rt_err_set(err, "key set has no \"keys\" array");
		return NULL;
	}
	size_t total = json_object_array_length(arr);
	struct jwt_keyset *ks = xcalloc(1, sizeof *ks + JWKS_MAX_KEYS * sizeof ks->keys[0]);
	atomic_init(&ks->refs, 1);
	for (size_t i = 0; i < total; i++) {
		if (ks->n == JWKS_MAX_KEYS || !parse_jwk(json_object_array_get_idx(arr, i), &ks->keys[ks->n]))
			(*skipped)++;
		else
			ks->n++;
	}
	json_object_put(doc);
	return ks;
}

int jwt_keyset_count(const struct jwt_keyset *ks)
{
	return ks ? ks->n : 0;
}

struct jwt_keyset *jwt_keyset_ref(struct jwt_keyset *ks)
{
	if (ks)
		atomic_fetch_add(&ks->refs, 1);
	return ks;
}

void jwt_keyset_unref(struct jwt_keyset *ks)
{
	if (!ks || atomic_fetch_sub(&ks->refs, 1) != 1)
		return;
	for (int i = 0; i < ks->n; i++)
		EVP_PKEY_free(ks->keys[i].pkey);
	free(ks);
}

/* ---- signatures ---- */

static bool verify_hs256(const struct jwt_policy *p, const char *data, size_t n, const uint8_t *sig, size_t slen)
{
	if (slen != crypto_auth_hmacsha256_BYTES)
		return false;
	crypto_auth_hmacsha256_state st;
	uint8_t mac[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_init(&st, (const uint8_t *)p->secret, p->secret_len);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)data, n);
	crypto_auth_hmacsha256_final(&st, mac);
	return sodium_memcmp(mac, sig, sizeof mac) == 0;
}

/* JWS carries ES256 as r || s, 32 bytes each; EVP wants DER */
static size_t es256_der(const uint8_t *sig, size_t slen, uint8_t *der, size_t cap)
{
	if (slen != 64)
		return 0;
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
	size_t out = 0;
	if (es && r && s && ECDSA_SIG_set0(es, r, s) == 1) {
		r = s = NULL; /* owned by es now */
		int need = i2d_ECDSA_SIG(es, NULL);
		unsigned char *p = der;
		if (need > 0 && (size_t)need <= cap && i2d_ECDSA_SIG(es, &p) == need)
			out = (size_t)need;
	}
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	return out;
}

static bool verify_pkey(const struct jwt_key *k, const char *data, size_t n, const uint8_t *sig, size_t slen)
{
	uint8_t der[80];
	if (k->alg == JWT_ES256) {
		slen = es256_der(sig, slen, der, sizeof der);
		if (!slen)
			return false;
		sig = der;
	}
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = ctx &&
		  EVP_DigestVerifyInit(ctx, NULL, k->alg == JWT_EDDSA ? NULL : EVP_sha256(), NULL, k->pkey) == 1 &&
		  EVP_DigestVerify(ctx, sig, slen, (const uint8_t *)data, n) == 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

static enum jwt_result check_signature(const struct jwt_policy *p, const struct jwt_keyset *ks, enum jwt_alg alg,
				       const char *kid, const char *data, size_t n, const uint8_t *sig, size_t slen)
{
	if (alg == JWT_HS256) {
		if (!p->secret || !p->secret_len)
			return JWT_BAD_ALG; /* no HMAC with public keys: the confusion attack */
		return verify_hs256(p, data, n, sig, slen) ? JWT_OK : JWT_BAD_SIGNATURE;
	}
	if (!ks)
		return p->secret && p->secret_len ? JWT_BAD_ALG : JWT_NO_KEYS;
	bool any_kid = false, any_alg = false;
	for (int i = 0; i < ks->n; i++) {
		const struct jwt_key *k = &ks->keys[i];
		if (kid && strcmp(k->kid, kid) != 0)
			continue;
		any_kid = true;
		if (k->alg != alg)
			continue;
		any_alg = true;
		if (verify_pkey(k, data, n, sig, slen))
			return JWT_OK;
	}
	if (!any_kid)
		return JWT_UNKNOWN_KID;
	return any_alg ? JWT_BAD_SIGNATURE : JWT_BAD_ALG;
}

/* ---- claims ---- */

static bool aud_has(json_object *claims, const char *want)
{
	json_object *v;
	if (!json_object_object_get_ex(claims, "aud", &v))
		return false;
	if (json_object_is_type(v, json_type_string))
		return str_of(v) && strcmp(str_of(v), want) == 0;
	if (!json_object_is_type(v, json_type_array))
		return false;
	size_t n = json_object_array_length(v);
	for (size_t i = 0; i < n; i++) {
		const char *e = str_of(json_object_array_get_idx(v, i));
		if (e && strcmp(e, want) == 0)
			return true;
	}
	return false;
}

static enum jwt_result check_claims(json_object *c, const struct jwt_policy *p, int64_t now, struct jwt_claims *out)
{
	int64_t exp = 0, nbf = 0;
	int has_exp = get_time(c, "exp", &exp), has_nbf = get_time(c, "nbf", &nbf);
	if (has_exp < 0 || has_nbf < 0)
		return JWT_MALFORMED;
	if (!has_exp)
		return JWT_NO_EXP;
	if (now >= exp + JWT_SKEW_S)
		return JWT_EXPIRED;
	if (has_nbf && now + JWT_SKEW_S < nbf)
		return JWT_NOT_YET;
	if (p->issuer && *p->issuer) {
		const char *iss = get_str(c, "iss");
		if (!iss || strcmp(iss, p->issuer) != 0)
			return JWT_ISSUER;
	}
	if (p->audience && *p->audience && !aud_has(c, p->audience))
		return JWT_AUDIENCE;
	if (p->name_claim && *p->name_claim) {
		const char *name = get_str(c, p->name_claim);
		if (!name || !*name || strlen(name) > JWT_NAME_MAX)
			return JWT_NO_NAME;
		memcpy(out->name, name, strlen(name) + 1);
	}
	out->exp = exp + JWT_SKEW_S;
	return JWT_OK;
}

enum jwt_result jwt_verify(const char *token, size_t len, const struct jwt_policy *p, const struct jwt_keyset *ks,
			   int64_t now, struct jwt_claims *out)
{
	memset(out, 0, sizeof *out);
	if (len > JWT_MAX_BYTES)
		return JWT_TOO_BIG;
	const char *dot1 = memchr(token, '.', len);
	const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
	if (!dot1 || !dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)))
		return JWT_MALFORMED;
	json_object *hdr = decode_object(token, (size_t)(dot1 - token));
	if (!hdr)
		return JWT_MALFORMED;
	enum jwt_alg alg = alg_by_name(get_str(hdr, "alg"));
	const char *kid = get_str(hdr, "kid");
	json_object *crit;
	enum jwt_result r = JWT_OK;
	if (alg == JWT_ALG_NONE || json_object_object_get_ex(hdr, "crit", &crit))
		r = JWT_BAD_ALG; /* "none", unknown algs, and extensions we cannot honour */
	else if (kid && strlen(kid) >= sizeof out->kid)
		r = JWT_MALFORMED;
	if (r == JWT_OK) {
		out->alg = alg;
		snprintf(out->kid, sizeof out->kid, "%s", kid ? kid : "");
	}
	json_object_put(hdr);
	if (r != JWT_OK)
		return r;

	uint8_t sig[1024];
	const char *s = dot2 + 1;
	ssize_t slen = b64url(s, len - (size_t)(s - token), sig, sizeof sig);
	json_object *claims = decode_object(dot1 + 1, (size_t)(dot2 - dot1 - 1));
	if (slen <= 0 || !claims) {
		json_object_put(claims);
		return JWT_MALFORMED;
	}
	r = check_signature(p, ks, alg, out->kid[0] ? out->kid : NULL, token, (size_t)(dot2 - token), sig,
			    (size_t)slen);
	if (r == JWT_OK)
		r = check_claims(claims, p, now, out);
	json_object_put(claims);
	return r;
}
