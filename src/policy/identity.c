#include "policy/identity.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/timeutil.h"

struct identity *identity_new(enum identity_method m, const char *principal, const char *display)
{
    struct identity *id = calloc(1, sizeof(*id));
    if (id == NULL)
        return NULL;
    id->refs = 1;
    id->method = m;
    id->principal = strdup(principal);
    id->display = strdup(display != NULL ? display : principal);
    if (id->principal == NULL || id->display == NULL) {
        identity_unref(id);
        return NULL;
    }
    return id;
}

static int set_add(char ***v, size_t *n, const char *s, size_t len)
{
    if (len == 0 || len > IDENTITY_MAX_NAME || memchr(s, '\0', len) != NULL)
        return -1;
    for (size_t i = 0; i < *n; i++)
        if (strlen((*v)[i]) == len && memcmp((*v)[i], s, len) == 0)
            return 0;
    if (*n >= IDENTITY_MAX_ITEMS)
        return -1;
    char **nv = realloc(*v, (*n + 1) * sizeof(*nv));
    if (nv == NULL)
        return -1;
    *v = nv;
    if ((nv[*n] = strndup(s, len)) == NULL)
        return -1;
    (*n)++;
    return 0;
}

int identity_add_role(struct identity *id, const char *s, size_t len)
{
    return set_add(&id->roles, &id->nroles, s, len);
}

int identity_add_scope(struct identity *id, const char *s, size_t len)
{
    return set_add(&id->scopes, &id->nscopes, s, len);
}

int identity_set_str(char **field, const char *s)
{
    char *c = NULL;
    if (s != NULL && (c = strdup(s)) == NULL)
        return -1;
    free(*field);
    *field = c;
    return 0;
}

struct identity *identity_ref(struct identity *id)
{
    if (id != NULL)
        id->refs++;
    return id;
}

void identity_unref(struct identity *id)
{
    if (id == NULL || --id->refs > 0)
        return;
    for (size_t i = 0; i < id->nroles; i++)
        free(id->roles[i]);
    for (size_t i = 0; i < id->nscopes; i++)
        free(id->scopes[i]);
    free(id->roles);
    free(id->scopes);
    free(id->principal);
    free(id->display);
    free(id->issuer);
    free(id->subject);
    free(id->client_id);
    free(id);
}

void identity_free_cb(void *id)
{
    identity_unref(id);
}

static bool set_has(char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

bool identity_has_role(const struct identity *id, const char *role)
{
    return id != NULL && set_has(id->roles, id->nroles, role);
}

bool identity_has_scope(const struct identity *id, const char *scope)
{
    return id != NULL && set_has(id->scopes, id->nscopes, scope);
}

bool identity_expired(const struct identity *id, uint64_t now_us)
{
    return id->expires_us != 0 && now_us >= id->expires_us;
}

const char *identity_method_name(enum identity_method m)
{
    switch (m) {
    case IDENTITY_ANONYMOUS:
        return "anonymous";
    case IDENTITY_APIKEY:
        return "apikey";
    case IDENTITY_JWT:
        return "jwt";
    case IDENTITY_LOCAL:
        return "local";
    }
    return "unknown";
}

struct identity *identity_local_user(void)
{
    uid_t uid = geteuid();
    char login[IDENTITY_MAX_NAME];
    struct passwd pw, *res = NULL;
    char pwbuf[4096];
    if (getpwuid_r(uid, &pw, pwbuf, sizeof(pwbuf), &res) == 0 && res != NULL &&
        res->pw_name != NULL && res->pw_name[0] != '\0' && strlen(res->pw_name) < sizeof(login))
        snprintf(login, sizeof(login), "%s", res->pw_name);
    else
        snprintf(login, sizeof(login), "uid%u", (unsigned)uid);
    char principal[IDENTITY_MAX_NAME + 8];
    snprintf(principal, sizeof(principal), "local:%s", login);
    struct identity *id = identity_new(IDENTITY_LOCAL, principal, login);
    if (id != NULL && identity_set_str(&id->subject, login) < 0) {
        identity_unref(id);
        return NULL;
    }
    return id;
}

struct identity *identity_anonymous(const char *const *roles, size_t nroles)
{
    struct identity *id = identity_new(IDENTITY_ANONYMOUS, "anonymous", NULL);
    for (size_t i = 0; id != NULL && i < nroles; i++) {
        if (identity_add_role(id, roles[i], strlen(roles[i])) < 0) {
            identity_unref(id);
            return NULL;
        }
    }
    return id;
}

static json_t *str_array(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

json_t *identity_to_json(const struct identity *id)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    json_object_set_new(o, "principal", json_string(id->principal));
    json_object_set_new(o, "method", json_string(identity_method_name(id->method)));
    json_object_set_new(o, "display", json_string(id->display));
    json_object_set_new(o, "roles", str_array(id->roles, id->nroles));
    if (id->nscopes > 0)
        json_object_set_new(o, "scopes", str_array(id->scopes, id->nscopes));
    if (id->client_id != NULL)
        json_object_set_new(o, "client_id", json_string(id->client_id));
    if (id->expires_us != 0) {
        char ts[32];
        rfc3339_us(id->expires_us, ts);
        json_object_set_new(o, "expires", json_string(ts));
    }
    return o;
}
