/* log.c: messages on stderr as "<prefix>: message", filtered by level. */
#include <stdarg.h>
#include <stdio.h>

#include <libavutil/log.h>

#include "infotok/core.h"

static const char *log_prefix = "infotok";
static int log_level = IT_LOG_WARN;

void it_log_set_prefix(const char *prefix) { log_prefix = prefix ? prefix : "infotok"; }
void it_log_set_level(int level)
{
    log_level = level;
    /* FFmpeg's own messages (damaged packets, guessed timestamps) only at debug level:
     * the library reports failures itself, naming the input. */
    av_log_set_level(level >= IT_LOG_DEBUG ? AV_LOG_WARNING : AV_LOG_QUIET);
}
int it_log_level(void) { return log_level; }

void it_log(int level, const char *fmt, ...)
{
    if (level > log_level)
        return;
    /* One fprintf per message so lines from several threads do not interleave. */
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: %s%s\n", log_prefix, level == IT_LOG_WARN ? "warning: " : "", line);
}
