/* Unit tests for config.c: sources and precedence, validation messages,
 * formatting with redaction, the reload text round trip, diffs and keeping
 * start-only values on reload. */
#include "autoconf.h"
#include "config.h"
#include "db.h"
#include "tap.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/rtftd-test-config-XXXXXX";

static char *write_file(const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static bool diag_has(const struct config_diag *d, const char *needle)
{
	for (int i = 0; i < d->nlines; i++)
		if (strstr(d->lines[i].text, needle))
			return true;
	return false;
}

static int count_lines(const struct config_diag *d, enum config_severity sev, const char *needle)
{
	int n = 0;
	for (int i = 0; i < d->nlines; i++)
		n += d->lines[i].severity == sev && strstr(d->lines[i].text, needle) != NULL;
	return n;
}

static void print_diag(const struct config_diag *d)
{
	for (int i = 0; i < d->nlines; i++)
		printf("#   %s: %s\n", d->lines[i].severity == CONFIG_DIAG_ERROR ? "error" : "warning",
		       d->lines[i].text);
}

/* Production mode refuses to start, one line per problem, all of them. */
/* sign-in over plain http beyond loopback, and a short jwt_secret: a
 * warning in development, an error in production */
static void test_signin(void)
{
	struct config_diag d = { 0 };
	struct config_src src = { .file_explicit = true };
	static const char *unsafe[][2] = {
		{ "jwks_url = http://idp.example/jwks.json\n",
		  "jwks_url fetches the signing keys over plain http from idp.example," },
		{ "jwks_url = http://10.0.0.5:8080/keys\n",
		  "jwks_url fetches the signing keys over plain http from 10.0.0.5," },
		{ "jwks_url = http://[2001:db8::1]/keys\n",
		  "jwks_url fetches the signing keys over plain http from 2001:db8::1," },
		{ "jwks_url = http://127.0.0.1@idp.example/keys\n",
		  "jwks_url fetches the signing keys over plain http from idp.example," },
		{ "jwks_url = http://localhost.idp.example/keys\n",
		  "jwks_url fetches the signing keys over plain http from localhost.idp.example," },
		{ "jwks_url = http://user:hunter2@idp.example/keys\n",
		  "jwks_url fetches the signing keys over plain http from idp.example," },
		{ "jwt_secret = short-secret\n", "jwt_secret is 12 bytes: expected at least 32" },
		{ "jwt_secret = 0123456789abcdef0123456789abcde\n", "jwt_secret is 31 bytes: expected at least 32" },
	};
	for (size_t i = 0; i < RT_ARRAY_LEN(unsafe); i++) {
		src.file = write_file("dev.conf", unsafe[i][0]);
		struct config *c = config_load(&src, &d);
		ok(c != NULL && d.nerrors == 0 && count_lines(&d, CONFIG_DIAG_WARNING, unsafe[i][1]) == 1,
		   "development warns: %s", unsafe[i][0]);
		if (!c || d.nerrors)
			print_diag(&d);
		config_free(c);
		config_diag_fini(&d);
		free((char *)src.file);

		char *text = xasprintf("node_env = production\nexternal_url = https://rtft.example\n%s", unsafe[i][0]);
		src.file = write_file("prod.conf", text);
		c = config_load(&src, &d);
		char *line = xasprintf("production: %s", unsafe[i][1]);
		ok(c == NULL && d.nerrors == 1 && count_lines(&d, CONFIG_DIAG_ERROR, line) == 1,
		   "production refuses: %s", unsafe[i][0]);
		if (c || d.nerrors != 1)
			print_diag(&d);
		ok(!diag_has(&d, "short-secret") && !diag_has(&d, "0123456789abcdef") && !diag_has(&d, "hunter2"),
		   "  no secret is shown");
		free(line);
		config_free(c);
		config_diag_fini(&d);
		free((char *)src.file);
		free(text);
	}
	static const char *safe[] = {
		"jwks_url = https://idp.example/jwks.json\n",
		"jwks_url = http://127.0.0.1:8081/jwks.json\n",
		"jwks_url = http://127.1.2.3/keys\n",
		"jwks_url = http://[::1]:8081/keys\n",
		"jwks_url = http://localhost/keys\n",
		"jwks_url = http://user:pw@localhost:99/keys\n",
		"jwt_secret = 0123456789abcdef0123456789abcdef\n",
		"jwt_secret =\n",
	};
	for (size_t i = 0; i < RT_ARRAY_LEN(safe); i++) {
		char *text = xasprintf("node_env = production\nexternal_url = https://rtft.example\n%s", safe[i]);
		src.file = write_file("prod.conf", text);
		struct config *c = config_load(&src, &d);
		ok(c != NULL && d.nerrors == 0 && !diag_has(&d, "jwks_url") && !diag_has(&d, "jwt_secret"),
		   "production takes, without a word: %s", safe[i]);
		if (!c || d.nerrors)
			print_diag(&d);
		config_free(c);
		config_diag_fini(&d);
		free((char *)src.file);
		free(text);
	}
}

static void test_production(void)
{
	struct config_diag d = { 0 };
	struct config_src src = { .file = write_file("prod.conf", "node_env = production\n"), .file_explicit = true };
	struct config *c = config_load(&src, &d);
	ok(c == NULL && d.nerrors == 2 &&
		   count_lines(&d, CONFIG_DIAG_ERROR, "production: external_url is not set") == 1,
	   "production without external_url is refused");
	ok(count_lines(&d, CONFIG_DIAG_ERROR, "production: no origins are configured") == 1,
	   "  and, with no cors_origins either, no origin is allowed");
	config_diag_fini(&d);
	free((char *)src.file);

	/* cors_origins alone is an origin configured; external_url still lacks */
	src.file = write_file("prod.conf", "node_env = production\ncors_origins = https://app.example\n");
	c = config_load(&src, &d);
	ok(c == NULL && d.nerrors == 1 &&
		   count_lines(&d, CONFIG_DIAG_ERROR, "production: external_url is not set") == 1,
	   "production with cors_origins but no external_url: one error");
	config_diag_fini(&d);
	free((char *)src.file);

	/* "*" starts, with a warning that says what it lets in */
	src.file = write_file("prod.conf", "node_env = production\nexternal_url = https://rtft.example\n"
					   "cors_origins = https://app.example, *\n");
	c = config_load(&src, &d);
	ok(c != NULL && d.nerrors == 0 &&
		   count_lines(&d, CONFIG_DIAG_WARNING, "production: cors_origins = *: any web site") == 1,
	   "production with cors_origins = * warns");
	config_free(c);
	config_diag_fini(&d);
	free((char *)src.file);

	src.file = write_file("prod.conf", "node_env = production\n"
					   "external_url = http://rtft.example\n"
					   "turn_secret = 0123456789abcdef0123456789abcdef, short\n"
					   "metrics_listen = 0.0.0.0:9464\n"
					   "database_url = postgres://rtft:hunter2@db.example:5432/rtft\n"
					   "db_ssl = disable\n");
	c = config_load(&src, &d);
	ok(c == NULL && d.nerrors == 4, "every problem is listed (%d errors)", d.nerrors);
	ok(count_lines(&d, CONFIG_DIAG_ERROR,
		       "production: external_url = \"http://rtft.example\": expected an https://"),
	   "  external_url over http");
	ok(count_lines(&d, CONFIG_DIAG_ERROR, "production: turn_secret: secret 2 is 5 bytes: expected at least 32") &&
		   !diag_has(&d, "secret 1 "),
	   "  the short TURN secret, by its place, not its value");
	ok(count_lines(&d, CONFIG_DIAG_ERROR,
		       "production: metrics_listen = \"0.0.0.0:9464\" serves /metrics beyond "
		       "loopback"),
	   "  /metrics beyond loopback");
	ok(count_lines(&d, CONFIG_DIAG_ERROR,
		       "production: database_url sends a password to db.example without TLS "
		       "(db_ssl = disable)"),
	   "  a database password in clear over the network");
	ok(!diag_has(&d, "hunter2") && !diag_has(&d, "0123456789abcdef"), "  no secret is shown");
	if (d.nerrors != 4)
		print_diag(&d);
	config_diag_fini(&d);
	free((char *)src.file);

	/* what production accepts */
	const char *fine[] = {
		"external_url = https://rtft.example\n",
		"external_url = https://rtft.example\nturn_secret = 0123456789abcdef0123456789abcdef\n"
		"metrics_listen = [::1]:9464\n",
		"external_url = https://rtft.example\nmetrics_listen = off\n",
		"external_url = https://rtft.example\nmetrics_listen = 127.0.0.2:9000\n",
		"external_url = https://rtft.example\ndatabase_url = postgres://rtft:pw@127.0.0.1/rtft\ndb_ssl = disable\n",
		"external_url = https://rtft.example\ndatabase_url = postgres://rtft:pw@localhost/rtft\ndb_ssl = false\n",
		"external_url = https://rtft.example\ndatabase_url = postgresql:///rtft?host=/run/postgresql&password=pw\n"
		"db_ssl = disable\n",
		"external_url = https://rtft.example\ndatabase_url = postgres://rtft@db.example/rtft\ndb_ssl = disable\n",
		"external_url = https://rtft.example\ndatabase_url = postgres://rtft:pw@db.example/rtft\ndb_ssl = require\n",
	};
	for (size_t i = 0; i < RT_ARRAY_LEN(fine); i++) {
		char *text = xasprintf("node_env = production\n%s", fine[i]);
		src.file = write_file("prod.conf", text);
		c = config_load(&src, &d);
		ok(c != NULL && d.nerrors == 0, "production accepts: %s", fine[i]);
		if (!c)
			print_diag(&d);
		config_free(c);
		config_diag_fini(&d);
		free((char *)src.file);
		free(text);
	}
	/* the privacy defaults follow node_env; a setting wins */
	src.file = write_file("prod.conf", "node_env = production\nexternal_url = https://x.example\n");
	c = config_load(&src, &d);
	ok(c && c->log_addr == LOG_ADDR_TRUNCATED && !c->log_names,
	   "production: truncated addresses, no user names at info");
	char *shown = c ? config_format(c, false, false) : NULL;
	ok(shown && strstr(shown, "log_client_address = \"auto\"") && strstr(shown, "log_user_names = \"auto\""),
	   "  shown as auto");
	free(shown);
	config_free(c);
	config_diag_fini(&d);
	free((char *)src.file);
	src.file = write_file("prod.conf", "node_env = production\nexternal_url = https://x.example\n"
					   "log_client_address = Hashed\nlog_user_names = yes\n");
	c = config_load(&src, &d);
	ok(c && c->log_addr == LOG_ADDR_HASHED && c->log_names, "  settings win over them");
	config_free(c);
	config_diag_fini(&d);
	free((char *)src.file);
	src.file = write_file("prod.conf", "log_client_address = partial\nlog_user_names = maybe\n");
	c = config_load(&src, &d);
	ok(!c && diag_has(&d, "log_client_address = \"partial\": expected auto, full, truncated or hashed") &&
		   diag_has(&d, "log_user_names = \"maybe\": expected auto, true or false"),
	   "  bad values are refused");
	config_diag_fini(&d);
	free((char *)src.file);
	src.file = write_file("prod.conf", "");
	c = config_load(&src, &d);
	ok(c && c->log_addr == LOG_ADDR_FULL && c->log_names && c->retention_days == 30,
	   "development: full addresses and user names; 30 days of records");
	config_free(c);
	config_diag_fini(&d);
	free((char *)src.file);

	/* a password in the environment counts, and so does allow */
	setenv("PGPASSWORD", "pw", 1);
	src.file = write_file("prod.conf",
			      "node_env = production\nexternal_url = https://x.example\n"
			      "database_url = postgres://rtft@10.1.2.3,db2.example/rtft\ndb_ssl = allow\n");
	c = config_load(&src, &d);
	ok(c == NULL && count_lines(&d, CONFIG_DIAG_ERROR, "sends a password to 10.1.2.3 without TLS (db_ssl = allow)"),
	   "PGPASSWORD with db_ssl allow to a remote host is refused");
	config_diag_fini(&d);
	free((char *)src.file);
	unsetenv("PGPASSWORD");
	/* development is not held to it */
	src.file = write_file("dev.conf", "external_url = http://x.example\nmetrics_listen = 0.0.0.0:9464\n");
	c = config_load(&src, &d);
	ok(c != NULL && d.nerrors == 0, "development takes what production refuses");
	config_free(c);
	config_diag_fini(&d);
	free((char *)src.file);
}

/* Variables rtftd does not take: one warning each, with what to do. */
static void test_lint(void)
{
	static const char *const unused[] = {
		"SMTP_HOST",      "SMTP_PORT",   "SMTP_USER",         "SMTP_PASS",
		"SMTP_FROM",      "S3_BUCKET",   "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
		"API_KEYS_ADMIN", "API_KEYS",    "TURN_API_KEY",      "TURN_STATIC_CREDENTIALS",
		"SESSION_SECRET", "DB_MAX_POOL", "REDIS_URL",
	};
	for (size_t i = 0; i < RT_ARRAY_LEN(unused); i++)
		setenv(unused[i], "x-value-x", 1);
	setenv("LOG_LEVL", "debug", 1);
	setenv("EXTERNAL_URLS", "https://x", 1);
	setenv("WORKER", "2", 1);
	setenv("HOME", "/root", 1);
	setenv("PATH", "/usr/bin", 1);
	setenv("HOSTNAME", "box", 1);
	setenv("OTHER_APP_KEY", "1", 1);
	setenv("log_levl", "1", 1);
	struct config_diag d = { 0 };
	struct config_src src = { .file = write_file("lint.conf", "log_levl = debug\nsmtp_host = mail\nprot = 80\n"),
				  .use_environ = true };
	struct config *c = config_load(&src, &d);
	ok(c != NULL, "what rtftd does not take only warns");
	for (size_t i = 0; i < RT_ARRAY_LEN(unused); i++) {
		char *where = xasprintf("environment %s: rtftd does not use %s: ", unused[i], unused[i]);
		ok(count_lines(&d, CONFIG_DIAG_WARNING, where) == 1, "%s: one warning", unused[i]);
		free(where);
	}
	ok(count_lines(&d, CONFIG_DIAG_WARNING, "SMTP_HOST: rtftd sends no mail"), "  saying why");
	ok(count_lines(&d, CONFIG_DIAG_WARNING, "TURN_API_KEY: rtftd mints short-lived TURN credentials itself"),
	   "  or what to use instead");
	ok(count_lines(&d, CONFIG_DIAG_WARNING,
		       "environment LOG_LEVL: LOG_LEVL is not a variable rtftd reads: did you mean LOG_LEVEL?") == 1,
	   "a typo of a variable names the key");
	ok(count_lines(&d, CONFIG_DIAG_WARNING,
		       "EXTERNAL_URLS is not a variable rtftd reads: did you mean EXTERNAL_URL?"),
	   "an extra letter");
	ok(count_lines(&d, CONFIG_DIAG_WARNING, "WORKER is not a variable rtftd reads: did you mean WORKERS?"),
	   "a missing one");
	ok(count_lines(&d, CONFIG_DIAG_WARNING,
		       "lint.conf:1: log_levl is not a key rtftd reads: did you mean log_level?"),
	   "a typo of a file key");
	ok(count_lines(&d, CONFIG_DIAG_WARNING, "lint.conf:3: prot is not a key rtftd reads: did you mean port?"),
	   "a swap of two letters");
	ok(count_lines(&d, CONFIG_DIAG_WARNING, "lint.conf:2: rtftd does not use smtp_host: rtftd sends no mail"),
	   "a file key of the table");
	ok(!diag_has(&d, "HOME") && !diag_has(&d, "PATH") && !diag_has(&d, "HOSTNAME") && !diag_has(&d, "OTHER_APP") &&
		   !diag_has(&d, "environment log_levl"),
	   "other programs' variables are left alone");
	ok(!diag_has(&d, "x-value-x"), "no value is shown");
	is_str(config_typo_of("RATE_LIMIT_MXA", true), "rate_limit_max", "config_typo_of: a swap");
	ok(config_typo_of("PORT", true) == NULL && config_typo_of("PATH", true) == NULL &&
		   config_typo_of("Log_Levl", true) == NULL,
	   "config_typo_of: not for keys, far names or mixed case");
	config_free(c);
	config_diag_fini(&d);
	free((char *)src.file);
	for (size_t i = 0; i < RT_ARRAY_LEN(unused); i++)
		unsetenv(unused[i]);
	unsetenv("LOG_LEVL");
	unsetenv("EXTERNAL_URLS");
	unsetenv("WORKER");
	unsetenv("HOSTNAME");
	unsetenv("OTHER_APP_KEY");
	unsetenv("log_levl");
}

static void clear_env(void)
{
	for (int k = 0; k < config_key_count(); k++) {
		char up[64];
		snprintf(up, sizeof up, "%s", config_key_name(k));
		for (char *p = up; *p; p++)
			*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
		unsetenv(up);
	}
	unsetenv("RTFT_ENV");
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	clear_env();
	struct config_diag d = { 0 };
	struct config_src src = { .file = "/nonexistent/rtftd.conf", .use_environ = true };

	struct config *c = config_load(&src, &d);
	ok(c != NULL, "defaults load without a file");
	is_int(c->port, 8080, "default port");
	is_str(c->host, "0.0.0.0", "default host");
	ok(c->workers >= 1, "workers auto is at least 1");
	is_str(c->metrics_listen, "127.0.0.1:9464", "default metrics listener");
	config_free(c);
	config_diag_fini(&d);

	char *file = write_file("a.conf", "# comment\n\nport = 9000\nlog_level = debug\nbogus_key = 1\nPORT = 1\n"
					  "database_url = \"postgres://u:s3cret@db/rtft\"\nturn_secret = "
					  "0123456789abcdef0123456789abcdef\n"
					  "jwks_url = https://keys:hunter3@idp.example/jwks.json\n");
	src.file = file;
	src.file_explicit = true;
	c = config_load(&src, &d);
	ok(c != NULL, "file loads");
	is_int(c->port, 9000, "file sets port");
	is_int(c->log_level, LOG_LVL_DEBUG, "file sets log_level");
	ok(diag_has(&d, "a.conf:5: unknown key \"bogus_key\""), "unknown key warned with file:line");
	ok(diag_has(&d, "keys are lower case in the file: port"), "upper-case key gets a hint");
	is_int(d.nerrors, 0, "warnings are not errors");
	ok(d.nlines == 2 && d.lines[0].severity == CONFIG_DIAG_WARNING && d.lines[1].severity == CONFIG_DIAG_WARNING,
	   "unknown keys have warning severity");
	ok(str_has_prefix(d.lines[0].text, file), "the text starts with where, not with a severity");
	char *text = config_format(c, true, true);
	ok(strstr(text, "s3cret") == NULL, "printed config hides the database password");
	ok(strstr(text, "postgres://u:***@db/rtft") != NULL, "database_url shown redacted");
	ok(strstr(text, "0123456789abcdef0123456789abcdef") == NULL, "turn_secret redacted");
	ok(strstr(text, "hunter3") == NULL && strstr(text, "https://keys:***@idp.example/jwks.json") != NULL,
	   "jwks_url shown without its password");
	ok(strstr(text, "port = \"9000\"") != NULL && strstr(text, "a.conf:3") != NULL, "source annotated");
	free(text);
	config_free(c);
	config_diag_fini(&d);

	setenv("PORT", "9100", 1);
	setenv("RTFT_ENV", "production", 1);
	setenv("EXTERNAL_URL", "https://rtft.example", 1);
	char *ov[] = { "port=9200", "log-level=warn" };
	src.overrides = ov;
	src.noverrides = 1;
	c = config_load(&src, &d);
	is_int(c->port, 9200, "command line beats environment beats file");
	ok(c->is_production, "RTFT_ENV=production is production");
	config_free(c);
	config_diag_fini(&d);
	src.noverrides = 0;
	c = config_load(&src, &d);
	is_int(c->port, 9100, "environment beats file");
	config_free(c);
	config_diag_fini(&d);
	unsetenv("PORT");
	unsetenv("RTFT_ENV");
	unsetenv("EXTERNAL_URL");

	char *envf = write_file("dev.env", "export PORT=9300\nLOG_FORMAT='json'\nOTHER_APP_KEY=x\n# c\n");
	src.env_file = envf;
	c = config_load(&src, &d);
	is_int(c->port, 9300, "env file sets PORT");
	is_int(c->log_format, LOG_FMT_JSON, "env file with quotes");
	config_free(c);
	config_diag_fini(&d);
	setenv("PORT", "9400", 1);
	c = config_load(&src, &d);
	is_int(c->port, 9400, "real environment beats the env file");
	config_free(c);
	config_diag_fini(&d);
	unsetenv("PORT");
	src.env_file = NULL;

	src.file = write_file("quotes.conf", "log_file = \"/tmp/x y\" # where logs go\nexternal_url = "
					     "'https://rtft.example' \nhost = 127.0.0.1 # loopback\n");
	c = config_load(&src, &d);
	ok(c && strcmp(c->log_file, "/tmp/x y") == 0, "quoted value followed by a comment loses quotes and comment");
	ok(c && strcmp(c->external_url, "https://rtft.example") == 0, "single quotes");
	ok(c && strcmp(c->host, "127.0.0.1") == 0, "unquoted value with a trailing comment");
	config_free(c);
	config_diag_fini(&d);
	free((char *)src.file);
	src.file = file;

	/* errors name the key, the value and what is expected */
	const char *bad[][2] = {
		{ "port = 70000\n", "port = \"70000\": expected an integer from 1 to 65535" },
		{ "port = 80x\n", "port = \"80x\": expected" },
		{ "workers = lots\n", "workers = \"lots\": expected \"auto\" or an integer" },
		{ "log_level = loud\n", "log_level = \"loud\": expected one of" },
		{ "database_url = mysql://x\n", "database_url = \"mysql://x\": expected sqlite:///" },
		{ "metrics_listen = 9464\n", "metrics_listen = \"9464\": expected host:port" },
		{ "external_url = ftp://x\n", "external_url = \"ftp://x\": expected an http://" },
		{ "request_timeout_ms = 5\n", "request_timeout_ms = \"5\"" },
		{ "node_env = staging\n", "node_env = \"staging\": expected development, production or test" },
		{ "port\n", "expected \"key = value\"" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		src.file = write_file("bad.conf", bad[i][0]);
		c = config_load(&src, &d);
		ok(c == NULL && d.nerrors >= 1 && diag_has(&d, bad[i][1]), "bad value refused: %s", bad[i][1]);
		ok(d.nlines >= 1 && d.lines[0].severity == CONFIG_DIAG_ERROR, "with error severity");
		if (!diag_has(&d, bad[i][1]))
			for (int j = 0; j < d.nlines; j++)
				printf("#   %s\n", d.lines[j].text);
		config_free(c);
		config_diag_fini(&d);
		free((char *)src.file);
	}

	/* keys that were removed still load, with a warning that hides the value */
	src.file = write_file(
		"retired.conf",
		"node_env = production\nsession_secret = short\ndb_max_pool = 10\nexternal_url = https://x.example\n");
	char *retired_ov[] = { "session-secret=hunter2", "DB_MAX_POOL=4" };
	src.overrides = retired_ov;
	src.noverrides = 2;
	c = config_load(&src, &d);
	ok(c != NULL && d.nerrors == 0, "a file and command line setting removed keys still load");
	ok(diag_has(&d, "retired.conf:2: key \"session_secret\" is no longer used"),
	   "session_secret in the file warned");
	ok(diag_has(&d, "retired.conf:3: key \"db_max_pool\" is no longer used"), "db_max_pool in the file warned");
	ok(diag_has(&d, "command line: key \"session_secret\" is no longer used") &&
		   diag_has(&d, "command line: key \"db_max_pool\" is no longer used"),
	   "removed keys on the command line warned");
	ok(!diag_has(&d, "short") && !diag_has(&d, "hunter2"), "the warnings do not show the values");
	ok(config_key_is_known("session_secret") && config_key_is_known("PORT") && !config_key_is_known("bogus"),
	   "config_key_is_known: keys and removed keys, any case");
	bool in_table = false;
	for (int k = 0; k < config_key_count(); k++)
		in_table |= strcmp(config_key_name(k), "session_secret") == 0 ||
			    strcmp(config_key_name(k), "db_max_pool") == 0;
	ok(!in_table, "removed keys are not in the key table");
	config_free(c);
	config_diag_fini(&d);
	free((char *)src.file);
	src.overrides = NULL;
	src.noverrides = 0;

	src.file = "/nonexistent/explicit.conf";
	c = config_load(&src, &d);
	ok(c == NULL && diag_has(&d, "cannot read config file /nonexistent/explicit.conf"), "-c FILE must exist");
	config_diag_fini(&d);

	/* reload text round trip and diff */
	src.file = file;
	c = config_load(&src, &d);
	config_diag_fini(&d);
	char *t = config_format(c, false, false);
	struct rt_err err;
	struct config *c2 = config_parse_text(t, &err);
	ok(c2 != NULL, "config_format output parses back");
	ok(config_parse_text("port = \"70000\"\n", &err) == NULL, "config_parse_text refuses a bad value");
	ok(str_has_prefix(err.msg, "(reload):1: port = \"70000\": expected"), "with the first error's text: %s",
	   err.msg);
	char *t2 = config_format(c2, false, false);
	is_str(t2, t, "round trip is exact");
	struct config_change ch;
	config_diff(c, c2, &ch);
	ok(!ch.any, "no difference after round trip");
	c2->log_level = LOG_LVL_ERROR;
	config_diff(c, c2, &ch);
	ok(ch.any && !ch.new_generation, "log_level change is in place");
	c2->workers = c->workers + 1;
	config_diff(c, c2, &ch);
	ok(ch.new_generation, "workers change needs a new generation");
	free(t);
	free(t2);

	/* reload: start-only values stay as they run, the rest is taken */
	char kept[256];
	is_int(config_keep_start_only(c, c2, kept, sizeof kept), 0, "nothing start-only changed: nothing kept");
	is_str(kept, "", "and no names");
	int k_db = -1;
	for (int k = 0; k < config_key_count(); k++)
		if (strcmp(config_key_name(k), "database_url") == 0)
			k_db = k;
	str_replace(&c2->database_url, "sqlite:///tmp/other.db");
	c2->db_ssl = DB_SSL_VERIFY_FULL;
	str_replace(&c2->metrics_listen, "");
	str_replace(&c2->node_env, "production");
	c2->is_production = true;
	c2->port = c->port + 1;
	str_replace(&c2->source[k_db], "environment DATABASE_URL");
	is_int(config_keep_start_only(c, c2, kept, sizeof kept), 4, "four start-only values changed");
	is_str(kept, "database_url, db_ssl, metrics_listen, node_env", "named in table order");
	is_str(c2->database_url, c->database_url, "database_url keeps the running value");
	is_int(c2->db_ssl, c->db_ssl, "db_ssl keeps the running value");
	is_str(c2->metrics_listen, c->metrics_listen, "metrics_listen keeps the running value");
	is_str(c2->node_env, c->node_env, "node_env keeps the running value");
	ok(!c2->is_production, "is_production follows the kept node_env");
	is_str(c2->source[k_db], c->source[k_db], "a kept value keeps the running source");
	is_int(c2->log_level, LOG_LVL_ERROR, "a reloadable value is taken");
	is_int(c2->port, c->port + 1, "a generation value is taken");
	is_int(c2->workers, c->workers + 1, "so is the worker count");
	config_diff(c, c2, &ch);
	ok(ch.any && ch.new_generation, "the diff after keeping sees the generation change");
	char *tk = config_format(c2, false, false);
	struct config *c3 = config_parse_text(tk, &err);
	ok(c3 != NULL, "the kept config is still valid");
	config_free(c3);
	free(tk);
	str_replace(&c2->database_url, "sqlite:///tmp/other.db");
	str_replace(&c2->node_env, "test");
	char small[10];
	is_int(config_keep_start_only(c, c2, small, sizeof small), 2, "a short buffer still counts every change");
	is_str(small, "database_", "and holds the names cut short");
	is_int(config_keep_start_only(c, c2, kept, sizeof kept), 0, "keeping twice changes nothing more");
	config_free(c);
	config_free(c2);

	ok(db_url_sqlite_path("sqlite:///var/lib/x.db") &&
		   strcmp(db_url_sqlite_path("sqlite:///var/lib/x.db"), "/var/lib/x.db") == 0,
	   "sqlite:/// gives an absolute path");
	char *r = db_url_redact("postgresql://user:pw@host:5432/db?sslmode=require");
	is_str(r, "postgresql://user:***@host:5432/db?sslmode=require", "password redacted in URL");
	free(r);
	r = db_url_redact("postgres://host/db?user=a&password=s3cret&sslmode=require");
	is_str(r, "postgres://host/db?user=a&password=***&sslmode=require", "password= query parameter redacted");
	free(r);
	src.file = write_file("badurl.conf", "database_url = postgress://u:hunter2@db/x\n");
	c = config_load(&src, &d);
	ok(c == NULL && d.nlines == 1 && strstr(d.lines[0].text, "hunter2") == NULL &&
		   strstr(d.lines[0].text, "postgress://u:***@db/x") != NULL,
	   "an invalid database_url is shown without its password");
	config_diag_fini(&d);
	free((char *)src.file);
	r = db_url_redact("postgres://host/db");
	is_str(r, "postgres://host/db", "URL without password unchanged");
	free(r);
	free(file);
	free(envf);
	test_production();
	test_signin();
	test_lint();
	return done_testing();
}
