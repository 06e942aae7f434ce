/* The simulated lab launcher (see launcher.h). */
#include "sim/launcher.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "devices/worker.h"
#include "sim/drivers.h"
#include "sim/lab.h"
#include "sim/model.h"
#include "common/keys.h"
#include "common/banned.h"

#define S_EXIT_REFUSED 3
#define S_EXIT_ENDED 5            /* the orchestrator said the campaign ended */
#define S_RESTART_DELAY_S 1
/* keys: DIR holds the orchestrator's pair as lab.key and lab.pub. */
#define S_LAB_KEY "lab"

static volatile sig_atomic_t s_stop_signal;

static void s_on_signal(int sig) { s_stop_signal = sig; }

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: labloop sim LAB.yaml [--device NAME] [--truth [--campaign C.yaml]] [--no-restart] [--no-outbox]\n"
            "                            [--verbose]\n"
            "       labloop sim --keys\n"
            "\n"
            "Start a simulated lab: one worker process per device in LAB.yaml, each\n"
            "connecting to the orchestrator's device endpoint. A worker that dies is\n"
            "started again after %d s unless --no-restart; one told that the campaign\n"
            "ended stops, and the lab stops once all have. Each worker keeps its\n"
            "outbox and its record of started attempts in SAMPLES/outbox/NAME.\n"
            "With `keys: DIR` in the lab section the workers use CURVE: DIR/DEVICE.key\n"
            "each and the orchestrator's DIR/lab.pub; missing key pairs (the devices'\n"
            "and lab.key, for the campaign's security.key) are made there at start.\n"
            "Without it the endpoint must be loopback or ipc. Stop with Ctrl-C.\n"
            "\n"
            "  --device NAME   run only that device's worker, in this process\n"
            "  --truth         print the ground-truth model's optimum and exit; with\n"
            "                  --campaign C.yaml, named as that campaign's objective\n"
            "  --no-restart    do not restart workers that die\n"
            "  --no-outbox     keep results and started attempts in memory only: not\n"
            "                  crash-safe (a restarted worker may run an attempt again);\n"
            "                  for benchmarks of the orchestrator alone\n"
            "  --verbose       log every step\n"
            "  --keys          print the reference of every LAB.yaml key (markdown) and exit\n"
            "\n"
            "example:\n"
            "  labloop sim examples/demo-lab.yaml &\n"
            "  labloop run examples/demo-campaign.yaml\n",
            S_RESTART_DELAY_S);
}

static int s_run_device(const lab_sim_lab *lab, const char *name, int memory_only)
{
    const lab_sim_device *dev = lab_sim_lab_device(lab, name);
    if (!dev) {
        fprintf(stderr, "labloop sim: %s has no device '%s'\n", lab->path, name);
        return 1;
    }
    char role[64];
    snprintf(role, sizeof role, "worker[%s]", name);
    lab_log_setup(role, lab_log_get_level());
    const lab_driver_ops *ops;
    void *drv;
    lab_err err = {0};
    if (lab_sim_driver_new(lab, dev, &ops, &drv, &err) < 0) {
        fprintf(stderr, "labloop sim: device '%s': %s\n", name, err.msg);
        return 1;
    }
    /* Every simulated device is crash-safe: results and started attempts
     * are kept on disk, so a restarted worker never runs an attempt twice. */
    char outbox[4096];
    snprintf(outbox, sizeof outbox, "%s/outbox", lab->samples_dir);
    if (mkdir(lab->samples_dir, 0775) != 0 && errno != EEXIST) {
        fprintf(stderr, "labloop sim: cannot create %s: %s\n", lab->samples_dir, strerror(errno));
        return 1;
    }
    if (mkdir(outbox, 0775) != 0 && errno != EEXIST) {
        fprintf(stderr, "labloop sim: cannot create %s: %s\n", outbox, strerror(errno));
        return 1;
    }
    if (snprintf(outbox, sizeof outbox, "%s/outbox/%s", lab->samples_dir, dev->name) >= (int)sizeof outbox) {
        fprintf(stderr, "labloop sim: device '%s': outbox path too long\n", name);
        return 1;
    }
    lab_worker_opts o = {
        .outbox_dir = memory_only ? NULL : outbox,
        .name = dev->name,
        .endpoint = lab->endpoint,
        .capabilities = (const char *const *)dev->capabilities,
        .n_capabilities = dev->n_capabilities,
        .capacity = dev->capacity,
        .ops = ops,
        .driver = drv,
    };
    char path[1024], server[LAB_KEY_Z85], pub[LAB_KEY_Z85], sec[LAB_KEY_Z85];
    if (lab->keys_dir) {
        snprintf(path, sizeof path, "%s/%s.key", lab->keys_dir, dev->name);
        if (lab_keys_read_secret(path, sec, pub, &err) < 0 ||
            (snprintf(path, sizeof path, "%s/" S_LAB_KEY ".pub", lab->keys_dir),
             lab_keys_read_public(path, server, &err) < 0)) {
            fprintf(stderr, "labloop sim: device '%s': %s\n", name, err.msg);
            o.ops->destroy(o.driver);
            return 1;
        }
        o.server_key = server;
        o.public_key = pub;
        o.secret_key = sec;
    }
    int rc = lab_worker_run(&o, &err);
    explicit_bzero(sec, sizeof sec);
    if (rc == LAB_EREFUSED)
        return S_EXIT_REFUSED;
    if (rc == LAB_WORKER_ENDED)
        return S_EXIT_ENDED;
    if (rc < 0) {
        fprintf(stderr, "labloop sim: device '%s': %s\n", name, err.msg);
        return 1;
    }
    return 0;
}

static int s_truth(const lab_sim_lab *lab, const char *campaign, lab_sim_objective_fn objective)
{
    if (!lab->model_kind) {
        fprintf(stderr, "labloop sim: %s has no model\n", lab->path);
        return 1;
    }
    lab_err err = {0};
    lab_model *m = lab_model_new(lab->model_kind, 0, 0, &err);
    if (!m) {
        fprintf(stderr, "labloop sim: %s\n", err.msg);
        return 1;
    }
    double x[16], y0;
    lab_model_optimum(m, x, &y0);
    /* Name it as the campaign does (its objective, with its unit) and say
     * which model output that is. */
    const char *out = lab_model_output_name(m, 0);
    char name[256] = "", unit[64] = "";
    int found = campaign && objective ? objective(campaign, out, name, sizeof name, unit, sizeof unit) : 1;
    if (found < 0) {
        lab_model_destroy(&m);
        return 1;
    }
    if (found == 0)
        printf("true optimum of %s: %s = %.4g%s%s (model output %s) at", lab->model_kind, name, y0,
               *unit ? " " : "", unit, out);
    else
        printf("true optimum of %s: model output %s = %.4g at", lab->model_kind, out, y0);
    for (size_t i = 0; i < lab_model_n_inputs(m) && i < 16; i++) {
        const lab_model_input *in = lab_model_input_at(m, i);
        if (in->categorical)
            printf(" %s=%s", in->name, in->choices[(size_t)x[i]]);
        else
            printf(" %s=%.4g%s%s", in->name, x[i], in->unit && *in->unit ? " " : "", in->unit ? in->unit : "");
    }
    printf("\n");
    lab_model_destroy(&m);
    return 0;
}

/* Fork and exec one device worker. SIGINT/SIGTERM are blocked around the
 * fork: a child that has not exec'd yet still carries our handler, which
 * would swallow a stop signal sent in that window. The child puts the
 * default actions back before unblocking, so a pending stop ends it. */
static pid_t s_spawn(const char *self, const char *lab_path, const char *device, int verbose, int memory_only)
{
    sigset_t stop, old;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigprocmask(SIG_BLOCK, &stop, &old);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        sigprocmask(SIG_SETMASK, &old, NULL);
        char *args[8] = {(char *)"labloop", (char *)"sim", (char *)lab_path, (char *)"--device", (char *)device};
        int k = 5;
        if (verbose)
            args[k++] = (char *)"--verbose";
        if (memory_only)
            args[k++] = (char *)"--no-outbox";
        args[k] = NULL;
        /* A device worker does no linear algebra: without this, OpenBLAS
         * (linked for the planners) starts a thread per core in every
         * worker, and they spin for a while at start. */
        setenv("OPENBLAS_NUM_THREADS", "1", 1);
        execv(self, args);
        fprintf(stderr, "labloop sim: cannot start %s: %s\n", self, strerror(errno));
        _exit(127);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    return pid;
}

/* keys: DIR: make the key pairs that are missing (the lab's and each
 * device's), so a simulated lab runs with CURVE without a setup step. */
static int s_make_keys(const lab_sim_lab *lab)
{
    if (!lab->keys_dir)
        return 0;
    if (mkdir(lab->keys_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "labloop sim: cannot create keys directory %s: %s\n", lab->keys_dir, strerror(errno));
        return -1;
    }
    for (size_t i = 0; i <= lab->n_devices; i++) {
        const char *name = i < lab->n_devices ? lab->devices[i].name : S_LAB_KEY;
        char path[1024], pub[LAB_KEY_Z85];
        snprintf(path, sizeof path, "%s/%s.key", lab->keys_dir, name);
        if (access(path, F_OK) == 0)
            continue;
        lab_err err = {0};
        if (lab_keys_generate(lab->keys_dir, name, 0, pub, &err) < 0) {
            fprintf(stderr, "labloop sim: %s\n", err.msg);
            return -1;
        }
        lab_info("made the key pair %s/%s.key, .pub", lab->keys_dir, name);
    }
    return 0;
}

static int s_supervise(const lab_sim_lab *lab, int restart, int verbose, int memory_only)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        fprintf(stderr, "labloop sim: cannot find my own executable: %s\n", strerror(errno));
        return 1;
    }
    self[n] = '\0';
    if (mkdir(lab->samples_dir, 0775) != 0 && errno != EEXIST) {
        fprintf(stderr, "labloop sim: cannot create samples directory %s: %s\n",
                lab->samples_dir, strerror(errno));
        return 1;
    }
    if (s_make_keys(lab) < 0)
        return 1;
    struct sigaction sa = {0};
    sa.sa_handler = s_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    pid_t *pids = calloc(lab->n_devices, sizeof *pids);
    if (!pids)
        return 1;
    for (size_t i = 0; i < lab->n_devices && !s_stop_signal; i++)
        pids[i] = s_spawn(self, lab->path, lab->devices[i].name, verbose, memory_only);
    lab_info("lab '%s': %zu device workers started, connecting to %s (speed x%g)", lab->name,
             lab->n_devices, lab->endpoint, lab->speed);
    size_t alive = lab->n_devices;
    while (alive > 0 && !s_stop_signal) {
        int status;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (size_t i = 0; i < lab->n_devices; i++) {
            if (pids[i] != pid)
                continue;
            const char *name = lab->devices[i].name;
            pids[i] = 0;
            alive--;
            if (WIFEXITED(status) && WEXITSTATUS(status) == S_EXIT_REFUSED) {
                lab_error("device '%s' was refused by the orchestrator; not restarting", name);
            } else if (WIFEXITED(status) && WEXITSTATUS(status) == S_EXIT_ENDED) {
                lab_info("device '%s': the campaign ended; its worker stopped", name);
            } else if (restart && !s_stop_signal) {
                lab_warn("device '%s' worker (pid %d) %s %d; restarting in %d s", name, (int)pid,
                         WIFSIGNALED(status) ? "killed by signal" : "exited with",
                         WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
                         S_RESTART_DELAY_S);
                sleep(S_RESTART_DELAY_S);
                if (!s_stop_signal) {
                    pids[i] = s_spawn(self, lab->path, name, verbose, memory_only);
                    alive++;
                }
            } else {
                lab_warn("device '%s' worker (pid %d) ended", name, (int)pid);
            }
        }
    }
    for (size_t i = 0; i < lab->n_devices; i++)
        if (pids[i] > 0)
            kill(pids[i], SIGTERM);
    for (size_t i = 0; i < lab->n_devices; i++)
        if (pids[i] > 0)
            waitpid(pids[i], NULL, 0);
    free(pids);
    lab_info("lab '%s' stopped", lab->name);
    return 0;
}

int lab_cmd_sim(int argc, char **argv, lab_sim_objective_fn objective)
{
    const char *path = NULL, *device = NULL, *campaign = NULL;
    int truth = 0, restart = 1, verbose = 0, memory_only = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            s_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--device") && i + 1 < argc) {
            device = argv[++i];
        } else if (!strcmp(argv[i], "--truth")) {
            truth = 1;
        } else if (!strcmp(argv[i], "--campaign") && i + 1 < argc) {
            campaign = argv[++i];
        } else if (!strcmp(argv[i], "--no-restart")) {
            restart = 0;
        } else if (!strcmp(argv[i], "--no-outbox")) {
            memory_only = 1;
        } else if (!strcmp(argv[i], "--keys")) {
            lab_sim_lab_print_keys(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--verbose")) {
            verbose = 1;
        } else if (argv[i][0] != '-' && !path) {
            path = argv[i];
        } else {
            fprintf(stderr, "labloop sim: unexpected argument '%s'\n", argv[i]);
            s_usage(stderr);
            return 2;
        }
    }
    if (!path) {
        s_usage(stderr);
        return 2;
    }
    if (verbose)
        lab_log_setup(NULL, LAB_LOG_DEBUG);
    lab_err err = {0};
    lab_sim_lab *lab = lab_sim_lab_load(path, stderr, &err);
    if (!lab)
        return 1;
    int rc = truth ? s_truth(lab, campaign, objective) : device ? s_run_device(lab, device, memory_only)
                                          : s_supervise(lab, restart, verbose, memory_only);
    lab_sim_lab_destroy(&lab);
    return rc;
}
