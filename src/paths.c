/* paths.c: where the bundled model and the CUDA backend module live. An installed library looks only where it was
 * installed; the source tree is a candidate only for a library (or a statically linked test)
 * that is running from the build tree it was built in. */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "infotok/core.h"

#define IT_MODEL_FILE "infotok-small.safetensors"

/* Is the code of this function in a file under the build directory? */
static int running_from_build_tree(void)
{
    Dl_info info;
    char *real = NULL, *build = realpath(IT_BUILDDIR, NULL);
    int yes = 0;
    if (build && dladdr((void *)running_from_build_tree, &info) && info.dli_fname &&
        (real = realpath(info.dli_fname, NULL))) {
        const size_t n = strlen(build);
        yes = strncmp(real, build, n) == 0 && real[n] == '/';
    }
    free(real);
    free(build);
    return yes;
}

const char *it_default_model_path(void)
{
    const char *env = getenv("INFOTOK_MODEL");
    if (env && *env)
        return env;
    static const char installed[] = IT_PKGDATADIR "/" IT_MODEL_FILE;
    static const char source[] = IT_SRC_MODELDIR "/" IT_MODEL_FILE;
    if (running_from_build_tree() && access(source, R_OK) == 0)
        return source;
    return installed;
}

/* The CUDA backend module (kernels/cuda/, loaded by it_backend_find("cuda")): the same rule,
 * the build tree's copy for a library running from its build tree. */
const char *it_cuda_module_path(void)
{
    const char *env = getenv("INFOTOK_CUDA_MODULE");
    if (env && *env)
        return env;
    static const char installed[] = IT_PKGLIBDIR "/infotok-cuda.so";
    static const char build[] = IT_BUILDDIR "/kernels/cuda/infotok-cuda.so";
    if (running_from_build_tree() && access(build, R_OK) == 0)
        return build;
    return installed;
}
