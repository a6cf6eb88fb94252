/*
 * test_jwt.c: the token verifier against tokens made by Python's
 * cryptography (tests/data/jwt/make-fixtures.py): each algorithm signed
 * right and wrong, times, issuer and audience, alg none and alg confusion,
 * malformed and oversized tokens; and the key set parser.
 */
#include "autoconf.h"
#include "jwt.h"
#include "tap.h"
#include "util.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW 1800000000
#define SECRET "unit-test-secret-of-32-bytes-ok!"

static char *slurp(const char *name, size_t *len)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", RT_TEST_DATA, name);
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct strbuf b;
	strbuf_init(&b);
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf - 1, f)) > 0) {
		buf[n] = 0;
		strbuf_printf(&b, "%s", buf);
	}
	fclose(f);
	*len = b.len;
	return strbuf_take(&b);
}

static const struct {
	const char *name;
	enum jwt_result r;
} results[] = {
	{ "OK", JWT_OK },
	{ "MALFORMED", JWT_MALFORMED },
	{ "TOO_BIG", JWT_TOO_BIG },
	{ "BAD_ALG", JWT_BAD_ALG },
	{ "UNKNOWN_KID", JWT_UNKNOWN_KID },
	{ "NO_KEYS", JWT_NO_KEYS },
	{ "BAD_SIGNATURE", JWT_BAD_SIGNATURE },
	{ "EXPIRED", JWT_EXPIRED },
	{ "NOT_YET", JWT_NOT_YET },
	{ "NO_EXP", JWT_NO_EXP },
	{ "ISSUER", JWT_ISSUER },
	{ "AUDIENCE", JWT_AUDIENCE },
	{ "NO_NAME", JWT_NO_NAME },
};

static int result_of(const char *name)
{
	for (size_t i = 0; i < RT_ARRAY_LEN(results); i++)
		if (strcmp(results[i].name, name) == 0)
			return (int)results[i].r;
	return -1;
}

static const struct jwt_policy full = { SECRET, sizeof SECRET - 1, "https://issuer.test", "rtft",
					"preferred_username" };
static const struct jwt_policy keys_only = { NULL, 0, "https://issuer.test", "rtft", "preferred_username" };

static void fixture_tokens(const struct jwt_keyset *ks)
{
	size_t len;
	char *text = slurp("tokens.txt", &len);
	ok(text != NULL, "tokens.txt read");
	if (!text)
		return;
	int cases = 0;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		if (line[0] == '#')
			continue;
		char name[64], want[32], pol[4];
		int off = 0;
		if (sscanf(line, "%63s %31s %3s %n", name, want, pol, &off) != 3) {
			ok(0, "fixture line parses: %s", line);
			continue;
		}
		const char *tok = line + off;
		struct jwt_claims cl;
		enum jwt_result r = jwt_verify(tok, strlen(tok), pol[0] == 'k' ? &keys_only : &full, ks, NOW, &cl);
		if (!ok((int)r == result_of(want), "%s: %s", name, want))
			printf("#   got %s\n", jwt_result_text(r));
		if (r == JWT_OK && !ok(strcmp(cl.name, "alice") == 0, "%s: name claim is alice", name))
			printf("#   got \"%s\"\n", cl.name);
		cases++;
	}
	ok(cases >= 40, "all %d fixture cases ran", cases);
	free(text);
}

static void times_and_sizes(void)
{
	/* one good HS256 token from the fixtures, judged at other times */
	size_t len;
	char *text = slurp("tokens.txt", &len);
	char *p = text ? strstr(text, "hs256_good OK p ") : NULL;
	ok(p != NULL, "hs256_good fixture found");
	if (!p) {
		free(text);
		return;
	}
	p += strlen("hs256_good OK p ");
	p[strcspn(p, "\n")] = 0;
	struct jwt_claims cl;
	is_int(jwt_verify(p, strlen(p), &full, NULL, NOW, &cl), JWT_OK, "HS256 good without a key set");
	is_int(cl.exp, NOW + 600 + JWT_SKEW_S, "expiry reported with the skew");
	is_int(cl.alg, JWT_HS256, "alg reported");
	is_int(jwt_verify(p, strlen(p), &full, NULL, NOW + 600 + JWT_SKEW_S, &cl), JWT_EXPIRED,
	       "expired once exp plus the skew has passed");
	is_int(jwt_verify(p, strlen(p), &full, NULL, NOW + 600 + JWT_SKEW_S - 1, &cl), JWT_OK,
	       "still valid a second before");
	struct jwt_policy other = full;
	other.secret = "x";
	other.secret_len = 1;
	is_int(jwt_verify(p, strlen(p), &other, NULL, NOW, &cl), JWT_BAD_SIGNATURE, "another secret: bad signature");
	struct jwt_policy open = { SECRET, sizeof SECRET - 1, NULL, NULL, NULL };
	is_int(jwt_verify(p, strlen(p), &open, NULL, NOW, &cl), JWT_OK, "no issuer, audience, name required");
	ok(cl.name[0] == 0, "no name claim asked: none reported");
	is_int(jwt_verify(p, strlen(p) - 1, &full, NULL, NOW, &cl), JWT_MALFORMED,
	       "truncated signature: not base64url of whole bytes");
	size_t at = strlen(p) - 10;
	p[at] = p[at] == 'A' ? 'B' : 'A';
	is_int(jwt_verify(p, strlen(p), &full, NULL, NOW, &cl), JWT_BAD_SIGNATURE, "tampered signature");

	char *big = xmalloc(JWT_MAX_BYTES + 2);
	memset(big, 'A', JWT_MAX_BYTES + 1);
	big[10] = big[20] = '.';
	is_int(jwt_verify(big, JWT_MAX_BYTES + 1, &full, NULL, NOW, &cl), JWT_TOO_BIG, "a token over 8 KiB is refused");
	is_int(jwt_verify(big, JWT_MAX_BYTES, &full, NULL, NOW, &cl), JWT_MALFORMED, "8 KiB of junk is malformed");
	free(big);
	is_int(jwt_verify("", 0, &full, NULL, NOW, &cl), JWT_MALFORMED, "empty token");
	is_int(jwt_verify("..", 2, &full, NULL, NOW, &cl), JWT_MALFORMED, "only dots");
	free(text);
}

static void keysets(struct jwt_keyset **out)
{
	size_t len;
	char *text = slurp("jwks.json", &len);
	ok(text != NULL, "jwks.json read");
	struct rt_err err = { "" };
	int skipped = -1;
	struct jwt_keyset *ks = text ? jwt_keyset_parse(text, len, &skipped, &err) : NULL;
	ok(ks != NULL, "fixture key set parses");
	is_int(jwt_keyset_count(ks), 3, "RSA, EC and Ed25519 keys kept");
	is_int(skipped, 3, "1024-bit RSA, oct and P-384 keys skipped");
	free(text);
	*out = ks;

	static const char *bad[] = {
		"", "[]", "{}", "{\"keys\": {}}", "{\"keys\": [] } x", "{\"keys\":[[[[[[[[[[1]]]]]]]]]]}"
	};
	for (size_t i = 0; i < RT_ARRAY_LEN(bad); i++) {
		struct jwt_keyset *b = jwt_keyset_parse(bad[i], strlen(bad[i]), &skipped, &err);
		ok(b == NULL, "bad key set refused: %s (%s)", bad[i], err.msg);
		jwt_keyset_unref(b);
	}
	const char *junk = "{\"keys\": [1, \"x\", {\"kty\": \"RSA\", \"n\": \"!!\", \"e\": \"AQAB\"},"
			   " {\"kty\": \"EC\", \"crv\": \"P-256\", \"x\": \"AA\", \"y\": \"AA\"},"
			   " {\"kty\": \"OKP\", \"crv\": \"Ed25519\", \"x\": \"AAAA\"},"
			   " {\"kty\": \"RSA\", \"use\": \"enc\", \"n\": \"AQAB\", \"e\": \"AQAB\"}]}";
	struct jwt_keyset *j = jwt_keyset_parse(junk, strlen(junk), &skipped, &err);
	ok(j && jwt_keyset_count(j) == 0 && skipped == 6, "unusable keys are skipped, not fatal");
	jwt_keyset_unref(j);
	char *huge = xmalloc(JWKS_MAX_BYTES + 2);
	memset(huge, ' ', JWKS_MAX_BYTES + 1);
	huge[0] = '{';
	huge[JWKS_MAX_BYTES] = '}';
	ok(jwt_keyset_parse(huge, JWKS_MAX_BYTES + 1, &skipped, &err) == NULL, "a key set over the limit is refused");
	free(huge);
}

static char *b64(const char *p, size_t n)
{
	size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	char *s = xmalloc(cap);
	sodium_bin2base64(s, cap, (const unsigned char *)p, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return s;
}

/* an HS256 token of the header and claims (JSON texts), signed here with
 * SECRET, for claims the fixtures do not have */
static char *hs256(const char *header, const char *claims)
{
	char *h = b64(header, strlen(header)), *c = b64(claims, strlen(claims));
	char *in = xasprintf("%s.%s", h, c);
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_state st;
	crypto_auth_hmacsha256_init(&st, (const unsigned char *)SECRET, strlen(SECRET));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)in, strlen(in));
	crypto_auth_hmacsha256_final(&st, mac);
	char *m = b64((const char *)mac, sizeof mac);
	char *tok = xasprintf("%s.%s", in, m);
	free(h);
	free(c);
	free(in);
	free(m);
	return tok;
}

static enum jwt_result verify_signed(const char *claims, struct jwt_claims *cl)
{
	char *tok = hs256("{\"alg\":\"HS256\"}", claims);
	enum jwt_result r = jwt_verify(tok, strlen(tok), &full, NULL, NOW, cl);
	free(tok);
	return r;
}

#define CLAIMS(iss, aud, exp, name) \
	"{\"iss\":\"" iss "\",\"aud\":" aud ",\"exp\":" exp ",\"preferred_username\":\"" name "\"}"

/* found by tests/fuzz/fuzz_jwt.c: a string claim with "\u0000" in it was
 * read up to the NUL, so "alice\u0000x" signed in as alice */
static void nul_in_strings(void)
{
	struct jwt_claims cl;
	is_int(verify_signed(CLAIMS("https://issuer.test", "\"rtft\"", "1800000600", "alice"), &cl), JWT_OK,
	       "a token signed here verifies");
	ok(strcmp(cl.name, "alice") == 0, "and names alice");
	is_int(verify_signed(CLAIMS("https://issuer.test", "\"rtft\"", "1800000600", "alice\\u0000x"), &cl),
	       JWT_NO_NAME, "a name claim with a NUL in it is not the name before the NUL");
	ok(cl.name[0] == 0, "no name reported");
	is_int(verify_signed(CLAIMS("https://issuer.test\\u0000.evil", "\"rtft\"", "1800000600", "alice"), &cl),
	       JWT_ISSUER, "an issuer with a NUL in it is not the configured one");
	is_int(verify_signed(CLAIMS("https://issuer.test", "\"rtft\\u0000x\"", "1800000600", "alice"), &cl),
	       JWT_AUDIENCE, "an audience with a NUL in it is not the configured one");
	is_int(verify_signed(CLAIMS("https://issuer.test", "[\"rtft\\u0000x\"]", "1800000600", "alice"), &cl),
	       JWT_AUDIENCE, "nor in an array");
	char *tok = hs256("{\"alg\":\"HS256\\u0000x\"}",
			  CLAIMS("https://issuer.test", "\"rtft\"", "1800000600", "alice"));
	is_int(jwt_verify(tok, strlen(tok), &full, NULL, NOW, &cl), JWT_BAD_ALG, "nor is an alg");
	free(tok);
}

/* found by tests/fuzz/fuzz_jwt.c: an integer exp near INT64_MAX overflowed
 * exp + JWT_SKEW_S (and wsauth.c's exp * 1000); integers are now bounded
 * like doubles */
static void huge_times(void)
{
	struct jwt_claims cl;
	static const char *bad[] = { "9223372036854775807", "18446744073709551615", "-9223372036854775808",
				     "1000000000000000", "1e300" };
	for (size_t i = 0; i < RT_ARRAY_LEN(bad); i++) {
		char *claims = xasprintf(CLAIMS("https://issuer.test", "\"rtft\"", "%s", "alice"), bad[i]);
		ok(verify_signed(claims, &cl) == JWT_MALFORMED, "exp %s is refused as malformed", bad[i]);
		free(claims);
	}
	is_int(verify_signed(CLAIMS("https://issuer.test", "\"rtft\"", "999999999999999", "alice"), &cl), JWT_OK,
	       "exp 999999999999999 (year 31 million) is taken");
	ok(cl.exp == 999999999999999 + JWT_SKEW_S && cl.exp < INT64_MAX / 1000, "and its expiry fits in milliseconds");
}

/* RSA public exponents: a key with e = 1 verifies any signature, and a
 * huge e made each verification take 25 ms (seen with fuzz_jwt.c's seed
 * jwks-huge); such keys are skipped like keys under 2048 bits */
static void rsa_exponents(void)
{
	size_t len;
	char *text = slurp("jwks.json", &len);
	char *n = text ? strstr(text, "\"n\": \"") : NULL;
	ok(n != NULL, "the fixture's 2048-bit modulus found");
	if (!n) {
		free(text);
		return;
	}
	n += strlen("\"n\": \"");
	n[strcspn(n, "\"")] = 0;
	static const struct {
		const char *e;
		int kept;
		const char *why;
	} cases[] = {
		{ "AQAB", 1, "65537" },
		{ "Aw", 1, "3" },
		{ "AQAAAAE", 1, "2^32 + 1 (33 bits)" },
		{ "AQ", 0, "1" },
		{ "AQAA", 0, "65536 (even)" },
		{ "AgAAAAE", 0, "2^33 + 1 (34 bits)" },
		{ "AA", 0, "0" },
	};
	for (size_t i = 0; i < RT_ARRAY_LEN(cases); i++) {
		char *doc = xasprintf("{\"keys\":[{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"}]}", n, cases[i].e);
		struct rt_err err = { "" };
		int skipped = -1;
		struct jwt_keyset *ks = jwt_keyset_parse(doc, strlen(doc), &skipped, &err);
		ok(ks && jwt_keyset_count(ks) == cases[i].kept && skipped == 1 - cases[i].kept, "e = %s: %s",
		   cases[i].why, cases[i].kept ? "kept" : "skipped");
		jwt_keyset_unref(ks);
		free(doc);
	}
	free(text);
}

int main(void)
{
	struct jwt_keyset *ks = NULL;
	keysets(&ks);
	fixture_tokens(ks);
	times_and_sizes();
	nul_in_strings();
	huge_times();
	rsa_exponents();
	struct jwt_claims cl;
	const char *t = "eyJhbGciOiJSUzI1NiJ9.e30.AAAA";
	is_int(jwt_verify(t, strlen(t), &keys_only, NULL, NOW, &cl), JWT_NO_KEYS, "RS256 before any key set: no keys");
	jwt_keyset_unref(ks);
	return done_testing();
}
