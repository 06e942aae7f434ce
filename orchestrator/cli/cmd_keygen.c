/* `labloop keygen NAME [--dir DIR] [--force]`: make a CURVE key pair for the
 * lab (the orchestrator), a device worker or an operator's CLI.
 * Not for: reading keys (common/keys.c) or checking them (orchestrator/auth.c).
 */
#include <stdio.h>
#include <string.h>

#include "common/keys.h"
#include "orchestrator/cli/commands.h"
#include "common/banned.h"

static void s_usage(FILE *out)
{
    fprintf(out, "usage: labloop keygen NAME [--dir DIR] [--force]\n\n"
                 "Make a CURVE key pair: DIR/NAME.key (the secret key, mode 0600: keep it on the\n"
                 "machine that uses it) and DIR/NAME.pub (the public key, to give to the other\n"
                 "side). DIR defaults to the current directory. Existing files are kept unless\n"
                 "--force. The lab's config names its own .key and each device's and operator's\n"
                 ".pub; workers and the CLI name their own .key and the lab's .pub.\n\n"
                 "example:\n  labloop keygen lab --dir keys && labloop keygen furnace-1 --dir keys\n");
}

int lab_cmd_keygen(int argc, char **argv)
{
    const char *name = NULL, *dir = ".";
    int force = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            s_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--dir") && i + 1 < argc) {
            dir = argv[++i];
        } else if (!strcmp(argv[i], "--force")) {
            force = 1;
        } else if (argv[i][0] != '-' && !name) {
            name = argv[i];
        } else {
            fprintf(stderr, "labloop keygen: unexpected argument '%s'\n\n", argv[i]);
            s_usage(stderr);
            return 2;
        }
    }
    if (!name) {
        s_usage(stderr);
        return 2;
    }
    char pub[LAB_KEY_Z85];
    lab_err err = {0};
    if (lab_keys_generate(dir, name, force, pub, &err) < 0) {
        fprintf(stderr, "labloop keygen: %s\n", err.msg);
        return err.code == LAB_EINVAL ? 2 : 1;
    }
    printf("wrote %s/%s.key (secret, 0600) and %s/%s.pub (public key %s)\n", dir, name, dir, name, pub);
    return 0;
}
