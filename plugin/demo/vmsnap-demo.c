/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmsnap-demo: a walk through vmsnap's main job on a built-in demo: a VM with
 * three disks on libvirt's test driver, backed by real qcow2 files in a
 * temporary directory. It uses only the public libvmsnap API (plus libvirt to
 * define the demo VM) and prints each step and the snapshot tree. */
#include <libvirt/libvirt.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmsnap/vmsnap.h"

extern char **environ;

static int run(const char *const *argv)
{
        pid_t pid;
        int status;

        if (posix_spawnp(&pid, argv[0], NULL, NULL, (char *const *)argv, environ) != 0)
                return -1;
        if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
                return -1;
        return WEXITSTATUS(status);
}

static void check(int r, const vmsnap_error *error, const char *what)
{
        if (r < 0) {
                fprintf(stderr, "vmsnap-demo: %s failed: %s\n", what, error->message);
                exit(1);
        }
}

static void print_subtree(const vmsnap_snapshot_info *list, size_t n, const char *parent, int depth)
{
        for (size_t i = 0; i < n; i++) {
                if (strcmp(list[i].parent_id, parent) != 0)
                        continue;
                char disks[256] = "";
                for (size_t j = 0; j < list[i].n_disks; j++)
                        if (list[i].disks[j].image) {
                                strncat(disks, disks[0] ? "," : "", sizeof(disks) - strlen(disks) - 1);
                                strncat(disks, list[i].disks[j].target, sizeof(disks) - strlen(disks) - 1);
                        }
                printf("    %*s%s %s  [disks %s]%s%s\n", depth * 4, "", depth ? "└─" : "●", list[i].name,
                       disks, list[i].current ? "  <- current" : "",
                       list[i].in_preview ? "  (in preview)" : "");
                print_subtree(list, n, list[i].id, depth + 1);
        }
}

static void show(vmsnap_engine *engine, const char *step)
{
        vmsnap_snapshot_info *list = NULL;
        vmsnap_domain_info info = {0};
        vmsnap_error error = {0};
        size_t n = 0;

        check(vmsnap_domain_get(engine, "demo-vm", &info, &error), &error, "reading the domain");
        check(vmsnap_snapshot_list(engine, "demo-vm", &list, &n, &error), &error, "listing snapshots");
        printf("\n== %s\n   demo-vm: %s, %u snapshot(s)%s\n", step, info.state, info.snapshot_count,
               info.in_preview ? ", IN PREVIEW" : "");
        print_subtree(list, n, "", 0);
        vmsnap_snapshot_info_array_free(list, n);
        vmsnap_domain_info_clear(&info);
}

static void print_message(void *userdata, const char *text)
{
        printf("   note: %s\n", text);
}

static const vmsnap_hooks hooks = {.message = print_message};

int main(int argc, char **argv)
{
        char dir[] = "/tmp/vmsnap-demo-XXXXXX";
        char state_dir[600], xml[4096], disk_path[3][512];
        const char *targets[] = {"vda", "vdb", "vdc"};
        vmsnap_engine *engine = NULL;
        vmsnap_error error = {0};
        virConnectPtr connection;
        virDomainPtr domain;

        if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
                printf("Usage: vmsnap-demo\nRuns vmsnap's snapshot workflow on a demo VM (libvirt test "
                       "driver, "
                       "real qcow2 files in a temporary directory) and prints each step.\n");
                return 0;
        }
        if (!mkdtemp(dir)) {
                perror("mkdtemp");
                return 1;
        }
        printf("vmsnap %s demo: images and metadata in %s\n", vmsnap_version(), dir);
        for (int i = 0; i < 3; i++) {
                snprintf(disk_path[i], sizeof(disk_path[i]), "%s/%s.qcow2", dir, targets[i]);
                const char *create[] = {"qemu-img", "create",     "-q",  "-f",
                                        "qcow2",    disk_path[i], "64M", NULL};
                if (run(create) != 0) {
                        fprintf(stderr, "vmsnap-demo: qemu-img is needed (apt-get install qemu-utils)\n");
                        return 1;
                }
        }
        snprintf(xml, sizeof(xml),
                 "<domain type='test'><name>demo-vm</name><memory unit='MiB'>512</memory>"
                 "<os><type>hvm</type></os><devices>"
                 "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='%s'/>"
                 "<target dev='vda' bus='virtio'/></disk>"
                 "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='%s'/>"
                 "<target dev='vdb' bus='virtio'/></disk>"
                 "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='%s'/>"
                 "<target dev='vdc' bus='virtio'/></disk>"
                 "<disk type='file' device='cdrom'><target dev='hdc' bus='ide'/><readonly/></disk>"
                 "</devices></domain>",
                 disk_path[0], disk_path[1], disk_path[2]);
        /* test:///default is one shared driver per process while a connection stays open. */
        connection = virConnectOpen("test:///default");
        domain = connection ? virDomainDefineXML(connection, xml) : NULL;
        if (!domain) {
                fprintf(stderr, "vmsnap-demo: cannot define the demo VM on test:///default\n");
                return 1;
        }
        virDomainFree(domain);
        snprintf(state_dir, sizeof(state_dir), "%s/state", dir);
        check(vmsnap_engine_new("test:///default", state_dir, &engine, &error), &error,
              "starting the engine");

        show(engine, "a new VM with disks vda, vdb, vdc and a cdrom");

        vmsnap_create_options first = {.name = "fresh-install", .description = "OS installed"};
        check(vmsnap_snapshot_create(engine, "demo-vm", &first, &hooks, NULL, &error), &error, "create");
        show(engine, "create \"fresh-install\" (all disks; the cdrom is recorded as excluded)");

        const char *two[] = {"vda", "vdb"};
        vmsnap_create_options second = {.name = "configured", .disks = two, .n_disks = 2};
        check(vmsnap_snapshot_create(engine, "demo-vm", &second, &hooks, NULL, &error), &error, "create");
        show(engine, "create \"configured\" of vda and vdb only");

        vmsnap_disk_choice mix[] = {{"vdb", "fresh-install"}};
        vmsnap_preview_options custom = {.disks = mix, .n_disks = 1};
        check(vmsnap_preview_start(engine, "demo-vm", "configured", &custom, NULL, &error), &error,
              "custom preview");
        show(engine,
             "custom preview: configuration and vda from \"configured\", vdb from \"fresh-install\", "
             "vdc as it is");
        check(vmsnap_preview_commit(engine, "demo-vm", NULL, &error), &error, "commit");
        show(engine, "commit: the preview is now the VM's state");

        vmsnap_create_options third = {.name = "after-commit"};
        check(vmsnap_snapshot_create(engine, "demo-vm", &third, &hooks, NULL, &error), &error, "create");
        show(engine, "create \"after-commit\"");

        check(vmsnap_preview_start(engine, "demo-vm", "fresh-install", NULL, NULL, &error), &error,
              "preview");
        show(engine, "preview \"fresh-install\"");
        check(vmsnap_preview_undo(engine, "demo-vm", NULL, &error), &error, "undo");
        show(engine, "undo: back to the state before the preview");

        check(vmsnap_snapshot_delete(engine, "demo-vm", "configured", VMSNAP_DELETE_MERGE, &hooks, &error),
              &error, "delete");
        show(engine, "delete \"configured\" (merge): its child moves up, every other state reads the same");

        vmsnap_engine_free(engine);
        virConnectClose(connection);
        printf("\ndone; the files are in %s (remove it with: rm -r %s)\n", dir, dir);
        return 0;
}
