// SPDX-License-Identifier: Apache-2.0
// The mount table: parsing /proc/<pid>/mountinfo into overlay mounts, deciding
// which overlays belong to a container engine, and waiting for the table to
// change (poll POLLPRI on /proc/self/mountinfo: no busy poll).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "layerlock/base/result.hpp"
#include "layerlock/base/unique_fd.hpp"
#include "layerlock/model/types.hpp"

namespace layerlock::discovery {

struct OverlayMount {
    std::uint64_t mount_id = 0;
    dev_t dev = 0;                       // from the major:minor field
    std::string root;                    // the field before the mount point: "/" unless a bind of a subtree
    std::string mount_point;             // octal escapes (\040 ...) decoded
    std::vector<std::string> lowers;     // as in the options, top-most first, escapes decoded
    std::vector<std::string> data_lowers;  // data-only layers ("::" / datadir+), not in the namespace
    std::string upper;
    std::string work;
};

// Every overlay mount in a mountinfo text; malformed lines are skipped.
std::vector<OverlayMount> parse_mountinfo(std::string_view text);

// Any mount of a mountinfo text, as the code-open gate needs it.
struct MountEntry {
    std::uint64_t mount_id = 0;
    dev_t dev = 0;
    std::string root;          // the field before the mount point: "/" unless a bind of a subtree (or a file)
    std::string mount_point;   // octal escapes decoded
    std::string fstype;
    std::string source;
    bool noexec = false;       // per-mount option
};
std::vector<MountEntry> parse_mount_entries(std::string_view text);

// The mounts of a container's mount namespace that can hold code the image does
// not: every mount but its root ("/", the gated overlay) and the kernel's own
// filesystems (proc, sysfs, cgroup, devpts, mqueue, ... and everything under /proc
// and /sys, where engines mask files). `location` is "tmpfs" for a tmpfs, else
// "volume" (bind mounts of host files and directories, named volumes). noexec
// mounts count too: a script read from one still runs.
struct CodeMount {
    MountEntry entry;
    std::string location;
};
std::vector<CodeMount> code_mounts(const std::vector<MountEntry>& table);

// Which engine created this overlay, judged by its mount point and layer paths
// (Docker overlay2 ".../overlay2/<id>/merged", containerd task rootfs, Podman /
// CRI-O containers/storage); Runtime::Unknown means "not a container: never mark".
model::Runtime classify(const OverlayMount& m, std::string_view docker_root);

// A mount namespace other than the daemon's, seen through one of its processes.
struct Namespace {
    ino_t ns = 0;     // inode of /proc/<pid>/ns/mnt: the namespace's identity
    pid_t pid = 0;    // the lowest pid found in it
};

// Every mount namespace of the host's processes except `own`, one entry each
// (processes that exit during the listing are skipped), for a scan repeated every
// second: a pid's namespace is looked up when the pid is new and then remembered
// (one stat per new process instead of one per process per scan); every
// `full_every`-th listing looks at every pid again, for a process that changed
// namespace itself or a pid reused meanwhile (full_every = 1: always).
class NamespaceLister {
public:
    explicit NamespaceLister(unsigned full_every = 10) : full_every_(full_every) {}
    std::vector<Namespace> list(ino_t own);

private:
    unsigned full_every_;
    unsigned listings_ = 0;
    std::map<pid_t, ino_t> known_;
};

// The inode of /proc/<pid>/ns/mnt (pid 0: this process), 0 when it cannot be read.
ino_t mount_namespace_of(pid_t pid);

// Wakes when the mount table changes.
class MountWatcher {
public:
    static base::Result<MountWatcher> open();   // opens /proc/self/mountinfo
    // The table of `pid`'s mount namespace (/proc/<pid>/mountinfo); the fd keeps
    // reading that namespace's table while the process lives.
    static base::Result<MountWatcher> open(pid_t pid);
    int fd() const noexcept { return fd_.get(); }   // poll for POLLPRI|POLLERR
    // The current table. poll() itself consumes a wakeup (the kernel records the
    // table's change counter there), so read after every wakeup and never miss one.
    base::Result<std::string> read();
private:
    explicit MountWatcher(base::UniqueFd fd) : fd_(std::move(fd)) {}
    base::UniqueFd fd_;
};

}  // namespace layerlock::discovery
