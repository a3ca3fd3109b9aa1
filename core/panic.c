/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one place in core/ that writes to stderr and keeps a mutable static: a failed
 * assertion must say where it failed and how to replay it even when the env that
 * would normally log is the thing in a bad state. tests/tidy.sh allows this file.
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/assert.h"

static uint64_t panic_node_id;
static uint64_t panic_seed;

void mr_panic_context(uint64_t node_id, uint64_t seed)
{
    panic_node_id = node_id;
    panic_seed = seed;
}

_Noreturn void mr_panic(const char *file, int line, const char *expr)
{
    fprintf(stderr, "meridian: assertion failed: %s at %s:%d (node %llu, seed %llu)\n", expr,
            file, line, (unsigned long long)panic_node_id, (unsigned long long)panic_seed);
    fflush(stderr);
    abort();
}
