/* curl_dl.c - see curl_dl.h. */
#include "transport/curl_dl.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct curl_dl curl_dl;

/* The table's slots, in order, with the symbols that fill them. */
static const char *const symbols[] = {
    "curl_global_init",    "curl_multi_init",     "curl_multi_setopt",
    "curl_multi_add_handle", "curl_multi_remove_handle", "curl_multi_assign",
    "curl_multi_socket_action", "curl_multi_info_read", "curl_multi_cleanup",
    "curl_easy_init",      "curl_easy_setopt",    "curl_easy_getinfo",
    "curl_easy_strerror",  "curl_easy_cleanup",   "curl_slist_append",
    "curl_slist_free_all",
};

_Static_assert(sizeof(struct curl_dl) == sizeof(symbols) / sizeof(symbols[0]) * sizeof(void (*)(void)),
               "curl_dl and its symbol list must match");

int curl_dl_load(char *err, size_t errlen)
{
    static bool loaded;
    static char failed[256];
    if (loaded)
        return 0;
    if (failed[0] != '\0') {
        snprintf(err, errlen, "%s", failed);
        return -1;
    }
    /* The handle is kept for the life of the process (never dlclose'd). */
    void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        const char *why = dlerror();
        snprintf(failed, sizeof(failed),
                 "cannot load libcurl (libcurl.so.4), needed for HTTP requests: %s; install the "
                 "Debian package libcurl4",
                 why != NULL ? why : "unknown error");
        snprintf(err, errlen, "%s", failed);
        return -1;
    }
    struct curl_dl t;
    void (**slot)(void) = (void (**)(void))(void *)&t;
    for (size_t i = 0; i < sizeof(symbols) / sizeof(symbols[0]); i++) {
        void *p = dlsym(h, symbols[i]);
        if (p == NULL) {
            snprintf(failed, sizeof(failed), "the installed libcurl lacks %s (too old?)",
                     symbols[i]);
            snprintf(err, errlen, "%s", failed);
            return -1;
        }
        memcpy(&slot[i], &p, sizeof(p));
    }
    if (t.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(failed, sizeof(failed), "libcurl failed to initialise");
        snprintf(err, errlen, "%s", failed);
        return -1;
    }
    curl_dl = t;
    loaded = true;
    return 0;
}
