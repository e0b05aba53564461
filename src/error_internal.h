/* error_internal.h: the error-passing macros every libinfotok source uses.
 * A function keeps `int rc = 0;`, fails through IT_FAIL/IT_TRY, and frees everything
 * after one `done:` label. Not part of the public interface. */
#ifndef IT_ERROR_INTERNAL_H
#define IT_ERROR_INTERNAL_H

#include "infotok/core.h"

/* Set the thread's message and jump to cleanup with rc = code. */
#define IT_FAIL(code, ...) do { rc = it_error_set((code), __VA_ARGS__); goto done; } while (0)
/* Propagate an error (its message is already set) to cleanup. */
#define IT_TRY(expr) do { rc = (expr); if (rc < 0) goto done; } while (0)
/* Out of memory, naming what was being allocated. */
#define IT_CHECK_ALLOC(p, what) do { if (!(p)) IT_FAIL(IT_E_NOMEM, "out of memory allocating %s", (what)); } while (0)

#endif
