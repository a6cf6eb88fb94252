/* Unit tests for origin.c: the normal form of origins, cors_origins
 * checking and the origin policy. */
#include "autoconf.h"
#include "origin.h"
#include "www.h"
#include "tap.h"

#include <stdio.h>
#include <string.h>

static const char *norm(const char *s)
{
	static char buf[ORIGIN_MAX];
	return origin_normalize(s, strlen(s), buf, sizeof buf) == RT_OK ? buf : "ERR";
}

static const char *of_url(const char *s)
{
	static char buf[ORIGIN_MAX];
	return origin_of_url(s, buf, sizeof buf) == RT_OK ? buf : "ERR";
}

static void test_normalize(void)
{
	is_str(norm("https://App.Example.ORG"), "https://app.example.org", "scheme and host lose their case");
	is_str(norm("HTTPS://x.example:443"), "https://x.example", "https's default port is dropped");
	is_str(norm("http://x.example:80"), "http://x.example", "http's default port is dropped");
	is_str(norm("http://x.example:443"), "http://x.example:443", "another port stays");
	is_str(norm("https://x.example:8443"), "https://x.example:8443", "a port stays");
	is_str(norm("https://x.example/"), "https://x.example", "one trailing slash is allowed");
	is_str(norm("chrome-extension://abcdefghijklmnopabcdefghijklmnop"),
	       "chrome-extension://abcdefghijklmnopabcdefghijklmnop", "an extension's origin");
	is_str(norm("moz-extension://0b5c1e0e-7d3a-4c2b-9f3e-2d1a0c9b8e7f"),
	       "moz-extension://0b5c1e0e-7d3a-4c2b-9f3e-2d1a0c9b8e7f", "a Firefox extension's origin");
	is_str(norm("http://[::1]:8080"), "http://[::1]:8080", "an IPv6 host");
	is_str(norm("http://[::1]"), "http://[::1]", "an IPv6 host without a port");
	is_str(norm("null"), "null", "null");
	is_str(norm("NULL"), "null", "null in any case");
	is_str(norm("https://x.example/path"), "ERR", "a path is not an origin");
	is_str(norm("https://x.example?q"), "ERR", "a query is not an origin");
	is_str(norm("https://u@x.example"), "ERR", "user info is not an origin");
	is_str(norm("https://"), "ERR", "no host");
	is_str(norm("https://x.example:"), "ERR", "empty port");
	is_str(norm("https://x.example:123456"), "ERR", "port too long");
	is_str(norm("https://x.example:8a"), "ERR", "port not digits");
	is_str(norm("x.example"), "ERR", "no scheme");
	is_str(norm("://x.example"), "ERR", "empty scheme");
	is_str(norm("1http://x.example"), "ERR", "a scheme starts with a letter");
	is_str(norm("https://x example"), "ERR", "a space");
	is_str(norm("https://x.example\r\nX: y"), "ERR", "header injection");
	is_str(norm(""), "ERR", "empty");
	is_str(norm("*"), "ERR", "* is not an origin (only a list entry)");
	char longo[400];
	memset(longo, 'a', sizeof longo - 1);
	memcpy(longo, "https://", 8);
	longo[sizeof longo - 1] = '\0';
	is_str(norm(longo), "ERR", "longer than ORIGIN_MAX");

	is_str(of_url("https://rtft.example.org"), "https://rtft.example.org", "origin of an https URL");
	is_str(of_url("https://rtft.example.org:443/app/x?y#z"), "https://rtft.example.org", "path and port dropped");
	is_str(of_url("http://127.0.0.1:8080"), "http://127.0.0.1:8080", "origin of an http URL");
	is_str(of_url("https://u:p@x.example/"), "ERR", "user info: no origin");
	is_str(of_url(""), "ERR", "empty: no origin");
	is_str(of_url("ftp://x.example"), "ERR", "not http(s)");
}

static void test_list(void)
{
	struct rt_err err;
	ok(origin_list_check("", &err) == RT_OK, "empty list");
	ok(origin_list_check("*", &err) == RT_OK, "*");
	ok(origin_list_check(" https://a.example , chrome-extension://abc,null ,", &err) == RT_OK,
	   "origins, an extension, null, blanks");
	ok(origin_list_check("https://a.example, https://b.example/app", &err) == RT_ERR &&
		   strstr(err.msg, "https://b.example/app"),
	   "a URL with a path is refused and named");
	ok(origin_list_check("a.example", &err) == RT_ERR, "a bare host is refused");
}

static bool allowed(const char *list, bool any, const char *ext, const char *own, const char *origin)
{
	struct origin_policy p = { list, any, ext, own };
	return origin_allowed(&p, origin);
}

static void test_policy(void)
{
	ok(allowed("", true, NULL, NULL, "https://evil.example"), "development, no list: any origin");
	ok(!allowed("", true, NULL, NULL, "null"), "... but not null");
	ok(!allowed("", true, NULL, NULL, "garbage"), "... nor something that is no origin");
	ok(!allowed("", true, NULL, NULL, NULL), "no origin is not an allowed origin");
	ok(!allowed("", false, NULL, NULL, "https://evil.example"), "production, no list: none");
	ok(allowed("", false, "https://rtft.example.org", NULL, "https://rtft.example.org"),
	   "production: external_url's origin");
	ok(allowed("", false, "https://rtft.example.org", NULL, "https://RTFT.example.org:443"),
	   "... compared in normal form");
	ok(!allowed("", false, "https://rtft.example.org", NULL, "http://rtft.example.org"), "... scheme matters");
	ok(!allowed("", false, "https://rtft.example.org", NULL, "https://rtft.example.org:8443"),
	   "... port matters");
	const char *list = "https://app.example, chrome-extension://abcdefghijklmnopabcdefghijklmnop";
	ok(allowed(list, false, NULL, NULL, "chrome-extension://abcdefghijklmnopabcdefghijklmnop"),
	   "a listed extension");
	ok(allowed(list, true, NULL, NULL, "https://app.example"), "a listed origin");
	ok(!allowed(list, true, NULL, NULL, "https://evil.example"), "with a list, development allows only it");
	ok(!allowed(list, false, NULL, NULL, "https://app.example.evil.example"), "no prefix matching");
	ok(!allowed(list, false, NULL, NULL, "https://app.exampl"), "no partial matching");
	ok(!allowed(list, false, NULL, NULL, "null"), "null not listed");
	ok(allowed("null", false, NULL, NULL, "null"), "null listed");
	ok(allowed("*", false, NULL, NULL, "https://any.example"), "*: any origin");
	ok(!allowed("*", false, NULL, NULL, "null"), "*: but not null");
	ok(allowed("*, null", false, NULL, NULL, "null"), "* and null");
	ok(allowed("", false, NULL, "http://127.0.0.1:8080", "http://127.0.0.1:8080"), "the page's own origin");
	ok(!allowed("", false, NULL, "http://127.0.0.1:8080", "http://127.0.0.1:8081"), "... exactly");
}

static void test_csp(void)
{
	char buf[1024];
	const char *c = www_csp("", buf, sizeof buf);
	ok(strstr(c, "connect-src 'self';") != NULL, "no external_url: connect-src 'self' only");
	c = www_csp("https://rtft.example.org/app", buf, sizeof buf);
	ok(strstr(c, "connect-src 'self' wss://rtft.example.org;") != NULL,
	   "https external_url: its wss: origin too (%s)", c);
	c = www_csp("http://127.0.0.1:8080", buf, sizeof buf);
	ok(strstr(c, "connect-src 'self' ws://127.0.0.1:8080;") != NULL, "http external_url: ws:");
	ok(strstr(c, "object-src 'none'") != NULL && strstr(c, "frame-ancestors 'none'") != NULL,
	   "the rest of the policy stays");
}

int main(void)
{
	test_normalize();
	test_list();
	test_policy();
	test_csp();
	return done_testing();
}
