/* SPDX-License-Identifier: Apache-2.0 */
/* errno to mr_err, for every part of the real env (see oserr.h). Pure; any thread. */
#include "core/realenv/oserr.h"

#include <errno.h>

#include "core/err.h"

int mr_oserr_from_errno(int e)
{
    switch (e) {
    case ENOENT:
        return MR_E_NOT_FOUND;
    case EEXIST:
    case ENOTEMPTY:
        return MR_E_EXISTS;
    case ENOMEM:
    case ENOBUFS:
        return MR_E_NOMEM;
    case EMFILE:
    case ENFILE:
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
        return MR_E_LIMIT;
    case EINVAL:
    case EBADF:
    case ENAMETOOLONG:
        return MR_E_INVAL;
    case EADDRINUSE:
        return MR_E_ADDR_IN_USE;
    case EADDRNOTAVAIL:
    case EAFNOSUPPORT:
    case ENETUNREACH:
    case EHOSTUNREACH:
        return MR_E_ADDR;
    case ECONNREFUSED:
        return MR_E_REFUSED;
    case ETIMEDOUT:
        return MR_E_TIMEOUT;
    case ECONNRESET:
    case EPIPE:
    case ENOTCONN:
        return MR_E_CLOSED;
    default:
        return MR_E_IO;
    }
}
