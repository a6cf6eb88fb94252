/* Unit tests for log.c's client addresses: log_format_addr() in each
 * mode, and the key of the hashed mode (the same address hashes alike
 * under one key and differently under the next one). */
#include "autoconf.h"
#include "log.h"
#include "tap.h"

#include <stdio.h>
#include <string.h>

static char *fmt(const char *addr)
{
	static char out[64];
	(void)log_format_addr(addr, out, sizeof out);
	return out;
}

static void test_full(void)
{
	log_set_addr_mode(LOG_ADDR_FULL);
	is_str(fmt("203.0.113.7:51234"), "203.0.113.7:51234", "full: as it is, with the port");
	is_str(fmt("[2001:db8::1]:443"), "[2001:db8::1]:443", "full: IPv6 as it is");
	is_str(fmt("?:0"), "?:0", "full: what cannot be parsed, as it is");
}

static void test_truncated(void)
{
	static const char *const cases[][2] = {
		{ "203.0.113.7:51234", "203.0.113.0/24" },
		{ "203.0.113.7", "203.0.113.0/24" },
		{ "10.1.2.255", "10.1.2.0/24" },
		{ "[2001:db8:abcd:12::1]:443", "2001:db8:abcd::/48" },
		{ "2001:db8:abcd:ffff:1:2:3:4", "2001:db8:abcd::/48" },
		{ "::1", "::/48" },
		{ "[::ffff:198.51.100.9]:80", "198.51.100.0/24" },
		{ "fe80::1%eth0", "fe80::/48" },
		{ "?:0", "(unknown)" },
		{ "", "(unknown)" },
		{ "example.com:80", "(unknown)" },
		{ "[2001:db8::1", "(unknown)" },
	};
	log_set_addr_mode(LOG_ADDR_TRUNCATED);
	for (size_t i = 0; i < RT_ARRAY_LEN(cases); i++) {
		const char *got = fmt(cases[i][0]);
		ok(strcmp(got, cases[i][1]) == 0, "truncated: %s is %s (%s)", cases[i][0], cases[i][1], got);
	}
	char small[8];
	size_t n = log_format_addr("203.0.113.7", small, sizeof small);
	ok(n == strlen("203.0.113.0/24") && strcmp(small, "203.0.1") == 0, "a short buffer: cut, with the length");
}

static bool is_hash(const char *s)
{
	if (strncmp(s, "h:", 2) != 0 || strlen(s) != 18)
		return false;
	for (const char *p = s + 2; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

static void test_hashed(void)
{
	static struct log_addr_key key; /* as the master's shared copy */
	char a[64], b[64], c[64], d[64];
	log_addr_key_init(&key);
	log_set_addr_key(&key);
	log_set_addr_mode(LOG_ADDR_HASHED);
	snprintf(a, sizeof a, "%s", fmt("203.0.113.7:51234"));
	snprintf(b, sizeof b, "%s", fmt("203.0.113.7:40000"));
	snprintf(c, sizeof c, "%s", fmt("203.0.113.8:51234"));
	snprintf(d, sizeof d, "%s", fmt("[::ffff:203.0.113.7]:1"));
	ok(is_hash(a), "hashed: h: and 16 hex digits (%s)", a);
	ok(strcmp(a, b) == 0 && strcmp(a, d) == 0, "the same address hashes alike whatever the port or spelling");
	ok(strcmp(a, c) != 0, "another address hashes differently");
	ok(strstr(a, "203") == NULL, "no part of the address shows");
	is_str(fmt("not an address"), "(unknown)", "hashed: what cannot be parsed is not shown");
	/* a new day: a new key, and the hashes of yesterday do not match */
	key.day--;
	log_addr_key_rotate(&key);
	ok(strcmp(fmt("203.0.113.7:51234"), a) != 0, "after the daily rotation the same address hashes differently");
	snprintf(b, sizeof b, "%s", fmt("203.0.113.7"));
	ok(strcmp(fmt("203.0.113.7"), b) == 0, "and alike within the new day");
	uint32_t seq = key.seq;
	log_addr_key_rotate(&key);
	ok(key.seq == seq, "no rotation within the same day");
	/* a restart draws a new key too */
	static struct log_addr_key other;
	log_addr_key_init(&other);
	log_set_addr_key(&other);
	ok(strcmp(fmt("203.0.113.7"), b) != 0, "another start, another key");
	/* without a shared key a process keeps its own */
	log_set_addr_key(NULL);
	ok(is_hash(fmt("203.0.113.7")), "a process without the shared key hashes with its own");
	/* log_addr(): a few at once in one call's arguments */
	log_set_addr_mode(LOG_ADDR_TRUNCATED);
	const char *x = log_addr("192.0.2.1"), *y = log_addr("192.0.2.200:9"), *z = log_addr("198.51.100.1");
	ok(strcmp(x, "192.0.2.0/24") == 0 && strcmp(y, "192.0.2.0/24") == 0 && strcmp(z, "198.51.100.0/24") == 0,
	   "log_addr: three in one call");
	log_set_addr_mode(LOG_ADDR_FULL);
}

int main(void)
{
	test_full();
	test_truncated();
	test_hashed();
	return done_testing();
}
