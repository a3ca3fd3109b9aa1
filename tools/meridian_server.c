/* SPDX-License-Identifier: Apache-2.0 */
/*
 * meridian-server: the NATS server executable. It reads nats-server's command line
 * flags (same spelling, Go flag rules: "-p 4222", "--port=4222" and "-port 4222" are
 * the same flag) and a nats-server configuration file (-c; core/conf/conf_server.h),
 * lets the flags that were given override the file as nats-server does, and drives one
 * server on the real env until SIGINT or SIGTERM, then shuts it down and waits
 * (bounded) for its connections to close. With -t it only checks the file, printing
 * what nats-server's -t prints.
 *
 * Flags nats-server has but whose feature has not landed here yet (HTTPS monitoring,
 * ...) are refused by name with exit code 1, never silently ignored: a user must not
 * believe a feature is on when it is not.
 *
 * JetStream (-js, -sd, jetstream {}): the store directory is store_dir/jetstream, as
 * with nats-server (default store_dir: the temporary directory's "nats"); it is made
 * here and handed to the real env as the root of the core's file paths.
 *
 * Ownership: main owns the realenv, the loaded config and the server; the server
 * borrows the env and the config's auth options, so it is destroyed first. Flag values
 * are borrowed from argv.
 */
#include <errno.h>
#include <glib.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/conf/conf.h"
#include "core/conf/conf_server.h"
#include "core/env.h"
#include "core/err.h"
#include "core/limits.h"
#include "core/realenv/realenv.h"
#include "core/server/server.h"

#define PROG "meridian-server"
/* How long a shutdown may wait for connections to close before exiting anyway. */
#define SHUTDOWN_WAIT_NS (5ULL * MR_NS_PER_SEC)
/* One loop turn's wait while shutting down, so the bound above is checked often. */
#define SHUTDOWN_TURN_NS (50ULL * MR_NS_PER_MS)
#define LOG_LINE_MAX 1024

enum flag_kind { FLAG_BOOL, FLAG_STRING, FLAG_INT };

enum flag_id {
    F_ADDR,
    F_PORT,
    F_NAME,
    F_DEBUG,
    F_TRACE,
    F_DEBUG_TRACE,
    F_LOG,
    F_LOGTIME,
    F_PID,
    F_USER,
    F_PASS,
    F_AUTH,
    F_CONFIG,
    F_CHECK_CONFIG,
    F_HTTP_PORT,
    F_TLS,
    F_TLS_VERIFY,
    F_TLS_CERT,
    F_TLS_KEY,
    F_TLS_CA,
    F_HELP,
    F_VERSION,
    F_ROUTES,
    F_CLUSTER,
    F_CLUSTER_NAME,
    F_CLUSTER_ADVERTISE,
    F_NO_ADVERTISE,
    F_CONNECT_RETRIES,
    F_JETSTREAM,
    F_STORE_DIR,
    F_NOT_YET, /* a nats-server flag whose feature has not landed */
};

struct flag {
    const char *names[4]; /* without dashes; "-x" and "--x" both match */
    enum flag_kind kind;
    enum flag_id id;
    const char *what; /* for F_NOT_YET: the feature, in the refusal message */
};

/* Every flag `nats-server --help` lists (2.9/2.10). */
static const struct flag flags[] = {
    {{"a", "addr", "net"}, FLAG_STRING, F_ADDR, NULL},
    {{"p", "port"}, FLAG_INT, F_PORT, NULL},
    {{"n", "name", "server_name"}, FLAG_STRING, F_NAME, NULL},
    {{"D", "debug"}, FLAG_BOOL, F_DEBUG, NULL},
    {{"V", "trace"}, FLAG_BOOL, F_TRACE, NULL},
    /* -VV and -DVV also trace the system account, which does not exist yet here. */
    {{"VV"}, FLAG_BOOL, F_TRACE, NULL},
    {{"DV"}, FLAG_BOOL, F_DEBUG_TRACE, NULL},
    {{"DVV"}, FLAG_BOOL, F_DEBUG_TRACE, NULL},
    {{"l", "log"}, FLAG_STRING, F_LOG, NULL},
    {{"T", "logtime"}, FLAG_BOOL, F_LOGTIME, NULL},
    {{"P", "pid"}, FLAG_STRING, F_PID, NULL},
    {{"user"}, FLAG_STRING, F_USER, NULL},
    {{"pass"}, FLAG_STRING, F_PASS, NULL},
    {{"auth"}, FLAG_STRING, F_AUTH, NULL},
    {{"h", "help"}, FLAG_BOOL, F_HELP, NULL},
    {{"v", "version"}, FLAG_BOOL, F_VERSION, NULL},

    {{"c", "config"}, FLAG_STRING, F_CONFIG, NULL},
    {{"t"}, FLAG_BOOL, F_CHECK_CONFIG, NULL},
    {{"m", "http_port"}, FLAG_INT, F_HTTP_PORT, NULL},
    {{"tls"}, FLAG_BOOL, F_TLS, NULL},
    {{"tlsverify"}, FLAG_BOOL, F_TLS_VERIFY, NULL},
    {{"tlscert"}, FLAG_STRING, F_TLS_CERT, NULL},
    {{"tlskey"}, FLAG_STRING, F_TLS_KEY, NULL},
    {{"tlscacert"}, FLAG_STRING, F_TLS_CA, NULL},

    {{"ms", "https_port"}, FLAG_INT, F_NOT_YET, "HTTPS monitoring"},
    {{"sl", "signal"}, FLAG_STRING, F_NOT_YET, "signalling a running server"},
    {{"client_advertise"}, FLAG_STRING, F_NOT_YET, "client advertise"},
    {{"ports_file_dir"}, FLAG_STRING, F_NOT_YET, "ports files"},
    {{"s", "syslog"}, FLAG_BOOL, F_NOT_YET, "syslog"},
    {{"r", "remote_syslog"}, FLAG_STRING, F_NOT_YET, "remote syslog"},
    {{"log_size_limit"}, FLAG_STRING, F_NOT_YET, "log rotation"},
    {{"max_traced_msg_len"}, FLAG_INT, F_NOT_YET, "truncated trace"},
    {{"js", "jetstream"}, FLAG_BOOL, F_JETSTREAM, NULL},
    {{"sd", "store_dir"}, FLAG_STRING, F_STORE_DIR, NULL},
    {{"help_tls"}, FLAG_BOOL, F_NOT_YET, "TLS help"},
    {{"routes"}, FLAG_STRING, F_ROUTES, NULL},
    {{"cluster", "cluster_listen"}, FLAG_STRING, F_CLUSTER, NULL},
    {{"cluster_name"}, FLAG_STRING, F_CLUSTER_NAME, NULL},
    {{"cluster_advertise"}, FLAG_STRING, F_CLUSTER_ADVERTISE, NULL},
    {{"no_advertise"}, FLAG_BOOL, F_NO_ADVERTISE, NULL},
    {{"connect_retries"}, FLAG_INT, F_CONNECT_RETRIES, NULL},
    {{"profile"}, FLAG_INT, F_NOT_YET, "profiling"},
};

/* What the command line asked for: the flags that override the file, and the rest. */
struct cli {
    struct mr_conf_server_flags flags; /* strings borrowed from argv */
    const char *config_file;           /* borrowed from argv */
    bool check_config;
    bool js_set; /* -js */
    bool js;
    const char *store_dir; /* -sd, borrowed from argv */
    bool help;
    bool version;
};

static void usage(FILE *out)
{
    fprintf(out,
            "\n"
            "Usage: " PROG " [options]\n"
            "\n"
            "Server Options:\n"
            "    -a, --addr, --net <host>         Bind to host address (default: 0.0.0.0)\n"
            "    -p, --port <port>                Use port for clients (default: 4222)\n"
            "    -n, --name\n"
            "        --server_name <server_name>  Server name (default: auto)\n"
            "    -P, --pid <file>                 File to store PID\n"
            "    -m, --http_port <port>           Use port for http monitoring\n"
            "    -c, --config <file>              Configuration file\n"
            "    -t                               Test configuration and exit\n"
            "\n"
            "Logging Options:\n"
            "    -l, --log <file>                 File to redirect log output\n"
            "    -T, --logtime                    Timestamp log entries (default: true)\n"
            "    -D, --debug                      Enable debugging output\n"
            "    -V, --trace                      Trace the raw protocol\n"
            "    -VV                              Verbose trace (same as -V for now)\n"
            "    -DV                              Debug and trace\n"
            "    -DVV                             Debug and verbose trace\n"
            "\n"
            "Authorization Options:\n"
            "        --user <user>                User required for connections\n"
            "        --pass <password>            Password required for connections\n"
            "        --auth <token>               Authorization token required for "
            "connections\n"
            "\n"
            "TLS Options:\n"
            "        --tls                        Enable TLS, do not verify clients (default: "
            "false)\n"
            "        --tlscert <file>             Server certificate file\n"
            "        --tlskey <file>              Private key for server certificate\n"
            "        --tlsverify                  Enable TLS, verify client certificates\n"
            "        --tlscacert <file>           Client certificate CA for verification\n"
            "\n"
            "Cluster Options:\n"
            "        --routes <rurl-1, rurl-2>    Routes to solicit and connect\n"
            "        --cluster <cluster-url>      Cluster URL for solicited routes\n"
            "        --cluster_listen <url>       Same as --cluster\n"
            "        --cluster_name <string>      Cluster Name, if not set one will be "
            "dynamically generated\n"
            "        --no_advertise <bool>        Do not advertise known cluster information to "
            "clients\n"
            "        --cluster_advertise <string> Cluster URL to advertise to other servers\n"
            "        --connect_retries <number>   For implicit routes, number of connect "
            "retries\n"
            "\n"
            "JetStream Options:\n"
            "    -js, --jetstream                 Enable JetStream functionality\n"
            "    -sd, --store_dir <dir>           Set the storage directory\n"
            "\n"
            "Common Options:\n"
            "    -h, --help                       Show this message\n"
            "    -v, --version                    Show version\n"
            "\n"
            "Command line flags override the configuration file.\n"
            "Not supported yet (refused): -ms/--https_port, -sl/--signal, --client_advertise,\n"
            "  --ports_file_dir, -s/--syslog, -r/--remote_syslog, --log_size_limit,\n"
            "  --max_traced_msg_len, --help_tls, --profile.\n"
            "\n");
}

static const struct flag *flag_find(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        for (size_t k = 0; k < 4 && flags[i].names[k] != NULL; k++) {
            const char *n = flags[i].names[k];
            if (strlen(n) == len && strncmp(n, name, len) == 0) {
                return &flags[i];
            }
        }
    }
    return NULL;
}

static int parse_bool(const char *v, bool *out)
{
    /* Go's strconv.ParseBool spellings. */
    static const char *const yes[] = {"1", "t", "T", "true", "TRUE", "True"};
    static const char *const no[] = {"0", "f", "F", "false", "FALSE", "False"};
    for (size_t i = 0; i < 6; i++) {
        if (strcmp(v, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(v, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/* Applies one supported flag. Returns 0 or -1 after printing why. */
static int apply_flag(struct cli *cli, const struct flag *f, const char *name, const char *v,
                      bool b, long n)
{
    struct mr_conf_server_flags *fl = &cli->flags;
    switch (f->id) {
    case F_ADDR:
        fl->host = v;
        return 0;
    case F_PORT:
        fl->port_set = true;
        fl->port = (int)n;
        return 0;
    case F_NAME:
        fl->server_name = v;
        return 0;
    case F_DEBUG:
        fl->debug_set = true;
        fl->debug = b;
        return 0;
    case F_TRACE:
        fl->trace_set = true;
        fl->trace = b;
        return 0;
    case F_DEBUG_TRACE:
        fl->debug_set = true;
        fl->debug = b;
        fl->trace_set = true;
        fl->trace = b;
        return 0;
    case F_LOG:
        fl->log_file = v;
        return 0;
    case F_LOGTIME:
        fl->logtime_set = true;
        fl->logtime = b;
        return 0;
    case F_PID:
        fl->pid_file = v;
        return 0;
    case F_USER:
        fl->user = v;
        return 0;
    case F_PASS:
        fl->pass = v;
        return 0;
    case F_AUTH:
        fl->token = v;
        return 0;
    case F_CONFIG:
        cli->config_file = v;
        return 0;
    case F_CHECK_CONFIG:
        cli->check_config = b;
        return 0;
    case F_HTTP_PORT:
        fl->http_port_set = true;
        fl->http_port = (int)n;
        return 0;
    case F_TLS:
        fl->tls_set = true;
        fl->tls = b;
        return 0;
    case F_TLS_VERIFY:
        fl->tls_verify_set = true;
        fl->tls_verify = b;
        return 0;
    case F_TLS_CERT:
        fl->tls_cert = v;
        return 0;
    case F_TLS_KEY:
        fl->tls_key = v;
        return 0;
    case F_TLS_CA:
        fl->tls_ca = v;
        return 0;
    case F_HELP:
        cli->help = b;
        return 0;
    case F_VERSION:
        cli->version = b;
        return 0;
    case F_ROUTES:
        fl->routes = v;
        return 0;
    case F_CLUSTER:
        fl->cluster_listen = v;
        return 0;
    case F_CLUSTER_NAME:
        fl->cluster_name = v;
        return 0;
    case F_CLUSTER_ADVERTISE:
        fl->cluster_advertise = v;
        return 0;
    case F_NO_ADVERTISE:
        fl->no_advertise_set = true;
        fl->no_advertise = b;
        return 0;
    case F_CONNECT_RETRIES:
        fl->connect_retries_set = true;
        fl->connect_retries = (int)n;
        return 0;
    case F_JETSTREAM:
        cli->js_set = true;
        cli->js = b;
        return 0;
    case F_STORE_DIR:
        cli->store_dir = v;
        return 0;
    case F_NOT_YET:
        break;
    }
    fprintf(stderr, PROG ": flag %s (%s) is not supported yet\n", name, f->what);
    return -1;
}

/* Reads one flag at argv[*i] (and its value, which may be the next argument). */
static int parse_one(struct cli *cli, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    size_t dashes = arg[1] == '-' ? 2 : 1;
    const char *name = arg + dashes;
    const char *eq = strchr(name, '=');
    size_t name_len = eq != NULL ? (size_t)(eq - name) : strlen(name);
    /* Messages name the flag as it was typed, dashes included. */
    char shown[64];
    snprintf(shown, sizeof(shown), "%.*s", (int)(dashes + name_len), arg);
    const struct flag *f = flag_find(name, name_len);
    if (f == NULL || name_len == 0) {
        fprintf(stderr, PROG ": unknown flag: %s\nRun '" PROG " --help' for the supported flags.\n",
                arg);
        return -1;
    }
    if (f->id == F_NOT_YET) {
        return apply_flag(cli, f, shown, NULL, false, 0);
    }
    const char *v = eq != NULL ? eq + 1 : NULL;
    bool b = true;
    long n = 0;
    if (f->kind == FLAG_BOOL) {
        /* Go: a bool flag takes a value only as -flag=value, never the next argument. */
        if (v != NULL && parse_bool(v, &b) != 0) {
            fprintf(stderr, PROG ": invalid boolean value \"%s\" for flag %s\n", v, shown);
            return -1;
        }
        return apply_flag(cli, f, shown, v, b, n);
    }
    if (v == NULL) {
        if (*i + 1 >= argc) {
            fprintf(stderr, PROG ": flag needs an argument: %s\n", shown);
            return -1;
        }
        v = argv[++*i];
    }
    if (f->kind == FLAG_INT) {
        char *end = NULL;
        errno = 0;
        n = strtol(v, &end, 10);
        if (v[0] == '\0' || *end != '\0' || errno != 0 || n < INT32_MIN || n > INT32_MAX) {
            fprintf(stderr, PROG ": invalid value \"%s\" for flag %s: parse error\n", v, shown);
            return -1;
        }
    }
    return apply_flag(cli, f, shown, v, b, n);
}

/* Returns 0, or -1 after printing why (exit code 1). */
static int parse_args(struct cli *cli, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--") == 0) {
            if (i + 1 < argc) {
                fprintf(stderr, PROG ": unrecognized command: \"%s\"\n", argv[i + 1]);
                return -1;
            }
            break;
        }
        if (arg[0] != '-' || arg[1] == '\0') {
            fprintf(stderr, PROG ": unrecognized command: \"%s\"\n", arg);
            return -1;
        }
        if (parse_one(cli, argc, argv, &i) != 0) {
            return -1;
        }
    }
    return 0;
}

/* ----------------------------------------------------------------------------------
 * Configuration file
 * ---------------------------------------------------------------------------------- */

/* Warnings of the loader, printed once the logger is set up (or by -t). */
struct warnings {
    GPtrArray *lines; /* "file:line:col: text", owned */
    bool compat;      /* one of them is a warning nats-server's -t fails on */
};

static void collect_warning(void *ctx, enum mr_conf_warn_kind kind, const char *msg)
{
    struct warnings *w = ctx;
    g_ptr_array_add(w->lines, g_strdup(msg));
    w->compat = w->compat || kind == MR_CONF_WARN_COMPAT;
}

/* "op path: reason" with Go's lower-case reason. */
static void go_error(char *err, size_t err_len, const char *op, const char *path, int e)
{
    char reason[256];
    g_strlcpy(reason, strerror(e), sizeof(reason));
    reason[0] = (char)g_ascii_tolower(reason[0]);
    snprintf(err, err_len, "%s %s: %s", op, path, reason);
}

/* The real-file side of struct mr_conf_io. Errors read like Go's ("open x: no such
 * file or directory"), as nats-server prints them. */
static int io_read_file(void *ctx, const char *path, char **data, size_t *len, char *err,
                        size_t err_len)
{
    (void)ctx; /* files are read from the process's working directory */
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        int e = errno;
        go_error(err, err_len, "open", path, e);
        return e == ENOENT ? MR_E_NOT_FOUND : MR_E_IO;
    }
    GString *buf = g_string_new(NULL);
    char chunk[64 * 1024];
    size_t n = 0;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        g_string_append_len(buf, chunk, (gssize)n);
        if (buf->len > MR_CONF_FILE_BYTES_MAX) {
            snprintf(err, err_len, "%s is larger than %d bytes", path, MR_CONF_FILE_BYTES_MAX);
            rc = MR_E_LIMIT;
            break;
        }
    }
    if (rc == 0 && ferror(f)) {
        go_error(err, err_len, "read", path, errno);
        rc = MR_E_IO;
    }
    fclose(f);
    if (rc == 0) {
        /* The parser frees *data with free(): hand it malloc'd memory. */
        *data = malloc(buf->len + 1);
        if (*data == NULL) {
            abort(); /* out of memory, as g_malloc would */
        }
        memcpy(*data, buf->str, buf->len + 1);
        *len = buf->len;
    }
    g_string_free(buf, TRUE);
    return rc;
}

static const char *io_get_env(void *ctx, const char *name)
{
    (void)ctx; /* the process environment */
    return getenv(name);
}

/*
 * Fills config from the file named by -c (if any) and then the flags that were given.
 * Returns 0, or -1 after printing why ("meridian-server: file:line:col: reason").
 */
static int load_config(struct cli *cli, struct mr_config *config, struct warnings *w)
{
    char err[MR_CONF_MSG_MAX] = "";
    mr_conf_server_init(config);
    if (cli->config_file != NULL) {
        const struct mr_conf_io io = {NULL, io_read_file, io_get_env};
        struct mr_conf_value *root = NULL;
        if (mr_conf_parse_file(cli->config_file, &io, &root, err, sizeof(err)) != 0) {
            fprintf(stderr, PROG ": %s\n", err);
            return -1;
        }
        int rc = mr_conf_server_load(root, config, collect_warning, w, err, sizeof(err));
        mr_conf_free(root);
        /* Files the server keeps in memory (leaf remote credentials) are read here, where
         * the config and its includes are, so a bad one fails the start (and -t). */
        if (rc == 0) {
            rc = mr_conf_server_load_files(config, &io, err, sizeof(err));
        }
        if (rc != 0) {
            for (size_t i = 0; i < w->lines->len; i++) {
                fprintf(stderr, PROG ": %s\n", (const char *)g_ptr_array_index(w->lines, i));
            }
            fprintf(stderr, PROG ": %s\n", err);
            return -1;
        }
    }
    if (cli->check_config) {
        return 0; /* nats-server checks the file alone */
    }
    if (mr_conf_server_apply_flags(config, &cli->flags, collect_warning, w, err, sizeof(err)) !=
        0) {
        fprintf(stderr, PROG ": %s\n", err);
        return -1;
    }
    /* nats-server: -js turns JetStream on (or off) over the file; -sd sets the store. */
    if (cli->js_set) {
        config->jetstream.enabled = cli->js;
        config->jetstream.present = true;
    }
    if (cli->store_dir != NULL) {
        g_free(config->jetstream.store_dir);
        config->jetstream.store_dir = g_strdup(cli->store_dir);
    }
    return 0;
}

/* -t: nats-server prints the warnings and fails on them, else says the file is valid.
 * Warnings about what Meridian ignores (notices) are printed but do not fail. */
static int check_config(const struct cli *cli, const struct warnings *w)
{
    for (size_t i = 0; i < w->lines->len; i++) {
        fprintf(stderr, PROG ": %s\n", (const char *)g_ptr_array_index(w->lines, i));
    }
    if (w->compat) {
        return 1;
    }
    fprintf(stderr, PROG ": configuration file %s is valid\n", cli->config_file);
    return 0;
}

/* ----------------------------------------------------------------------------------
 * Running
 * ---------------------------------------------------------------------------------- */

G_GNUC_PRINTF(3, 4)
static void say(struct mr_realenv *re, enum mr_log_level level, const char *fmt, ...)
{
    char line[LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    const struct mr_env *env = mr_realenv_env(re);
    env->log(env->ctx, level, "main", line);
}

G_GNUC_PRINTF(2, 3)
static void fatal(struct mr_realenv *re, const char *fmt, ...)
{
    char line[LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    mr_realenv_log_fatal(re, line);
}

static int write_pid_file(struct mr_realenv *re, const char *path)
{
    char pid[32];
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    GError *error = NULL;
    if (!g_file_set_contents_full(path, pid, -1, G_FILE_SET_CONTENTS_NONE, 0640, &error)) {
        fatal(re, "Could not write pidfile: %s", error->message);
        g_error_free(error);
        return -1;
    }
    return 0;
}

static const char *signal_name(int sig)
{
    /* Go's names, which nats-server prints in "Trapped ... signal". */
    switch (sig) {
    case SIGINT:
        return "interrupt";
    case SIGTERM:
        return "terminated";
    default:
        return "unknown";
    }
}

/* Shuts the server down and runs the loop until its connections are gone, at most
 * SHUTDOWN_WAIT_NS. Returns true when the server is done (and may be destroyed). */
static bool shutdown_server(struct mr_realenv *re, struct mr_server *s)
{
    const struct mr_env *env = mr_realenv_env(re);
    mr_server_shutdown(s);
    uint64_t end = env->now_ns(env->ctx) + SHUTDOWN_WAIT_NS;
    while (!mr_server_done(s)) {
        if (env->now_ns(env->ctx) >= end) {
            say(re, MR_LOG_WARN, "Shutdown did not finish within %llu seconds, exiting anyway",
                (unsigned long long)(SHUTDOWN_WAIT_NS / MR_NS_PER_SEC));
            return false;
        }
        if (mr_realenv_run_once(re, SHUTDOWN_TURN_NS) != 0) {
            say(re, MR_LOG_ERROR, "Event loop failed during shutdown: %s", strerror(errno));
            return false;
        }
    }
    return true;
}

/* JetStream's store: store_dir/jetstream made and set as the env's file root. Returns
 * 0 or -1 after saying why. */
static int setup_jetstream(struct mr_realenv *re, struct mr_config *config)
{
    struct mr_jetstream_opts *js = &config->jetstream;
    if (!js->enabled) {
        return 0;
    }
    if (js->store_dir == NULL || js->store_dir[0] == '\0') {
        g_free(js->store_dir);
        js->store_dir = g_build_filename(g_get_tmp_dir(), "nats", NULL);
    }
    char *dir = g_build_filename(js->store_dir, "jetstream", NULL);
    char errmsg[MR_ERRMSG_MAX] = "";
    if (g_mkdir_with_parents(dir, 0750) != 0) {
        fatal(re, "Could not create storage directory - %s: %s", dir, strerror(errno));
        g_free(dir);
        return -1;
    }
    if (mr_realenv_set_file_dir(re, dir, errmsg, sizeof(errmsg)) != 0) {
        fatal(re, "Could not use storage directory - %s: %s", dir, errmsg);
        g_free(dir);
        return -1;
    }
    say(re, MR_LOG_INFO, "Starting JetStream");
    say(re, MR_LOG_INFO, "  Store Directory: \"%s\"", dir);
    g_free(dir);
    return 0;
}

/* Creates, starts and runs the server until a signal; returns the exit code. */
static int serve(struct mr_realenv *re, struct mr_config *config, const struct warnings *w)
{
    char errmsg[MR_ERRMSG_MAX] = "";
    struct mr_server_opts *o = &config->server;
    o->auth = config->auth;
    say(re, MR_LOG_INFO, "Starting " PROG);
    say(re, MR_LOG_INFO, "  Version:  %s (nats-server compatible %s)", MR_SERVER_VERSION,
        MR_SERVER_COMPAT_VERSION);
    for (size_t i = 0; i < w->lines->len; i++) {
        say(re, MR_LOG_WARN, "%s", (const char *)g_ptr_array_index(w->lines, i));
    }
    if (setup_jetstream(re, config) != 0) {
        return 1;
    }
    o->jetstream = &config->jetstream;
    o->account_jetstream = config->account_jetstream;
    o->account_jetstream_count = config->account_jetstream_count;
    /* nats-server: port 0 means the default port; -1 means any free port. */
    if (o->port == 0) {
        o->port = 4222;
    }
    if (o->port < -1 || o->port > 65535) {
        fatal(re, "Error listening on port: %s:%d, \"invalid port\"", o->host, o->port);
        return 1;
    }

    struct mr_server *s = NULL;
    int rc = mr_server_create(o, mr_realenv_env(re), &s, errmsg, sizeof(errmsg));
    if (rc != 0) {
        fatal(re, "Could not create server: %s", errmsg[0] != '\0' ? errmsg : mr_err_text(rc));
        return 1;
    }
    const char *id = mr_server_id(s);
    say(re, MR_LOG_INFO, "  Name:     %s", o->server_name[0] != '\0' ? o->server_name : id);
    say(re, MR_LOG_INFO, "  ID:       %s", id);
    if (config->pid_file != NULL && write_pid_file(re, config->pid_file) != 0) {
        mr_server_destroy(s);
        return 1;
    }
    mr_realenv_set_sink(re, mr_server_sink(s));
    if (mr_realenv_stop_on_signals(re) != 0) {
        fatal(re, "Could not watch signals: %s", strerror(errno));
        mr_server_destroy(s);
        return 1;
    }
    rc = mr_server_start(s);
    if (rc != 0) {
        fatal(re, "Error listening on port: %s:%d, \"%s\"", o->host, o->port, mr_err_text(rc));
        mr_server_destroy(s); /* a failed start has opened nothing */
        return 1;
    }
    /* mr_server_start logged "Listening for client connections on host:port". */
    say(re, MR_LOG_INFO, "Server is ready");

    if (mr_realenv_run(re) != 0) {
        say(re, MR_LOG_ERROR, "Event loop failed: %s", strerror(errno));
    }
    say(re, MR_LOG_DEBUG, "Trapped \"%s\" signal", signal_name(mr_realenv_signal(re)));
    say(re, MR_LOG_INFO, "Initiating Shutdown...");
    if (shutdown_server(re, s)) {
        mr_server_destroy(s);
    }
    say(re, MR_LOG_INFO, "Server Exiting..");
    return 0;
}

/* Sets up the real env's logging from the config and runs the server. */
static int run(struct mr_config *config, const struct warnings *w)
{
    char errmsg[MR_ERRMSG_MAX] = "";
    struct mr_realenv *re = NULL;
    if (mr_realenv_create(&re, errmsg, sizeof(errmsg)) != 0) {
        fprintf(stderr, PROG ": %s\n", errmsg);
        return 1;
    }
    mr_realenv_set_log_levels(re, config->server.debug, config->server.trace);
    mr_realenv_set_log_time(re, config->logtime);
    if (config->log_file != NULL &&
        mr_realenv_set_log_file(re, config->log_file, errmsg, sizeof(errmsg)) != 0) {
        fprintf(stderr, PROG ": %s\n", errmsg);
        mr_realenv_destroy(re);
        return 1;
    }
    int code = serve(re, config, w);
    mr_realenv_destroy(re);
    return code;
}

int main(int argc, char **argv)
{
    struct cli cli;
    memset(&cli, 0, sizeof(cli));
    if (parse_args(&cli, argc, argv) != 0) {
        return 1;
    }
    if (cli.help) {
        usage(stdout);
        return 0;
    }
    if (cli.version) {
        printf(PROG " v%s (nats-server compatible %s)\n", MR_SERVER_VERSION,
               MR_SERVER_COMPAT_VERSION);
        return 0;
    }
    if (cli.check_config && cli.config_file == NULL) {
        fprintf(stderr, PROG ": must specify [-c, --config] option to check configuration file "
                             "syntax\n");
        return 1;
    }
    struct warnings w = {g_ptr_array_new_with_free_func(g_free), false};
    struct mr_config config;
    int code = 1;
    if (load_config(&cli, &config, &w) == 0) {
        code = cli.check_config ? check_config(&cli, &w) : run(&config, &w);
    }
    mr_conf_server_deinit(&config);
    g_ptr_array_free(w.lines, TRUE);
    return code;
}
