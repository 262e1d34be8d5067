/* curl_dl.h - libcurl, loaded when the first HTTP client is created.
 *
 * libcurl and what it links (TLS, HTTP/2, Kerberos, LDAP, SSH, ...) add about
 * 6 MiB of resident memory to any process that links them, while most runs of
 * mcpwall (wrap, check, audit, sandbox-exec) never make an HTTP request. So
 * http_client.c calls libcurl through this table, which curl_dl_load() fills
 * from the installed libcurl.so.4 on first use. Include it instead of
 * <curl/curl.h>; the curl_* names below are then calls through the table.
 * Single-threaded use (the event loop thread), like the rest of the client.
 */
#ifndef MCPWALL_TRANSPORT_CURL_DL_H
#define MCPWALL_TRANSPORT_CURL_DL_H

#include <stddef.h>

#define CURL_DISABLE_TYPECHECK 1 /* the typecheck macros call the functions by name */
#include <curl/curl.h>

struct curl_dl {
    CURLcode (*global_init)(long flags);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_setopt)(CURLM *m, CURLMoption opt, ...);
    CURLMcode (*multi_add_handle)(CURLM *m, CURL *e);
    CURLMcode (*multi_remove_handle)(CURLM *m, CURL *e);
    CURLMcode (*multi_assign)(CURLM *m, curl_socket_t s, void *p);
    CURLMcode (*multi_socket_action)(CURLM *m, curl_socket_t s, int ev, int *running);
    CURLMsg *(*multi_info_read)(CURLM *m, int *left);
    CURLMcode (*multi_cleanup)(CURLM *m);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *e, CURLoption opt, ...);
    CURLcode (*easy_getinfo)(CURL *e, CURLINFO info, ...);
    const char *(*easy_strerror)(CURLcode rc);
    void (*easy_cleanup)(CURL *e);
    struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
    void (*slist_free_all)(struct curl_slist *l);
};

extern struct curl_dl curl_dl;

/* Loads libcurl and calls curl_global_init once. 0, or -1 with a sentence in
 * err (libcurl missing, a symbol missing, or its initialisation failed). */
int curl_dl_load(char *err, size_t errlen);

/* curl.h may define some of these names as macros of its own. */
#undef curl_multi_setopt
#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_global_init (*curl_dl.global_init)
#define curl_multi_init (*curl_dl.multi_init)
#define curl_multi_setopt (*curl_dl.multi_setopt)
#define curl_multi_add_handle (*curl_dl.multi_add_handle)
#define curl_multi_remove_handle (*curl_dl.multi_remove_handle)
#define curl_multi_assign (*curl_dl.multi_assign)
#define curl_multi_socket_action (*curl_dl.multi_socket_action)
#define curl_multi_info_read (*curl_dl.multi_info_read)
#define curl_multi_cleanup (*curl_dl.multi_cleanup)
#define curl_easy_init (*curl_dl.easy_init)
#define curl_easy_setopt (*curl_dl.easy_setopt)
#define curl_easy_getinfo (*curl_dl.easy_getinfo)
#define curl_easy_strerror (*curl_dl.easy_strerror)
#define curl_easy_cleanup (*curl_dl.easy_cleanup)
#define curl_slist_append (*curl_dl.slist_append)
#define curl_slist_free_all (*curl_dl.slist_free_all)

#endif
