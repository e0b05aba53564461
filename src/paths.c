/* paths.c: where the bundled model lives. */
#include <stdlib.h>
#include <unistd.h>

#include "infotok.h"

#define IT_MODEL_FILE "infotok-small.safetensors"

const char *it_default_model_path(void)
{
    /* $INFOTOK_MODEL, then the source tree this build came from (running from the build
     * tree), then the installed copy. */
    const char *env = getenv("INFOTOK_MODEL");
    if (env && *env)
        return env;
    static const char *const candidates[] = {IT_SRC_MODELDIR "/" IT_MODEL_FILE,
                                             IT_PKGDATADIR "/" IT_MODEL_FILE};
    for (size_t i = 0; i < sizeof candidates / sizeof *candidates; i++)
        if (access(candidates[i], R_OK) == 0)
            return candidates[i];
    return candidates[1];
}
