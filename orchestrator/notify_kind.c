/* Notification kinds' names and a webhook URL's check (notify_kind.h). */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "orchestrator/notify_kind.h"
#include "common/banned.h"

static const char *const s_kind_names[LAB_NOTIFY_N_KINDS] = {
    [LAB_NOTIFY_BRAKE] = "brake",
    [LAB_NOTIFY_PAUSE] = "pause",
    [LAB_NOTIFY_ESTOP] = "estop",
    [LAB_NOTIFY_DEVICE_LOST] = "device.lost",
    [LAB_NOTIFY_END] = "end",
};

const char *lab_notify_kind_name(int kind)
{
    return kind >= 0 && kind < LAB_NOTIFY_N_KINDS ? s_kind_names[kind] : NULL;
}

int lab_notify_kind_parse(const char *name)
{
    for (int k = 0; name && k < LAB_NOTIFY_N_KINDS; k++)
        if (!strcmp(s_kind_names[k], name))
            return k;
    return -1;
}

int lab_notify_url_check(const char *url, char *why, size_t n)
{
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f) {
            snprintf(why, n, "must not contain spaces or control characters");
            return LAB_EINVAL;
        }
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        snprintf(why, n, "must start with http:// or https://");
        return LAB_EINVAL;
    }
    CURLU *u = curl_url();
    if (!u) {
        snprintf(why, n, "out of memory");
        return LAB_EINVAL;
    }
    char *host = NULL;
    CURLUcode rc = curl_url_set(u, CURLUPART_URL, url, 0);
    if (rc == CURLUE_OK)
        rc = curl_url_get(u, CURLUPART_HOST, &host, 0);
    int ok = rc == CURLUE_OK && host && *host;
    if (!ok)
        snprintf(why, n, "is not a usable URL (%s)", rc != CURLUE_OK ? curl_url_strerror(rc) : "no host");
    curl_free(host);
    curl_url_cleanup(u);
    return ok ? 0 : LAB_EINVAL;
}
