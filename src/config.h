/*
 * config.h: the configuration keys, their sources and validation.
 * Sources, later wins: built-in defaults < config file < --env-file <
 * environment < command-line. A key has one name: lower case in the file
 * and in struct config, upper case in the environment.
 * Runs in the master; children receive the validated config by fork, and on
 * reload as text (config_format / config_parse_text) over their channel.
 */
#ifndef RT_CONFIG_H
#define RT_CONFIG_H

#include "rtftd.h"
#include "clientaddr.h"
#include "log.h"

/* $(sysconfdir)/rtft/rtftd.conf: /etc/rtft/rtftd.conf in the packages */
#define CONFIG_DEFAULT_FILE RT_SYSCONFDIR "/rtft/rtftd.conf"

#define CONFIG_MAX_KEYS 64
/* The value of a key whose default depends on node_env. */
#define CONFIG_AUTO (-1)

enum db_ssl_mode {
	DB_SSL_DISABLE = 0,
	DB_SSL_ALLOW,
	DB_SSL_PREFER,
	DB_SSL_REQUIRE,
	DB_SSL_VERIFY_CA,
	DB_SSL_VERIFY_FULL
};

struct config {
	char *host;
	int port;
	int workers;
	enum log_level log_level;
	enum log_format log_format;
	char *log_file;
	int request_timeout_ms;
	int max_request_line_bytes;
	int max_header_bytes;
	int max_body_bytes;
	char *database_url;
	enum db_ssl_mode db_ssl;
	char *metrics_listen; /* "host:port", or "" when disabled */
	int drain_timeout_ms;
	int shutdown_timeout_ms;
	char *external_url;
	char *node_env;
	int max_message_bytes;
	int max_outbound_bytes;
	int heartbeat_interval_ms;
	int register_timeout_ms;
	int user_list_max;
	bool store_file_names;
	char *www_root;
	char *stun_servers;
	char *turn_servers;
	char *ice_transport_policy;
	char *turn_secret;
	int turn_ttl;
	int p2p_timeout_ms;
	int ice_check_interval_ms;
	int hsts_max_age;
	int rate_limit_window_ms;
	int rate_limit_max;
	bool trust_proxy; /* the edge (edge.h) */
	char *trusted_proxies;
	char *cors_origins;
	bool require_origin;
	bool hsts_include_subdomains;
	bool hsts_preload;
	int https_redirect; /* -1: auto (on in production), 0 off, 1 on */
	int log_client_address; /* CONFIG_AUTO, or an enum log_addr_mode */
	int log_user_names; /* CONFIG_AUTO, 0 or 1 */
	int retention_days; /* transfer records older than this are purged; 0: kept */
	char *jwt_secret; /* sign-in (wsauth.h) */
	char *jwks_url;
	char *jwt_issuer;
	char *jwt_audience;
	char *jwt_name_claim;

	/* where each key's value came from, indexed like the key table */
	char *source[CONFIG_MAX_KEYS];

	/* derived */
	bool is_production;
	struct rt_netlist trusted; /* trusted_proxies, parsed */
	bool https_redirect_on;
	enum log_addr_mode log_addr; /* log_client_address, auto resolved: truncated in production, else full */
	bool log_names; /* log_user_names, auto resolved: false in production, else true */
	char *config_file; /* the file that was read, or NULL */
};

/* Where the master reads from. Caller owns every pointer. */
struct config_src {
	const char *file; /* NULL: CONFIG_DEFAULT_FILE if it exists */
	bool file_explicit; /* -c given: a missing file is an error */
	const char *env_file; /* --env-file, or NULL */
	bool use_environ; /* read the process environment */
	char **overrides; /* "key=value" from the command line */
	int noverrides;
};

/* Messages from loading: every error and warning, one line each. An error
 * makes config_load fail; a warning does not. */
enum config_severity { CONFIG_DIAG_WARNING, CONFIG_DIAG_ERROR };
struct config_diag_line {
	enum config_severity severity;
	char *text; /* "where: what", without the severity */
};
struct config_diag {
	struct config_diag_line *lines;
	int nlines;
	int nerrors;
};
void config_diag_fini(struct config_diag *d);
/* Adds one line to d (d may be NULL: nothing happens). */
void config_diag_add(struct config_diag *d, enum config_severity sev, const char *fmt, ...) RT_PRINTF(3, 4);
/* The one printer of diag, in the master: to_log, each line through the
 * log at its severity as "config <text>"; else to stderr as "rtftd: error:
 * <text>" or "rtftd: warning: <text>" (rtftd -t). */
void config_diag_print(const struct config_diag *d, bool to_log);

/* Builds a fresh, validated config. Returns NULL when any error was found;
 * all errors and warnings are in diag (caller calls config_diag_fini). */
struct config *config_load(const struct config_src *src, struct config_diag *diag) RT_MUSTCHECK;
void config_free(struct config *cfg);

/* "key = value" lines of the effective config, secrets shown as "(redacted)"
 * when redact. With annotate, each line carries "# source". Caller frees. */
char *config_format(const struct config *cfg, bool redact, bool annotate);

/* Parse text from config_format(cfg, false, false): used by children on
 * reload. Returns NULL and fills err on any error. */
struct config *config_parse_text(const char *text, struct rt_err *err) RT_MUSTCHECK;

/* What a reload changes. */
struct config_change {
	bool new_generation; /* a CONFIG_GENERATION key (host, port, workers) changed */
	bool any; /* anything changed */
};
void config_diff(const struct config *old, const struct config *nw, struct config_change *out);

/* Reload, in the master, before config_diff: copies every CONFIG_RESTART
 * value (and where it came from) of running into loaded, which then differs
 * from running in reloadable and generation keys only. Returns how many
 * start-only values differed, and their names, comma separated, in changed
 * (cap bytes, cut short if they do not fit; "" when none), for the caller to
 * warn about. loaded stays the caller's. */
int config_keep_start_only(const struct config *running, struct config *loaded, char *changed, size_t cap);

/* What a reload does with a changed key; every key has exactly one class. */
enum config_apply {
	CONFIG_RESTART, /* start-only: the running value stays until a restart */
	CONFIG_RELOAD, /* the running processes apply the new value in place */
	CONFIG_GENERATION, /* needs new sockets or processes: a new worker generation applies it */
};

/* Key table introspection for --list-keys and the docs check. */
int config_key_count(void);
const char *config_key_name(int i);
/* CONFIG_RESTART for an index out of range */
enum config_apply config_key_apply(int i);
/* "restart", "reload" or "generation": the words of --list-keys */
const char *config_apply_name(enum config_apply a);
/* name (any case, '_' not '-') is a key, or a retired one that is still
 * accepted with a warning: main.c takes --name=value as a setting then. */
bool config_key_is_known(const char *name);

/* ---- config_check.c ---- */

/* Production mode's refusals (is_production): one error line per problem,
 * all of them. Called by validation. */
void config_check_production(const struct config *cfg, struct config_diag *d);
/* jwks_url over plain http beyond loopback, a jwt_secret under 32 bytes:
 * warnings, and errors in production. */
void config_check_signin(const struct config *cfg, struct config_diag *d);
/* The key name looks like a typing error for (upper_case: environment
 * names; else file keys): the same first letter, one edit away (two for
 * keys of 8 letters or more, a swap of neighbours being one), only
 * letters of that case, digits and '_'. NULL when none or when name is a
 * key. */
const char *config_typo_of(const char *name, bool upper_case);
/* A name rtftd does not take (not a key), seen at where: a warning that
 * says what to use instead when it is a variable of an RTFT deployment
 * rtftd has no use for (SMTP_*, S3_*, REDIS_URL, ...), or which key it
 * looks like a typing error for. True when it warned. */
bool config_lint_name(const char *name, const char *where, bool upper_case, struct config_diag *d);
/* config_lint_name() for every variable of the process environment. */
void config_lint_environ(struct config_diag *d);

/* libpq's sslmode name for a db_ssl value ("disable" ... "verify-full"). */
const char *config_db_sslmode(enum db_ssl_mode m);

#endif
