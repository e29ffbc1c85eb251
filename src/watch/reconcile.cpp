// SPDX-License-Identifier: Apache-2.0
#include "layerlock/watch/reconcile.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "layerlock/base/escape.hpp"
#include "layerlock/base/fs.hpp"
#include "layerlock/baseline/overlay_format.hpp"
#include "layerlock/digest/sha256.hpp"
#include "layerlock/watch/packages.hpp"

namespace layerlock::watch {
namespace {

FileType type_of(const struct stat& st) {
    if (S_ISREG(st.st_mode)) return FileType::Regular;
    if (S_ISDIR(st.st_mode)) return FileType::Directory;
    if (S_ISLNK(st.st_mode)) return FileType::Symlink;
    if (S_ISFIFO(st.st_mode)) return FileType::Fifo;
    if (S_ISSOCK(st.st_mode)) return FileType::Socket;
    if (S_ISCHR(st.st_mode)) return baseline::overlay::whiteout_device(st) ? FileType::Whiteout : FileType::CharDevice;
    return FileType::BlockDevice;
}

std::string mode_text(std::uint32_t m) {
    char b[8];
    std::snprintf(b, sizeof b, "%04o", m & 07777);
    return b;
}

// A zero-size regular file with the overlay whiteout xattr is a whiteout too.
bool xattr_whiteout(int dirfd, const char* name, const struct stat& st) {
    if (!S_ISREG(st.st_mode) || st.st_size != 0) return false;
    auto fd = base::open_beneath(dirfd, name, O_PATH);
    return fd && baseline::overlay::whiteout_xattr(fd->get(), st);
}

// Hashes a regular upper file through an fd opened beneath its directory, after
// checking it is still the inode that was listed. Also reads its ELF magic.
void hash_regular(int dirfd, const char* name, const struct stat& st, const ScanLimits& limits, FileChange& fc) {
    auto fd = base::open_beneath(dirfd, name, O_RDONLY | O_NONBLOCK);
    if (!fd) return;
    struct stat now{};
    if (::fstat(fd->get(), &now) != 0 || !S_ISREG(now.st_mode) || now.st_ino != st.st_ino) return;
    char magic[4] = {};
    if (::pread(fd->get(), magic, 4, 0) == 4 && std::memcmp(magic, "\x7f" "ELF", 4) == 0) fc.executable = true;
    if (limits.known_digest)
        if (auto known = limits.known_digest(now)) {
            fc.sha256 = *known;
            return;
        }
    // Larger than the bound: reported without a digest, and not read at all (a
    // 10 GiB sparse file used to be read up to the bound on every pass).
    if (static_cast<std::uint64_t>(now.st_size) > limits.max_hash_bytes) return;
    digest::HashLimits hl;
    hl.max_bytes = limits.max_hash_bytes;
    if (auto d = digest::sha256_fd(fd->get(), hl)) fc.sha256 = *d;
}

class Walker {
public:
    Walker(const ImageLookup& image, const ScanLimits& limits) : image_(image), limits_(limits) {}
    base::Result<void> walk(int dirfd, const std::string& dir_path, unsigned depth = 0);
    std::vector<FileChange> take() { return std::move(out_); }

private:
    void visit(int dirfd, const char* name, const std::string& path, const struct stat& st);
    const ImageLookup& image_;
    const ScanLimits& limits_;
    std::vector<FileChange> out_;
    std::uint64_t seen_ = 0;
    bool stopped_ = false;   // max_entries reached: nothing more is walked
};

// How one upper entry differs from the image's file at the same path.
FileChange examine_entry(int dirfd, const char* name, const std::string& path, const struct stat& st,
                         const ImageLookup& image, const ScanLimits& limits) {
    FileChange fc;
    fc.path = path;
    fc.type = type_of(st);
    fc.mode = st.st_mode;
    fc.size = static_cast<std::uint64_t>(st.st_size);
    fc.executable = (st.st_mode & 0111) != 0 && fc.type == FileType::Regular;
    auto in_image = image(path);
    if (in_image) fc.image_mode = in_image->mode;
    if (fc.type == FileType::Whiteout || xattr_whiteout(dirfd, name, st)) {
        fc.type = FileType::Whiteout;
        fc.mode = 0;
        fc.change = Change::Deleted;
        fc.executable = false;
        return fc;
    }
    if (fc.type == FileType::Regular) hash_regular(dirfd, name, st, limits, fc);
    if (!in_image) {
        fc.change = Change::Added;
    } else if (fc.type == FileType::Regular && in_image->kind == baseline::EntryKind::Regular) {
        bool same = fc.sha256 && *fc.sha256 == in_image->sha256;
        fc.change = same ? Change::Metadata : Change::Modified;
    } else if (fc.type == FileType::Directory && (in_image->kind == baseline::EntryKind::Directory ||
                                  in_image->kind == baseline::EntryKind::OpaqueDirectory)) {
        fc.change = Change::Metadata;
    } else {
        fc.change = Change::Modified;   // type changed, or a link/special file replaced
    }
    if (in_image && (in_image->mode & 07777) != (st.st_mode & 07777))
        fc.detail = "mode " + mode_text(in_image->mode) + " -> " + mode_text(st.st_mode);
    else if (fc.change == Change::Metadata)
        fc.detail = fc.type == FileType::Directory ? "directory entries changed" : "owner or timestamps changed";
    return fc;
}

void Walker::visit(int dirfd, const char* name, const std::string& path, const struct stat& st) {
    out_.push_back(examine_entry(dirfd, name, path, st, image_, limits_));
}

// One open directory fd per level: the depth is bounded so that a hostile tree
// cannot exhaust the daemon's fds or stack; deeper entries are reported once.
constexpr unsigned kMaxDepth = 256;

base::Result<void> Walker::walk(int dirfd, const std::string& dir_path, unsigned depth) {
    if (depth >= kMaxDepth) {
        FileChange fc;
        fc.path = dir_path;
        fc.type = FileType::Directory;
        fc.change = Change::Modified;
        fc.detail = "not scanned below: deeper than " + std::to_string(kMaxDepth) + " levels";
        out_.push_back(std::move(fc));
        return {};
    }
    auto dup = base::open_beneath(dirfd, ".", O_RDONLY | O_DIRECTORY);
    if (!dup) return base::unexpected(dup.error());
    DIR* dir = ::fdopendir(dup->release());
    if (!dir) return base::unexpected(base::Error::from_errno("fdopendir"));
    std::vector<std::string> subdirs;
    while (dirent* de = ::readdir(dir)) {
        if (!std::strcmp(de->d_name, ".") || !std::strcmp(de->d_name, "..")) continue;
        if (limits_.cancel && limits_.cancel->load(std::memory_order_relaxed)) {
            ::closedir(dir);
            return base::unexpected(base::Error::plain("cancelled"));
        }
        if (++seen_ > limits_.max_entries) {
            FileChange fc;
            fc.path = dir_path.empty() ? "/" : dir_path;
            fc.type = FileType::Directory;
            fc.change = Change::Modified;
            fc.detail = "not scanned from here on: more than " + std::to_string(limits_.max_entries) +
                        " entries in the writable layer (what was scanned is reported; the live watch continues)";
            out_.push_back(std::move(fc));
            stopped_ = true;
            break;
        }
        struct stat st{};
        if (::fstatat(::dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;   // gone meanwhile
        std::string path = dir_path + "/" + de->d_name;
        visit(::dirfd(dir), de->d_name, path, st);
        if (S_ISDIR(st.st_mode)) subdirs.push_back(de->d_name);
    }
    int fd = ::dirfd(dir);
    for (const auto& name : subdirs) {
        if (stopped_) break;
        auto sub = base::open_beneath(fd, name, O_RDONLY | O_DIRECTORY);
        if (!sub) continue;   // removed or replaced since listed
        if (auto r = walk(sub->get(), dir_path + "/" + name, depth + 1); !r) {
            ::closedir(dir);
            return r;
        }
    }
    ::closedir(dir);
    return {};
}

}  // namespace


namespace {

std::string read_beneath(int dirfd, const std::string& path) {
    constexpr std::size_t kMax = 64u << 20;
    auto fd = base::open_beneath(dirfd, path, O_RDONLY | O_NONBLOCK);
    struct stat st{};
    if (!fd || ::fstat(fd->get(), &st) != 0 || !S_ISREG(st.st_mode)) return {};
    std::string out;
    char buf[65536];
    for (ssize_t n; (n = ::read(fd->get(), buf, sizeof buf)) > 0 && out.size() < kMax;)
        out.append(buf, static_cast<std::size_t>(n));
    return out;
}

}  // namespace

std::optional<FileChange> examine(int upper_fd, const std::string& path, const ImageLookup& image,
                                  const ScanLimits& limits) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos || slash + 1 >= path.size()) return std::nullopt;
    auto dir = base::open_beneath(upper_fd, path.substr(0, slash), O_RDONLY | O_DIRECTORY);
    if (!dir) return std::nullopt;
    std::string name = path.substr(slash + 1);
    struct stat st{};
    if (::fstatat(dir->get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return std::nullopt;
    return examine_entry(dir->get(), name.c_str(), path, st, image, limits);
}

std::vector<PackageChange> package_changes(int upper_fd, const std::string& path, const std::string& image_layer) {
    auto parse = package_parser_for(path);
    if (!parse) return {};
    std::string before;
    if (!image_layer.empty()) {
        base::UniqueFd layer(::open(image_layer.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (layer) before = read_beneath(layer.get(), path);
    }
    return diff_packages(parse(before), parse(read_beneath(upper_fd, path)));
}

base::Result<std::vector<FileChange>> reconcile(int upper_fd, const ImageLookup& image, const ScanLimits& limits) {
    Walker w(image, limits);
    if (auto r = w.walk(upper_fd, ""); !r) return base::unexpected(r.error());
    auto out = w.take();
    std::sort(out.begin(), out.end(), [](const FileChange& a, const FileChange& b) { return a.path < b.path; });
    return out;
}

}  // namespace layerlock::watch
