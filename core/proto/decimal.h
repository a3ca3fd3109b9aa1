/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Decimal formatting of unsigned integers for protocol lines (sizes in MSG, RMSG, LMSG
 * lines). snprintf's format parsing showed up in profiles of every routed message.
 */
#ifndef MR_DECIMAL_H
#define MR_DECIMAL_H

#include <stddef.h>
#include <stdint.h>

/* Writes v in decimal at out (at most 20 bytes, no terminator); returns the length. */
static inline size_t mr_u64_to_dec(char *out, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++) {
        out[i] = tmp[n - 1 - i];
    }
    return n;
}

#endif
