// SPDX-License-Identifier: Apache-2.0
#include "layerlock/process/procfs.hpp"

#include <dirent.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "layerlock/base/fs.hpp"
#include "layerlock/base/proc_stat.hpp"
#include "layerlock/base/unique_fd.hpp"

namespace layerlock::process {
namespace {

std::string proc(pid_t pid, const char* what) { return "/proc/" + std::to_string(pid) + "/" + what; }

std::string read_link(const std::string& path) {
    char buf[4096];
    ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
    if (n <= 0 || static_cast<std::size_t>(n) == sizeof buf) return {};
    return std::string(buf, static_cast<std::size_t>(n));
}

std::uint64_t ns_inode(pid_t pid, const char* ns) {
    struct stat st{};
    if (::stat(proc(pid, ns).c_str(), &st) != 0) return 0;
    return st.st_ino;
}

}  // namespace

ProcessInfo read_basic(pid_t pid) {
    ProcessInfo p;
    p.pid = pid;
    auto stat = base::read_proc_stat(pid);
    if (!stat) return p;
    p.comm = std::move(stat->comm);
    p.ppid = stat->ppid;
    p.start_time = stat->start_time;
    struct stat st{};
    if (::stat(proc(pid, "root").c_str(), &st) == 0) p.root_dev = st.st_dev;
    p.ok = true;
    return p;
}

void read_namespaces(ProcessInfo& p) {
    p.mnt_ns = ns_inode(p.pid, "ns/mnt");
    p.net_ns = ns_inode(p.pid, "ns/net");
}

void read_details(ProcessInfo& p, bool argv) {
    p.exe = read_link(proc(p.pid, "exe"));
    if (auto status = base::read_file(proc(p.pid, "status"), 16384)) {
        auto at = status->find("\nUid:");
        long uid = -1;
        if (at != std::string::npos && std::sscanf(status->c_str() + at + 5, "%ld", &uid) == 1) p.uid = uid;
    }
    if (argv)
        if (auto c = base::read_file(proc(p.pid, "cmdline"), 64 * 1024)) p.cmdline = std::move(*c);
}

std::string read_environ(pid_t pid) {
    auto e = base::read_file(proc(pid, "environ"), 256 * 1024);
    return e ? std::move(*e) : std::string();
}

bool is_memfd_exe(const std::string& exe) { return exe.starts_with("/memfd:"); }

bool is_deleted_exe(const std::string& exe) { return exe.ends_with(" (deleted)"); }

std::string cmdline_text(const std::string& nul_separated) {
    std::string out = nul_separated;
    while (!out.empty() && out.back() == '\0') out.pop_back();
    for (char& c : out)
        if (c == '\0') c = ' ';
    return out;
}

std::vector<ProcessInfo> ancestry(pid_t pid, dev_t same_root, std::size_t max_depth) {
    std::vector<ProcessInfo> out;
    while (pid > 1 && out.size() < max_depth) {
        auto p = read_basic(pid);
        if (!p.ok || p.root_dev != same_root) break;
        read_details(p, true);
        pid = p.ppid;
        out.push_back(std::move(p));
    }
    return out;
}

std::vector<pid_t> processes_with_root(dev_t root_dev) {
    std::vector<pid_t> out;
    base::UniqueFd dir(::open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    DIR* d = dir ? ::fdopendir(dir.release()) : nullptr;
    if (!d) return out;
    while (auto* e = ::readdir(d)) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
        const pid_t pid = static_cast<pid_t>(std::strtol(e->d_name, nullptr, 10));
        struct stat st{};
        if (::stat(proc(pid, "root").c_str(), &st) == 0 && st.st_dev == root_dev) out.push_back(pid);
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

std::string user_in_passwd(std::string_view passwd, std::int64_t uid) {
    if (uid < 0) return {};
    const std::string id = std::to_string(uid);
    while (!passwd.empty()) {
        auto nl = passwd.find('\n');
        std::string_view line = passwd.substr(0, nl);
        passwd = nl == std::string_view::npos ? std::string_view() : passwd.substr(nl + 1);
        auto c1 = line.find(':');
        if (c1 == std::string_view::npos || c1 == 0) continue;
        auto c2 = line.find(':', c1 + 1);
        if (c2 == std::string_view::npos) continue;
        auto c3 = line.find(':', c2 + 1);
        if (line.substr(c2 + 1, c3 == std::string_view::npos ? std::string_view::npos : c3 - c2 - 1) == id)
            return std::string(line.substr(0, c1));
    }
    return {};
}

std::string user_name(pid_t pid, std::int64_t uid) {
    if (uid < 0 || pid <= 0) return {};
    base::UniqueFd root(::open(proc(pid, "root").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) return {};
    open_how how{};
    how.flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
    base::UniqueFd fd(static_cast<int>(::syscall(SYS_openat2, root.get(), "etc/passwd", &how, sizeof how)));
    if (!fd) return {};
    struct stat st{};
    constexpr off_t kMax = 1 << 20;
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > kMax) return {};
    std::string text(static_cast<std::size_t>(st.st_size), '\0');
    ssize_t n = ::pread(fd.get(), text.data(), text.size(), 0);
    if (n < 0) return {};
    text.resize(static_cast<std::size_t>(n));
    return user_in_passwd(text, uid);
}

}  // namespace layerlock::process
