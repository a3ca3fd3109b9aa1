/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Error codes shared by every module. Functions return 0 for success, a negative
 * enum mr_err for failure, or a non-negative count where a count is the answer.
 * Names and messages come from the one X-macro table below so they never drift.
 */
#ifndef MR_ERR_H
#define MR_ERR_H

#define MR_ERR_TABLE(X)                                                                    \
    X(MR_OK, 0, "ok")                                                                      \
    X(MR_AGAIN, -1, "need more input")                                                     \
    X(MR_E_NOMEM, -2, "memory budget exhausted")                                           \
    X(MR_E_INVAL, -3, "invalid argument")                                                  \
    X(MR_E_NOT_FOUND, -4, "not found")                                                     \
    X(MR_E_EXISTS, -5, "already exists")                                                   \
    X(MR_E_LIMIT, -6, "limit reached")                                                     \
    X(MR_E_IO, -7, "input/output error")                                                   \
    X(MR_E_CLOSED, -8, "connection closed")                                                \
    X(MR_E_ADDR_IN_USE, -9, "address already in use")                                     \
    X(MR_E_ADDR, -10, "cannot resolve or use address")                                     \
    X(MR_E_REFUSED, -11, "connection refused")                                             \
    X(MR_E_TIMEOUT, -12, "timed out")                                                      \
    X(MR_E_UNSUPPORTED, -13, "not supported")                                              \
    X(MR_E_PROTO_UNKNOWN_OP, -20, "unknown protocol operation")                            \
    X(MR_E_PROTO_CONTROL_LINE, -21, "maximum control line exceeded")                       \
    X(MR_E_PROTO_MAX_PAYLOAD, -22, "maximum payload violation")                            \
    X(MR_E_PROTO_ARGS, -23, "bad protocol arguments")                                      \
    X(MR_E_PROTO_TRAILER, -24, "payload not followed by CRLF")                             \
    X(MR_E_SUBJECT, -25, "invalid subject")

enum mr_err {
#define MR_ERR_ENUM(name, value, text) name = (value),
    MR_ERR_TABLE(MR_ERR_ENUM)
#undef MR_ERR_ENUM
};

/* Returns the enumerator's name ("MR_E_NOMEM"); never NULL. */
const char *mr_err_name(int err);
/* Returns a short human message ("memory budget exhausted"); never NULL. */
const char *mr_err_text(int err);

#endif
