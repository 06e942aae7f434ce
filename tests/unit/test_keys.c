/* Unit tests for common/keys.c and the config's security section: key
 * files made and read back (modes, no overwrite, --force, the secret key
 * matching the public one, readable secret keys refused, malformed files),
 * which endpoints count as local, and the campaign config's checks (plain
 * mode off loopback, a device without a key, shared keys, roles). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/keys.h"
#include "orchestrator/config.h"
#include "common/banned.h"

static char s_dir[64];

static int s_setup(void **state)
{
    (void)state;
    snprintf(s_dir, sizeof s_dir, "/tmp/labloop-keys-XXXXXX");
    return mkdtemp(s_dir) ? 0 : -1;
}

static int s_teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static mode_t s_mode(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 07777;
}

static void test_generate_read(void **state)
{
    (void)state;
    char pub[LAB_KEY_Z85], pub2[LAB_KEY_Z85], sec[LAB_KEY_Z85], derived[LAB_KEY_Z85], path[256];
    lab_err e = {0};
    assert_int_equal(lab_keys_generate(s_dir, "furnace-1", 0, pub, &e), 0);
    snprintf(path, sizeof path, "%s/furnace-1.key", s_dir);
    assert_int_equal(s_mode(path), 0600);
    assert_int_equal(lab_keys_read_secret(path, sec, derived, &e), 0);
    assert_string_equal(derived, pub);
    assert_int_equal(lab_keys_read_public(path, pub2, &e), 0);     /* a .key has its public line */
    assert_string_equal(pub2, pub);
    snprintf(path, sizeof path, "%s/furnace-1.pub", s_dir);
    assert_int_equal(s_mode(path), 0644);
    assert_int_equal(lab_keys_read_public(path, pub2, &e), 0);
    assert_string_equal(pub2, pub);
    assert_true(lab_keys_read_secret(path, sec, NULL, &e) < 0);    /* no secret in a .pub */

    /* never overwritten without force; force makes a new pair */
    assert_int_equal(lab_keys_generate(s_dir, "furnace-1", 0, pub2, &e), LAB_ESTATE);
    assert_non_null(strstr(e.msg, "--force"));
    assert_int_equal(lab_keys_read_public(path, pub2, &e), 0);
    assert_string_equal(pub2, pub);
    assert_int_equal(lab_keys_generate(s_dir, "furnace-1", 1, pub2, &e), 0);
    assert_string_not_equal(pub2, pub);
    snprintf(path, sizeof path, "%s/furnace-1.key", s_dir);
    assert_int_equal(s_mode(path), 0600);

    /* names that are not file names */
    assert_int_equal(lab_keys_generate(s_dir, "../x", 0, pub, &e), LAB_EINVAL);
    assert_int_equal(lab_keys_generate(s_dir, "", 0, pub, &e), LAB_EINVAL);
}

static void test_refusals(void **state)
{
    (void)state;
    char pub[LAB_KEY_Z85], sec[LAB_KEY_Z85], path[256];
    lab_err e = {0};
    assert_int_equal(lab_keys_generate(s_dir, "op", 0, pub, &e), 0);
    snprintf(path, sizeof path, "%s/op.key", s_dir);
    for (mode_t m = 0640; m; m = m == 0640 ? 0604 : 0) {
        assert_int_equal(chmod(path, m), 0);
        memset(sec, 0, sizeof sec);
        assert_int_equal(lab_keys_read_secret(path, sec, NULL, &e), LAB_ECONFIG);
        assert_non_null(strstr(e.msg, "chmod 600"));
        assert_non_null(strstr(e.msg, path));
        assert_int_equal(sec[0], 0);          /* nothing read */
    }
    /* malformed and missing files */
    snprintf(path, sizeof path, "%s/bad.pub", s_dir);
    FILE *f = fopen(path, "w");
    fputs("curve\n    public-key = \"not a key\"\n", f);
    fclose(f);
    assert_int_equal(lab_keys_read_public(path, pub, &e), LAB_ECONFIG);
    assert_non_null(strstr(e.msg, "labloop keygen"));
    snprintf(path, sizeof path, "%s/none.pub", s_dir);
    assert_true(lab_keys_read_public(path, pub, &e) < 0);
    assert_non_null(strstr(e.msg, "none.pub"));
    char out[64];
    lab_keys_public_path("keys/lab.key", out, sizeof out);
    assert_string_equal(out, "keys/lab.pub");
}

static void test_local_endpoints(void **state)
{
    (void)state;
    static const char *const local[] = {"tcp://127.0.0.1:5560", "tcp://127.9.8.7:1", "tcp://localhost:5560",
                                        "tcp://[::1]:5560", "ipc:///tmp/lab.sock", "inproc://x",
                                        "tcp://10.0.0.5:1;127.0.0.1:5560"};
    static const char *const remote[] = {"tcp://10.0.0.5:5560", "tcp://*:5560", "tcp://0.0.0.0:5560",
                                         "tcp://128.0.0.1:5560", "tcp://127.0.0.1.evil.example:5560",
                                         "tcp://lab.example:5560", "udp://127.0.0.1:1", "tcp://eth0:5560",
                                         "tcp://127.0.0.256:1"};
    for (size_t i = 0; i < sizeof local / sizeof *local; i++)
        assert_true(lab_keys_endpoint_is_local(local[i]));
    for (size_t i = 0; i < sizeof remote / sizeof *remote; i++)
        if (lab_keys_endpoint_is_local(remote[i]))
            fail_msg("%s counted as local", remote[i]);
}

/* A campaign config in s_dir with the given devices/security text. */
static lab_campaign_cfg *s_load(const char *endpoint, const char *device_extra, const char *security, char *errs,
                                size_t n)
{
    char path[256], text[2048];
    snprintf(path, sizeof path, "%s/c.yaml", s_dir);
    snprintf(text, sizeof text,
             "campaign: {name: t, budget: {experiments: 1}}\n"
             "space: [{name: x, type: real, low: 0, high: 1}]\n"
             "objectives: [{name: a, goal: maximize, from: s.v}]\n"
             "workflow: [{step: s, capability: c}]\n"
             "devices:\n  - {name: d1, capabilities: [c]%s}\n  - {name: d2, capabilities: [c]%s}\n"
             "endpoints: {devices: \"%s\", control: \"tcp://127.0.0.1:5561\"}\n%s",
             device_extra, device_extra[0] ? ", key: d2.pub" : "", endpoint, security);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    FILE *ef = fmemopen(errs, n, "w");
    lab_err e = {0};
    lab_campaign_cfg *cfg = lab_config_load(path, ef, &e);
    fclose(ef);
    return cfg;
}

static void test_config_security(void **state)
{
    (void)state;
    char pub[LAB_KEY_Z85], errs[4096];
    lab_err e = {0};
    const char *names[] = {"lab", "d1", "d2", "alice"};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(lab_keys_generate(s_dir, names[i], 0, pub, &e), 0);

    /* plain mode: loopback fine, another host an error at its line */
    lab_campaign_cfg *cfg = s_load("tcp://127.0.0.1:5560", "", "", errs, sizeof errs);
    assert_non_null(cfg);
    assert_null(cfg->secret_key_path);
    lab_config_destroy(&cfg);
    cfg = s_load("tcp://10.0.0.5:5560", "", "", errs, sizeof errs);
    assert_null(cfg);
    assert_non_null(strstr(errs, "c.yaml:8:"));
    assert_non_null(strstr(errs, "reachable from other machines"));

    /* secure: keys read, paths relative to the config, roles */
    cfg = s_load("tcp://10.0.0.5:5560", ", key: d1.pub",
                 "security:\n  key: lab.key\n  clients:\n    - {name: alice, key: alice.pub, role: operator}\n"
                 "    - {name: bob, key: d1.pub}\n", errs, sizeof errs);
    assert_null(cfg);                                     /* bob shares d1's key */
    assert_non_null(strstr(errs, "client 'bob' has the same public key as device 'd1'"));
    cfg = s_load("tcp://10.0.0.5:5560", ", key: d1.pub",
                 "security:\n  key: lab.key\n  clients:\n    - {name: alice, key: alice.pub, role: operator}\n",
                 errs, sizeof errs);
    if (!cfg)
        fail_msg("%s", errs);
    char want[LAB_KEY_Z85], path[256];
    snprintf(path, sizeof path, "%s/d2.pub", s_dir);
    assert_int_equal(lab_keys_read_public(path, want, &e), 0);
    assert_string_equal(cfg->devices[1].key, want);
    assert_int_equal(cfg->n_clients, 1);
    assert_true(cfg->clients[0].operator_role);
    snprintf(path, sizeof path, "%s/lab.key", s_dir);
    assert_string_equal(cfg->secret_key_path, path);
    lab_config_destroy(&cfg);

    /* a device without a key, a key without security, a missing key file */
    cfg = s_load("tcp://127.0.0.1:5560", "", "security: {key: lab.key}\n", errs, sizeof errs);
    assert_null(cfg);
    assert_non_null(strstr(errs, "device 'd1' has no 'key'"));
    cfg = s_load("tcp://127.0.0.1:5560", ", key: d1.pub", "", errs, sizeof errs);
    assert_null(cfg);
    assert_non_null(strstr(errs, "need a security section"));
    cfg = s_load("tcp://127.0.0.1:5560", ", key: nope.pub", "security: {key: lab.key}\n", errs, sizeof errs);
    assert_null(cfg);
    assert_non_null(strstr(errs, "nope.pub"));
    cfg = s_load("tcp://127.0.0.1:5560", ", key: d1.pub",
                 "security: {key: lab.key, clients: [{name: x, key: alice.pub, role: admin}]}\n", errs, sizeof errs);
    assert_null(cfg);
    assert_non_null(strstr(errs, "viewer"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_generate_read, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_refusals, s_setup, s_teardown),
        cmocka_unit_test(test_local_endpoints),
        cmocka_unit_test_setup_teardown(test_config_security, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
