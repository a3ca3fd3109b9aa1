/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mr_assert is on in every build and ignores NDEBUG: running on in a wrong state is
 * worse than stopping. Never assert on bytes from the network, disk or config.
 */
#ifndef MR_ASSERT_H
#define MR_ASSERT_H

#include <stdint.h>

/* Prints the expression, file, line and the context set by mr_panic_context, then
 * aborts. */
_Noreturn void mr_panic(const char *file, int line, const char *expr);

/* The simulator records which node and seed are running so a failed assertion says
 * how to replay it. The real server leaves both at zero. */
void mr_panic_context(uint64_t node_id, uint64_t seed);

#define mr_assert(c) ((c) ? (void)0 : mr_panic(__FILE__, __LINE__, #c))

#endif
