/* Unit tests for util.c and the pure parts of log.c and listen.c. */
#include "autoconf.h"
#include "listen.h"
#include "log.h"
#include "tap.h"
#include "util.h"

#include <stdlib.h>

int main(void)
{
	char buf[64];
	strcpy(buf, "  \t hello world \n");
	is_str(str_trim(buf), "hello world", "str_trim strips both ends");
	strcpy(buf, "   ");
	is_str(str_trim(buf), "", "str_trim of blanks is empty");

	long long v = 0;
	ok(str_to_ll("8080", &v) == RT_OK && v == 8080, "str_to_ll parses a number");
	ok(str_to_ll("-5", &v) == RT_OK && v == -5, "str_to_ll parses a negative number");
	ok(str_to_ll("80a", &v) == RT_ERR, "str_to_ll refuses trailing garbage");
	ok(str_to_ll("", &v) == RT_ERR, "str_to_ll refuses empty");
	ok(str_to_ll(" 1", &v) == RT_ERR, "str_to_ll refuses leading space");
	ok(str_to_ll("99999999999999999999", &v) == RT_ERR, "str_to_ll refuses overflow");

	ok(str_ieq("Content-Length", "content-length"), "str_ieq ignores case");
	ok(!str_ieq("abc", "abcd"), "str_ieq compares length");

	/* FNV-1a 64 known answers */
	ok(rt_hash64_str(RT_HASH64_INIT, "") == 0xcbf29ce484222325ULL, "rt_hash64 of nothing is the offset basis");
	ok(rt_hash64_str(RT_HASH64_INIT, "a") == 0xaf63dc4c8601ec8cULL, "rt_hash64 of a");
	ok(rt_hash64_str(RT_HASH64_INIT, "foobar") == 0x85944171f73967e8ULL, "rt_hash64 of foobar");
	ok(rt_hash64_str(rt_hash64_str(RT_HASH64_INIT, "foo"), "bar") == 0x85944171f73967e8ULL,
	   "rt_hash64 in pieces equals rt_hash64 of the whole");

	const struct {
		const char *s;
		size_t n;
		bool valid;
	} u8[] = {
		{ "plain ascii text, longer than eight", 35, true },
		{ "caf\xc3\xa9", 5, true },
		{ "\xe2\x82\xac\xf0\x9f\x98\x80", 7, true },
		{ "\xc0\xaf", 2, false }, /* overlong */
		{ "\xe0\x80\xaf", 3, false }, /* overlong */
		{ "\xed\xa0\x80", 3, false }, /* surrogate */
		{ "\xf4\x90\x80\x80", 4, false }, /* > U+10FFFF */
		{ "abcdefgh\xc3", 9, false }, /* cut at the end, after an ASCII run */
		{ "\xff", 1, false },
		{ "a\0b", 3, true }, /* NUL is valid UTF-8 */
	};
	for (size_t i = 0; i < sizeof u8 / sizeof u8[0]; i++)
		ok(utf8_valid((const uint8_t *)u8[i].s, u8[i].n) == u8[i].valid, "utf8_valid case %zu", i);

	char hex[33];
	rand_hex(hex, sizeof hex, 16);
	ok(strlen(hex) == 32 && strspn(hex, "0123456789abcdef") == 32, "rand_hex gives 32 hex chars");
	char hex2[33];
	rand_hex(hex2, sizeof hex2, 16);
	ok(strcmp(hex, hex2) != 0, "rand_hex differs between calls");

	char ts[40];
	time_format_rfc3339(ts, sizeof ts, 1700000000123LL);
	is_str(ts, "2023-11-14T22:13:20.123Z", "rfc3339 timestamp with milliseconds");

	enum log_level lvl;
	ok(log_level_parse("WARN", &lvl) == RT_OK && lvl == LOG_LVL_WARN, "log level parse is case-insensitive");
	ok(log_level_parse("warning", &lvl) == RT_OK && lvl == LOG_LVL_WARN, "warning is an alias of warn");
	ok(log_level_parse("loud", &lvl) == RT_ERR, "unknown log level refused");
	enum log_format fmt;
	ok(log_format_parse("json", &fmt) == RT_OK && fmt == LOG_FMT_JSON, "json format");
	ok(log_format_parse("xml", &fmt) == RT_ERR, "unknown format refused");

	struct rt_err err;
	char *host = NULL;
	int port = 0;
	ok(listen_split_addr("127.0.0.1:9464", &host, &port, &err) == RT_OK && strcmp(host, "127.0.0.1") == 0 &&
		   port == 9464,
	   "split v4 host:port");
	free(host);
	ok(listen_split_addr("[::1]:80", &host, &port, &err) == RT_OK && strcmp(host, "::1") == 0 && port == 80,
	   "split [v6]:port");
	free(host);
	host = NULL;
	ok(listen_split_addr("nohost", &host, &port, &err) == RT_ERR, "refuse address without port");
	ok(listen_split_addr("h:99999", &host, &port, &err) == RT_ERR, "refuse port out of range");
	return done_testing();
}
