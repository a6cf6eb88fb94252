/*
 * main.c: command line, configuration check (-t, -p), --migrate-only, and
 * the start of the master: config, logging, migrations, shared memory.
 * Runs in the master only; the database is opened here to migrate and
 * closed before any fork.
 */
#include "autoconf.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "master.h"
#include "migrate.h"
#include "presence.h"
#include "shm.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: rtftd [-c FILE] [--env-file FILE] [-t [-p]] [--migrate-only]\n"
		"             [--set KEY=VALUE]... [--KEY=VALUE]... [--list-keys] [-V] [-h]\n"
		"\n"
		"  -c, --config FILE     configuration file (default %s)\n"
		"      --env-file FILE   load KEY=VALUE lines (a .env) before the environment\n"
		"  -t, --test            check the configuration and exit 0 (valid) or 1\n"
		"  -p, --print           with -t: print the effective configuration\n"
		"      --migrate-only    apply pending database migrations and exit\n"
		"      --set KEY=VALUE   set any key (as does --KEY=VALUE)\n"
		"      --list-keys       print every configuration key and exit\n"
		"  -V, --version         print the version and exit\n"
		"  -h, --help            this text\n"
		"\nSee rtftd(8) and rtftd.conf(5).\n",
		CONFIG_DEFAULT_FILE);
}

static int run_migrations(const struct config *cfg, bool only)
{
	struct rt_err err;
	struct db_opts opts = { .sslmode = config_db_sslmode(cfg->db_ssl), .application_name = "rtftd-migrate" };
	char *shown = db_url_redact(cfg->database_url);
	struct db *db = db_open(cfg->database_url, &opts, &err);
	if (!db) {
		log_error("database %s: %s", shown, err.msg);
		free(shown);
		return RT_ERR;
	}
	struct migrate_result res = { 0 };
	int rc = migrate_run(db, &res, &err);
	db_close(db); /* no database handle crosses a fork */
	if (rc != RT_OK) {
		log_error("migrations on %s failed: %s", shown, err.msg);
		free(shown);
		return RT_ERR;
	}
	if (res.applied || only)
		log_info("database %s at schema version %d (%d applied now)", shown, res.to_version, res.applied);
	free(shown);
	if (rt_shm) {
		atomic_store(&rt_shm->migrations_ok, 1);
		atomic_store(&rt_shm->migrations_version, res.to_version);
		atomic_store(&rt_shm->migrations_latest, res.latest);
	}
	return RT_OK;
}

/* What the command line asked for. */
struct args {
	struct config_src src;
	bool test; /* -t */
	bool print; /* -p */
	bool migrate_only;
};

/* Takes every --KEY=VALUE that names a key out of argv (so getopt never
 * sees it) into a->src.overrides, which has room for argc entries. Returns
 * the new argc. */
static int take_key_args(int argc, char **argv, struct args *a)
{
	int nargs = 1;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (str_has_prefix(arg, "--") && strchr(arg, '=')) {
			char name[64];
			snprintf(name, sizeof name, "%.*s", (int)(strchr(arg, '=') - arg - 2), arg + 2);
			for (char *q = name; *q; q++)
				if (*q == '-')
					*q = '_';
			if (config_key_is_known(name)) {
				a->src.overrides[a->src.noverrides++] = xstrdup(arg + 2);
				continue;
			}
		}
		argv[nargs++] = argv[i];
	}
	return nargs;
}

/* Fills a from argv. Returns -1 to go on, or the exit status when the
 * command line was all there is to do (--version, --help, --list-keys) or
 * wrong. */
static int parse_args(int argc, char **argv, struct args *a)
{
	enum { OPT_ENV_FILE = 256, OPT_MIGRATE, OPT_SET, OPT_LIST_KEYS };
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "env-file", required_argument, NULL, OPT_ENV_FILE },
		{ "test", no_argument, NULL, 't' },
		{ "print", no_argument, NULL, 'p' },
		{ "migrate-only", no_argument, NULL, OPT_MIGRATE },
		{ "set", required_argument, NULL, OPT_SET },
		{ "list-keys", no_argument, NULL, OPT_LIST_KEYS },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	/* static: reachable until exit, whichever way main returns */
	static char **overrides;
	overrides = xcalloc((size_t)argc + 1, sizeof(char *));
	a->src = (struct config_src){ .use_environ = true, .overrides = overrides };
	argc = take_key_args(argc, argv, a);

	int ch;
	while ((ch = getopt_long(argc, argv, "c:tpVh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			a->src.file = optarg;
			a->src.file_explicit = true;
			break;
		case OPT_ENV_FILE:
			a->src.env_file = optarg;
			break;
		case 't':
			a->test = true;
			break;
		case 'p':
			a->print = true;
			break;
		case OPT_MIGRATE:
			a->migrate_only = true;
			break;
		case OPT_SET:
			overrides[a->src.noverrides++] = xstrdup(optarg);
			break;
		case OPT_LIST_KEYS:
			for (int k = 0; k < config_key_count(); k++)
				printf("%s %s\n", config_key_name(k), config_apply_name(config_key_apply(k)));
			return RT_EXIT_OK;
		case 'V':
			printf("rtftd %s\n", PACKAGE_VERSION);
			return RT_EXIT_OK;
		case 'h':
			usage(stdout);
			return RT_EXIT_OK;
		default:
			usage(stderr);
			return RT_EXIT_FAILURE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "rtftd: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return RT_EXIT_FAILURE;
	}
	return -1;
}

/* rtftd -t [-p]: report on the loaded config (NULL when invalid) and exit.
 * Frees cfg and diag. */
static int test_config(struct config *cfg, struct config_diag *diag, bool print)
{
	config_diag_print(diag, false);
	int rc = RT_EXIT_OK;
	if (!cfg) {
		fprintf(stderr, "rtftd: configuration test failed (%d error%s)\n", diag->nerrors,
			diag->nerrors == 1 ? "" : "s");
		rc = RT_EXIT_FAILURE;
	} else {
		if (print) {
			char *text = config_format(cfg, true, true);
			fputs(text, stdout);
			free(text);
		}
		fprintf(stderr, "rtftd: configuration %s is valid\n",
			cfg->config_file ? cfg->config_file : "(defaults and environment)");
	}
	config_diag_fini(diag);
	config_free(cfg);
	return rc;
}

/* Sets up logging from a valid cfg and logs diag (then freed) there. On
 * failure cfg is freed and the caller exits. */
static int setup_logging(struct config *cfg, struct config_diag *diag)
{
	if (!cfg) {
		/* logging is not configured yet: stderr in the default format */
		config_diag_print(diag, true);
		log_error("invalid configuration: not starting (check it with rtftd -t)");
		config_diag_fini(diag);
		return RT_ERR;
	}
	struct rt_err err;
	if (log_setup(cfg->log_level, cfg->log_format, cfg->log_file, &err) != RT_OK) {
		log_error("log_file: %s", err.msg);
		config_diag_fini(diag);
		config_free(cfg);
		return RT_ERR;
	}
	log_set_role("master", -1);
	log_set_addr_mode(cfg->log_addr);
	config_diag_print(diag, true);
	config_diag_fini(diag);
	return RT_OK;
}

/* Shared memory, migrations, then the master loop, which takes cfg. */
static int start_master(struct config *cfg, const struct config_src *src)
{
	struct rt_err err;
	log_info("rtftd %s starting (config %s, %d workers, %s)", PACKAGE_VERSION,
		 cfg->config_file ? cfg->config_file : "none", cfg->workers, cfg->node_env);
	if (!shm_create(&err) || presence_create(0, &err) != RT_OK) {
		log_error("%s", err.msg);
		config_free(cfg);
		return RT_EXIT_FAILURE;
	}
	/* one key for hashed client addresses, shared by every child */
	log_addr_key_init(&rt_shm->addr_key);
	log_set_addr_key(&rt_shm->addr_key);
	if (run_migrations(cfg, false) != RT_OK) {
		config_free(cfg);
		return RT_EXIT_FAILURE;
	}
	return master_run(cfg, src);
}

int main(int argc, char **argv)
{
	proctitle_init(argc, argv);
	struct args a = { 0 }; /* lives while the master runs: reload reads a.src again */
	int rc = parse_args(argc, argv, &a);
	if (rc >= 0)
		return rc;

	struct config_diag diag = { 0 };
	struct config *cfg = config_load(&a.src, &diag);
	if (a.test)
		return test_config(cfg, &diag, a.print);
	if (setup_logging(cfg, &diag) != RT_OK)
		return RT_EXIT_FAILURE;
	if (a.migrate_only) {
		rc = run_migrations(cfg, true);
		config_free(cfg);
		return rc == RT_OK ? RT_EXIT_OK : RT_EXIT_FAILURE;
	}
	return start_master(cfg, &a.src);
}
