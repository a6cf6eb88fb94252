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
	char *shown = config_redact_url(cfg->database_url);
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

int main(int argc, char **argv)
{
	proctitle_init(argc, argv);
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
	struct config_src src = { .use_environ = true };
	/* static: reachable until exit, whichever way main returns */
	static char **overrides;
	overrides = xcalloc((size_t)argc + 1, sizeof(char *));
	bool test = false, print = false, migrate_only = false;

	/* --KEY=VALUE for any key: take those out before getopt sees them */
	int nargs = 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (str_has_prefix(a, "--") && strchr(a, '=')) {
			char name[64];
			snprintf(name, sizeof name, "%.*s", (int)(strchr(a, '=') - a - 2), a + 2);
			for (char *q = name; *q; q++)
				if (*q == '-')
					*q = '_';
			if (config_key_is_known(name)) {
				overrides[src.noverrides++] = xstrdup(a + 2);
				continue;
			}
		}
		argv[nargs++] = argv[i];
	}
	argc = nargs;

	int ch;
	while ((ch = getopt_long(argc, argv, "c:tpVh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			src.file = optarg;
			src.file_explicit = true;
			break;
		case OPT_ENV_FILE:
			src.env_file = optarg;
			break;
		case 't':
			test = true;
			break;
		case 'p':
			print = true;
			break;
		case OPT_MIGRATE:
			migrate_only = true;
			break;
		case OPT_SET:
			overrides[src.noverrides++] = xstrdup(optarg);
			break;
		case OPT_LIST_KEYS:
			for (int k = 0; k < config_key_count(); k++)
				printf("%s %s\n", config_key_name(k), config_apply_name(config_key_apply(k)));
			return 0;
		case 'V':
			printf("rtftd %s\n", PACKAGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
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
	src.overrides = overrides;

	struct config_diag diag = { 0 };
	struct config *cfg = config_load(&src, &diag);
	if (test) {
		config_diag_print(&diag, false);
		if (!cfg) {
			fprintf(stderr, "rtftd: configuration test failed (%d error%s)\n", diag.nerrors,
				diag.nerrors == 1 ? "" : "s");
			config_diag_fini(&diag);
			return RT_EXIT_FAILURE;
		}
		if (print) {
			char *text = config_format(cfg, true, true);
			fputs(text, stdout);
			free(text);
		}
		fprintf(stderr, "rtftd: configuration %s is valid\n",
			cfg->config_file ? cfg->config_file : "(defaults and environment)");
		config_diag_fini(&diag);
		config_free(cfg);
		return RT_EXIT_OK;
	}
	if (!cfg) {
		/* logging is not configured yet: stderr in the default format */
		config_diag_print(&diag, true);
		log_error("invalid configuration: not starting (check it with rtftd -t)");
		config_diag_fini(&diag);
		return RT_EXIT_FAILURE;
	}
	struct rt_err err;
	if (log_setup(cfg->log_level, cfg->log_format, cfg->log_file, &err) != RT_OK) {
		log_error("log_file: %s", err.msg);
		config_free(cfg);
		return RT_EXIT_FAILURE;
	}
	log_set_role("master", -1);
	config_diag_print(&diag, true);
	config_diag_fini(&diag);

	if (migrate_only) {
		int rc = run_migrations(cfg, true);
		config_free(cfg);
		return rc == RT_OK ? RT_EXIT_OK : RT_EXIT_FAILURE;
	}
	log_info("rtftd %s starting (config %s, %d workers, %s)", PACKAGE_VERSION,
		 cfg->config_file ? cfg->config_file : "none", cfg->workers, cfg->node_env);
	if (!shm_create(&err) || presence_create(0, &err) != RT_OK) {
		log_error("%s", err.msg);
		config_free(cfg);
		return RT_EXIT_FAILURE;
	}
	if (run_migrations(cfg, false) != RT_OK) {
		config_free(cfg);
		return RT_EXIT_FAILURE;
	}
	return master_run(cfg, &src); /* master_run owns cfg */
}
