/* SPDX-License-Identifier: Apache-2.0 */
/* Names and messages for enum mr_err, generated from the table in err.h. */
#include "core/err.h"

const char *mr_err_name(int err)
{
    switch (err) {
#define MR_ERR_NAME(name, value, text)                                                     \
    case (value):                                                                          \
        return #name;
        MR_ERR_TABLE(MR_ERR_NAME)
#undef MR_ERR_NAME
    default:
        return "MR_E_UNKNOWN";
    }
}

const char *mr_err_text(int err)
{
    switch (err) {
#define MR_ERR_TEXT(name, value, text)                                                     \
    case (value):                                                                          \
        return text;
        MR_ERR_TABLE(MR_ERR_TEXT)
#undef MR_ERR_TEXT
    default:
        return "unknown error";
    }
}
