// SPDX-License-Identifier: Apache-2.0
// Reads the mount table: parse_mountinfo() turns /proc/<pid>/mountinfo text into
// OverlayMount values, and MountWatcher owns the open /proc/self/mountinfo fd that
// poll() wakes on when the table changes. It does not decide what an overlay is
// (classify.cpp) nor talk to any engine. The text is treated as untrusted: every
// field is checked, malformed lines are skipped, and no input can make it allocate
// more than a small multiple of its own size.
//
// Escaping, as checked on kernel 6.18: the kernel writes mount points with mangle()
// and option values with seq_escape(", \t\n\\"), both as "\ooo" octal. overlayfs
// then shows its own escapes inside path values: the legacy "lowerdir=a\:b:c" form
// appears as "lowerdir=a\134:b:c" (an escaped backslash before a raw ':'), "::"
// starts the data-only layers, and upperdir/workdir are unescaped by the kernel the
// same way. The newer "lowerdir+=" / "datadir+=" options (one path each, kernel
// >= 6.7) are shown unescaped by overlayfs: only the octal escapes apply there.
// Kernels 6.5/6.6 showed "\072" for a ':' inside a lower path; that decodes as a
// literal ':' here too, because only a raw ':' separates layers.
#include "layerlock/discovery/mounts.hpp"

#include <fcntl.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <optional>

namespace layerlock::discovery {
namespace {

constexpr std::size_t kMaxFields = 64;              // real lines have ~10-14
constexpr std::size_t kMaxOverlayMounts = 1u << 16;
constexpr std::size_t kMaxTableBytes = 64u << 20;

// One decoded byte of a field and whether it was written as an octal escape.
struct Unit {
    char c;
    bool escaped;
    std::size_t len;  // bytes consumed from the text
};

bool is_octal(char c) { return c >= '0' && c <= '7'; }

Unit unit_at(std::string_view s, std::size_t i) {
    if (s[i] == '\\' && s.size() - i >= 4 && s[i + 1] <= '3' && is_octal(s[i + 1]) &&
        is_octal(s[i + 2]) && is_octal(s[i + 3])) {
        int v = (s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0');
        return {static_cast<char>(v), true, 4};
    }
    return {s[i], false, 1};
}

// mangle() / seq_escape() decoding. A NUL cannot be part of a usable path, so a
// field that decodes to one is rejected.
std::optional<std::string> decode_octal(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        Unit u = unit_at(s, i);
        if (u.c == '\0') return std::nullopt;
        out.push_back(u.c);
        i += u.len;
    }
    return out;
}

// Octal decoding plus overlayfs' own "\x" -> "x". With split, a raw ':' ends a
// part; "::" leaves an empty part, which marks the start of data-only layers.
std::optional<std::vector<std::string>> decode_overlay_value(std::string_view s, bool split) {
    std::vector<std::string> parts(1);
    for (std::size_t i = 0; i < s.size();) {
        Unit u = unit_at(s, i);
        i += u.len;
        if (u.c == '\\' && i < s.size()) {  // overlayfs escape: the next unit is literal
            u = unit_at(s, i);
            i += u.len;
        } else if (split && u.c == ':' && !u.escaped) {
            parts.emplace_back();
            continue;
        }
        if (u.c == '\0') return std::nullopt;
        parts.back().push_back(u.c);
    }
    return parts;
}

// Splits on single spaces, keeping empty fields; nullopt past kMaxFields.
std::optional<std::vector<std::string_view>> split_fields(std::string_view line) {
    std::vector<std::string_view> f;
    for (;;) {
        if (f.size() == kMaxFields) return std::nullopt;
        std::size_t sp = line.find(' ');
        f.push_back(line.substr(0, sp));
        if (sp == std::string_view::npos) return f;
        line.remove_prefix(sp + 1);
    }
}

template <typename T>
std::optional<T> parse_number(std::string_view s) {
    T v{};
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
    return v;
}

std::optional<dev_t> parse_dev(std::string_view s) {
    std::size_t colon = s.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    auto major = parse_number<unsigned>(s.substr(0, colon));
    auto minor = parse_number<unsigned>(s.substr(colon + 1));
    if (!major || !minor) return std::nullopt;
    return makedev(*major, *minor);
}

void add_lowers(OverlayMount& m, const std::vector<std::string>& parts) {
    bool data = false;
    for (const std::string& p : parts) {
        if (p.empty()) {
            data = data || !m.lowers.empty();
            continue;
        }
        (data ? m.data_lowers : m.lowers).push_back(p);
    }
}

std::optional<std::string> single_path(std::string_view value) {
    auto parts = decode_overlay_value(value, false);
    if (!parts) return std::nullopt;
    return std::move(parts->front());
}

// Applies one "key=value" of the super options; false when a path is unusable.
bool apply_option(OverlayMount& m, std::string_view opt) {
    std::size_t eq = opt.find('=');
    if (eq == std::string_view::npos) return true;  // flags such as "rw", "volatile"
    std::string_view key = opt.substr(0, eq), value = opt.substr(eq + 1);
    if (key == "lowerdir") {
        auto parts = decode_overlay_value(value, true);
        if (!parts) return false;
        add_lowers(m, *parts);
    } else if (key == "lowerdir+" || key == "datadir+") {
        auto path = decode_octal(value);
        if (!path) return false;
        if (!path->empty()) (key == "datadir+" ? m.data_lowers : m.lowers).push_back(*path);
    } else if (key == "upperdir" || key == "workdir") {
        auto path = single_path(value);
        if (!path) return false;
        (key == "upperdir" ? m.upper : m.work) = std::move(*path);
    }
    return true;
}

bool apply_super_options(OverlayMount& m, std::string_view opts) {
    for (;;) {
        std::size_t comma = opts.find(',');
        if (!apply_option(m, opts.substr(0, comma))) return false;
        if (comma == std::string_view::npos) return true;
        opts.remove_prefix(comma + 1);
    }
}

// Position of the "-" that ends the optional fields (at index 6 or later).
std::optional<std::size_t> separator_index(const std::vector<std::string_view>& f) {
    for (std::size_t i = 6; i < f.size(); ++i)
        if (f[i] == "-") return i;
    return std::nullopt;
}

// One line; nullopt for malformed lines and for anything but an overlay.
std::optional<OverlayMount> parse_line(std::string_view line) {
    auto f = split_fields(line);
    if (!f || f->size() < 10) return std::nullopt;
    auto sep = separator_index(*f);
    if (!sep || *sep + 3 >= f->size() || (*f)[*sep + 1] != "overlay") return std::nullopt;
    OverlayMount m;
    auto id = parse_number<std::uint64_t>((*f)[0]);
    auto parent = parse_number<std::uint64_t>((*f)[1]);
    auto dev = parse_dev((*f)[2]);
    auto root = decode_octal((*f)[3]);
    auto point = decode_octal((*f)[4]);
    if (!id || !parent || !dev || !root || !point || point->empty() || point->front() != '/')
        return std::nullopt;
    if (!decode_octal((*f)[5])) return std::nullopt;  // per-mount options must decode too
    if (!apply_super_options(m, (*f)[*sep + 3])) return std::nullopt;
    m.mount_id = *id;
    m.dev = *dev;
    m.root = std::move(*root);
    m.mount_point = std::move(*point);
    return m;
}

std::optional<MountEntry> parse_entry(std::string_view line) {
    auto f = split_fields(line);
    if (!f || f->size() < 10) return std::nullopt;
    auto sep = separator_index(*f);
    if (!sep || *sep + 2 >= f->size()) return std::nullopt;
    auto id = parse_number<std::uint64_t>((*f)[0]);
    auto dev = parse_dev((*f)[2]);
    auto root = decode_octal((*f)[3]);
    auto point = decode_octal((*f)[4]);
    auto fstype = decode_octal((*f)[*sep + 1]);
    auto source = decode_octal((*f)[*sep + 2]);
    if (!id || !dev || !root || !point || !fstype || !source || point->empty() || point->front() != '/')
        return std::nullopt;
    MountEntry e{*id, *dev, std::move(*root), std::move(*point), std::move(*fstype), std::move(*source), false};
    std::string_view opts = (*f)[5];
    for (;;) {
        std::size_t comma = opts.find(',');
        if (opts.substr(0, comma) == "noexec") e.noexec = true;
        if (comma == std::string_view::npos) break;
        opts.remove_prefix(comma + 1);
    }
    return e;
}

bool under(std::string_view path, std::string_view dir) {
    return path == dir || (path.size() > dir.size() && path.starts_with(dir) && path[dir.size()] == '/');
}

}  // namespace

std::vector<MountEntry> parse_mount_entries(std::string_view text) {
    std::vector<MountEntry> out;
    while (!text.empty() && out.size() < kMaxOverlayMounts) {
        std::size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        if (auto e = parse_entry(line)) out.push_back(std::move(*e));
    }
    return out;
}

std::vector<CodeMount> code_mounts(const std::vector<MountEntry>& table) {
    static constexpr std::string_view kKernelFs[] = {
        "proc", "sysfs", "cgroup", "cgroup2", "devpts", "mqueue", "securityfs", "debugfs", "tracefs", "bpf",
        "pstore", "configfs", "fusectl", "binfmt_misc", "autofs", "nsfs", "devtmpfs", "hugetlbfs", "efivarfs",
        "selinuxfs", "rpc_pipefs", "nfsd"};
    std::vector<CodeMount> out;
    for (const auto& e : table) {
        if (e.mount_point == "/" || under(e.mount_point, "/proc") || under(e.mount_point, "/sys")) continue;
        bool kernel = false;
        for (auto fs : kKernelFs) kernel = kernel || e.fstype == fs;
        if (kernel) continue;
        out.push_back({e, e.fstype == "tmpfs" ? "tmpfs" : "volume"});
    }
    return out;
}

std::vector<OverlayMount> parse_mountinfo(std::string_view text) {
    std::vector<OverlayMount> out;
    while (!text.empty() && out.size() < kMaxOverlayMounts) {
        std::size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        if (auto m = parse_line(line)) out.push_back(std::move(*m));
    }
    return out;
}

base::Result<MountWatcher> MountWatcher::open() {
    int fd = ::open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return base::unexpected(base::Error::from_errno("open /proc/self/mountinfo"));
    return MountWatcher(base::UniqueFd(fd));
}

base::Result<MountWatcher> MountWatcher::open(pid_t pid) {
    std::string path = "/proc/" + std::to_string(pid) + "/mountinfo";
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return base::unexpected(base::Error::from_errno("open " + path));
    return MountWatcher(base::UniqueFd(fd));
}

// The kernel consumes the wakeup in poll() itself (it records the namespace's event
// counter there), so read() only has to return the table as it is now; reading from
// offset 0 makes the seq_file restart from the first mount.
base::Result<std::string> MountWatcher::read() {
    std::string out;
    char buf[65536];
    for (;;) {
        ssize_t n = ::pread(fd_.get(), buf, sizeof buf, static_cast<off_t>(out.size()));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return base::unexpected(base::Error::from_errno("read mountinfo"));
        if (n == 0) return out;
        out.append(buf, static_cast<std::size_t>(n));
        if (out.size() > kMaxTableBytes)
            return base::unexpected(base::Error::plain("mountinfo: larger than 64 MiB"));
    }
}

}  // namespace layerlock::discovery
