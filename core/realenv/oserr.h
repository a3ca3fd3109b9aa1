/* SPDX-License-Identifier: Apache-2.0 */
/*
 * errno never enters the core: the real env's modules (sockets in realenv.c, files in
 * fileio.c) turn it into an mr_err here, at the boundary, with one table for both.
 */
#ifndef MR_OSERR_H
#define MR_OSERR_H

/* The mr_err (negative) for an errno value; unknown values are MR_E_IO. */
int mr_oserr_from_errno(int e);

#endif
