/* error.c: error codes, their descriptions and the per-thread failure message. */
#include <stdarg.h>
#include <stdio.h>

#include "infotok/core.h"

static _Thread_local char last_message[1024];

const char *it_strerror(int code)
{
    switch (code) {
    case IT_OK: return "success";
    case IT_E_NOMEM: return "out of memory";
    case IT_E_IO: return "input/output error";
    case IT_E_FORMAT: return "malformed input";
    case IT_E_UNSUPPORTED: return "unsupported input";
    case IT_E_INVALID: return "invalid argument";
    case IT_E_NOTFOUND: return "not found";
    case IT_E_DECODE: return "decoding failed";
    case IT_E_TRUNCATED: return "truncated input";
    case IT_E_CHECKSUM: return "checksum mismatch";
    case IT_E_SHAPE: return "wrong tensor shape or type";
    case IT_E_INTERNAL: return "internal error";
    default: return "unknown error";
    }
}

const char *it_error_message(void)
{
    return last_message;
}

int it_error_set(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    return code;
}

void it_error_clear(void)
{
    last_message[0] = '\0';
}
