/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the scenario loader (sim/sim_scenario.h): bytes -> conf parse ->
 * scenario load -> materialised schedule.
 *
 * The input is loaded as the scenario "fuzz.conf" with an io that serves a few fixed
 * in-memory server configs (a valid one, one with an unknown key, one with blocks of
 * features not landed yet, one that includes itself) so `include` inside server
 * blocks is reachable. It checks the contract: a load returns 0 with a scenario, or a
 * negative mr_err with none and an error that starts with "file:line:col: " or names
 * the file; a loaded scenario's references resolve and its timeline is sorted; the
 * schedule for two seeds is sorted and formats without overflow; loading the same
 * input twice gives the same result. ASan and LeakSanitizer catch the rest.
 *
 * Canary: with MR_FUZZ_CANARY=1 in the environment, an input starting with "CANARY"
 * aborts, to prove the harness reports a crash (tests/fuzz/README.md).
 *
 * Ownership: the target borrows data; every copy, scenario and schedule is freed
 * before it returns.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/err.h"
#include "sim/sim_scenario.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct {
    const char *path;
    const char *text;
} fuzz_files[] = {
    {"srv.conf", "port: 4222\nmax_payload: 1MB\n"},
    {"bad.conf", "port: 4222\nbogus_key: 1\n"},
    {"cluster.conf", "port: 4222\ncluster { name: c, listen: \"0.0.0.0:6222\" }\n"
                     "gateway { name: c, port: 7222 }\njetstream { store_dir: /d }\n"},
    {"self.conf", "include \"self.conf\"\n"},
};

static int fuzz_read(void *ctx, const char *path, char **out, size_t *len, char *err,
                     size_t err_len)
{
    (void)ctx; /* the table above is the whole file system */
    const char *p = path;
    while (strncmp(p, "./", 2) == 0) {
        p += 2;
    }
    for (size_t i = 0; i < sizeof(fuzz_files) / sizeof(fuzz_files[0]); i++) {
        if (strcmp(fuzz_files[i].path, p) == 0) {
            *len = strlen(fuzz_files[i].text);
            *out = malloc(*len + 1);
            mr_assert(*out != NULL);
            memcpy(*out, fuzz_files[i].text, *len + 1);
            return 0;
        }
    }
    snprintf(err, err_len, "open %s: no such file", path);
    return MR_E_NOT_FOUND;
}

static const struct mr_conf_io fuzz_io = {NULL, fuzz_read, NULL};

static void check_scenario(const struct sim_scenario *sc)
{
    mr_assert(sc->servers_count > 0);
    mr_assert(sc->duration_ns > 0);
    for (size_t i = 0; i < sc->servers_count; i++) {
        mr_assert(sc->servers[i].region_index < sc->regions_count);
    }
    for (size_t i = 0; i < sc->clients_count; i++) {
        for (size_t j = 0; j < sc->clients[i].at.count; j++) {
            mr_assert(sim_scenario_server_index(sc, sc->clients[i].at.items[j]) >= 0);
        }
    }
    for (size_t i = 1; i < sc->events_count; i++) {
        mr_assert(sc->events[i - 1].at_ns <= sc->events[i].at_ns);
    }
    for (uint64_t seed = 0; seed < 2; seed++) {
        struct sim_sc_schedule s;
        mr_assert(sim_scenario_materialise(sc, seed, &s) == 0);
        for (size_t i = 0; i < s.count; i++) {
            char line[256];
            int n = sim_sc_event_format(&s.events[i], line, sizeof(line));
            mr_assert(n > 0);
            mr_assert(strlen(line) < sizeof(line));
            if (i > 0) {
                mr_assert(s.events[i - 1].at_ns <= s.events[i].at_ns);
            }
        }
        sim_sc_schedule_free(&s);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *canary = getenv("MR_FUZZ_CANARY");
    if (canary != NULL && strcmp(canary, "1") == 0 && size >= 6 &&
        memcmp(data, "CANARY", 6) == 0) {
        abort();
    }
    char *text = malloc(size + 1);
    mr_assert(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    int first_rc = 0;
    for (int round = 0; round < 2; round++) {
        struct sim_scenario *sc = NULL;
        char err[SIM_SC_ERR_MAX] = "";
        int rc = sim_scenario_load_text("fuzz.conf", text, size, &fuzz_io, &sc, err,
                                        sizeof(err));
        if (round == 0) {
            first_rc = rc;
        }
        mr_assert(rc == first_rc);
        if (rc == 0) {
            mr_assert(sc != NULL);
            check_scenario(sc);
            sim_scenario_destroy(sc);
        } else {
            mr_assert(rc < 0);
            mr_assert(sc == NULL);
            mr_assert(err[0] != '\0');
            mr_assert(strstr(err, ".conf") != NULL);
        }
    }
    free(text);
    return 0;
}
