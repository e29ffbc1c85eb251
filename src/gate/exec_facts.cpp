// SPDX-License-Identifier: Apache-2.0
#include "exec_facts.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <optional>

#include "layerlock/base/fs.hpp"
#include "layerlock/baseline/overlay_format.hpp"
#include "layerlock/base/proc_stat.hpp"
#include "layerlock/base/unique_fd.hpp"

namespace layerlock::gate {
namespace {

constexpr std::string_view kDeleted = " (deleted)";

std::uint64_t mount_id_of(int fd) {
    struct statx stx{};
    if (::statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) != 0) return 0;
    return (stx.stx_mask & STATX_MNT_ID) ? stx.stx_mnt_id : 0;
}

std::string first_line(const std::string& path) {
    auto text = base::read_file(path, 4096);
    if (!text) return {};
    auto s = std::move(*text);
    if (auto nl = s.find('\n'); nl != std::string::npos) s.resize(nl);
    return s;
}

}  // namespace

std::string container_path(int fd, const GatedContainer& c, bool* deleted) {
    auto raw = base::fd_path(fd);
    if (!raw) return {};
    std::string p = std::move(*raw);
    *deleted = p.size() > kDeleted.size() && p.ends_with(kDeleted);
    if (*deleted) p.resize(p.size() - kDeleted.size());
    // The daemon's own view of the overlay (tests, or an engine in the host's
    // mount namespace) reads back with the host mount point in front; a container's
    // copy of the mount reads back relative to the container's root.
    const auto& mp = c.info.mount_point;
    if (p.size() > mp.size() && p.compare(0, mp.size(), mp) == 0 && p[mp.size()] == '/' &&
        c.info.mount_id != 0 && mount_id_of(fd) == c.info.mount_id)
        p.erase(0, mp.size());
    return p;
}

bool served_from_lower(const GatedContainer& c, const std::string& path, const struct stat& st) {
    if (path.empty() || path.front() != '/') return false;
    for (const auto& lower : c.lower_fds) {
        auto fd = base::open_beneath(lower.get(), path, O_PATH);
        if (!fd) {
            if (fd.error().code == std::errc::no_such_file_or_directory) continue;
            return false;   // ENOTDIR, ELOOP...: something in this layer shadows the path
        }
        struct stat lst{};
        if (::fstat(fd->get(), &lst) != 0) return false;
        // The top-most layer holding the path is the one overlayfs serves.
        return S_ISREG(lst.st_mode) && lst.st_ino == st.st_ino && lst.st_size == st.st_size &&
               lst.st_ctim.tv_sec == st.st_ctim.tv_sec && lst.st_ctim.tv_nsec == st.st_ctim.tv_nsec;
    }
    return false;
}

std::optional<bool> same_as_layer_file(const GatedContainer& c, int layer, const std::string& path, int fd,
                                       std::uint64_t size, std::chrono::steady_clock::time_point deadline) {
    if (layer < 0 || static_cast<std::size_t>(layer) >= c.lower_fds.size()) return std::nullopt;
    auto image = base::open_beneath(c.lower_fds[static_cast<std::size_t>(layer)].get(), path, O_RDONLY | O_NONBLOCK);
    struct stat st{};
    if (!image || ::fstat(image->get(), &st) != 0 || !S_ISREG(st.st_mode) ||
        static_cast<std::uint64_t>(st.st_size) != size)
        return std::nullopt;
    auto same = base::same_content(fd, image->get(), size, deadline);
    if (!same) return std::nullopt;
    return *same;
}

bool has_overlay_origin(const GatedContainer& c, const std::string& path) {
    auto fd = base::open_beneath(c.upper_fd.get(), path, O_PATH);
    if (!fd) return false;
    struct stat st{};
    if (::fstat(fd->get(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
    return baseline::overlay::has_origin(fd->get());
}

ProcessNames caller_names(pid_t pid) {
    ProcessNames n;
    if (auto st = base::read_proc_stat(pid)) {
        n.comm = std::move(st->comm);
        n.ppid = st->ppid;
    }
    n.uid = read_uid(pid);
    return n;
}

void add_parent_name(ProcessNames& n, pid_t pid) {
    if (n.ppid > 0 && n.parent_comm.empty()) n.parent_comm = first_line("/proc/" + std::to_string(n.ppid) + "/comm");
    if (n.exe.empty()) n.exe = read_exe(pid);
}

ProcessNames process_names(pid_t pid) {
    ProcessNames n = caller_names(pid);
    add_parent_name(n, pid);
    return n;
}

namespace {
std::string read_link(const std::string& path) {
    char buf[4096];
    ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
    if (n <= 0 || static_cast<std::size_t>(n) == sizeof buf) return {};
    return std::string(buf, static_cast<std::size_t>(n));
}
}  // namespace

std::string read_comm(pid_t pid) { return first_line("/proc/" + std::to_string(pid) + "/comm"); }

std::string read_exe(pid_t pid) {
    auto exe = read_link("/proc/" + std::to_string(pid) + "/exe");
    if (exe.ends_with(kDeleted)) exe.resize(exe.size() - kDeleted.size());
    return exe;
}

std::int64_t read_uid(pid_t pid) {
    auto status = base::read_file("/proc/" + std::to_string(pid) + "/status", 16384);
    if (!status) return -1;
    auto at = status->find("\nUid:");
    long uid = -1;
    if (at == std::string::npos || std::sscanf(status->c_str() + at + 5, "%ld", &uid) != 1) return -1;
    return uid;
}

std::string read_cmdline(pid_t pid) {
    auto argv = base::read_file("/proc/" + std::to_string(pid) + "/cmdline", 64 * 1024);
    if (!argv) return {};
    std::string s = std::move(*argv);
    while (!s.empty() && s.back() == '\0') s.pop_back();
    std::replace(s.begin(), s.end(), '\0', ' ');
    return s;
}

void read_argv_and_cwd(pid_t pid, OpenerFacts& f) {
    const std::string proc = "/proc/" + std::to_string(pid);
    if (auto argv = base::read_file(proc + "/cmdline", 64 * 1024)) f.argv = std::move(*argv);
    f.cwd = read_link(proc + "/cwd");
}

bool in_host_mount_namespace(pid_t pid) {
    static const std::string own = read_link("/proc/self/ns/mnt");
    return !own.empty() && read_link("/proc/" + std::to_string(pid) + "/ns/mnt") == own;
}

OpenAccess open_access(pid_t pid, std::chrono::microseconds patience) {
    const std::string where = "/proc/" + std::to_string(pid) + "/syscall";
    const auto until = std::chrono::steady_clock::now() + patience;
    auto line = base::read_file(where, 256);
    for (int attempt = 1; line && line->starts_with("running"); ++attempt) {
        if (std::chrono::steady_clock::now() >= until) return OpenAccess::NotAsleep;
        // A runnable opener waits its turn behind every other task of its cgroup:
        // on a loaded host that is tens of milliseconds. Yield, then sleep longer.
        if (attempt < 8) ::sched_yield();
        else ::usleep(attempt < 200 ? 50 : 1000);
        line = base::read_file(where, 256);
    }
    if (!line) return OpenAccess::Read;
    // "NR arg1 arg2 arg3 ... sp pc" while the task is blocked in a system call.
    long nr = -1;
    unsigned long long a[6] = {};
    if (std::sscanf(line->c_str(), "%ld %llx %llx %llx %llx %llx %llx", &nr, &a[0], &a[1], &a[2], &a[3], &a[4],
                    &a[5]) < 4)
        return OpenAccess::Read;
    unsigned long long flags;
    switch (nr) {
#ifdef SYS_open
        case SYS_open: flags = a[1]; break;
#endif
#ifdef SYS_creat
        case SYS_creat: return OpenAccess::WriteOnly;
#endif
        case SYS_openat: flags = a[2]; break;
        default: return OpenAccess::Read;
    }
    return (flags & O_ACCMODE) == O_WRONLY ? OpenAccess::WriteOnly : OpenAccess::Read;
}

std::string read_head(int fd, std::size_t n) {
    std::string out(n, '\0');
    ssize_t got = ::pread(fd, out.data(), n, 0);
    out.resize(got > 0 ? static_cast<std::size_t>(got) : 0);
    return out;
}



}  // namespace layerlock::gate
