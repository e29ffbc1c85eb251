// SPDX-License-Identifier: Apache-2.0
// Privileged tests of layer import against the kernel's own overlay rules. Real
// layer directories are built with real whiteouts (char 0/0 and xattr whiteouts),
// opaque directories (trusted.overlay.opaque), FIFOs, sockets, devices, symlinks
// leading out of the tree, hostile names, a path longer than PATH_MAX and a 2 GiB
// sparse file; then a real read-only overlayfs is mounted over them and the
// baseline's effective entries must equal exactly what a walk of the merged mount
// shows (paths, types, link targets, and content hashes of regular files).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <dirent.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <future>
#include <map>
#include <string>

#include "layerlock/base/unique_fd.hpp"
#include "layerlock/baseline/image_facts.hpp"
#include "layerlock/baseline/store.hpp"
#include "layerlock/digest/sha256.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using layerlock::base::UniqueFd;
using namespace layerlock::baseline;
using layerlock::model::to_hex;

namespace {

const std::string kLongName = std::string(250, 'L');
const std::string kDeepDir = "deep";  // holds 17 levels of kLongName: a path > PATH_MAX
constexpr int kDeepLevels = 17;
constexpr off_t kSparseSize = off_t{2} << 30;

// What a path looks like, from the merged mount or from the baseline.
struct Seen {
    unsigned type = 0;       // S_IFMT bits
    std::string hash;        // regular files: hex SHA-256
    std::string target;      // symlinks
    bool operator==(const Seen&) const = default;
};
using View = std::map<std::string, Seen>;

std::string show(const View& v) {
    std::string out;
    for (const auto& [p, s] : v) out += p.substr(0, 120) + " type=" + std::to_string(s.type >> 12) + " " + s.hash + "\n";
    return out;
}

void put(const fs::path& p, const std::string& content) {
    UniqueFd fd(::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755));
    REQUIRE(fd.valid());
    REQUIRE(::write(fd.get(), content.data(), content.size()) == static_cast<ssize_t>(content.size()));
}

void whiteout(const fs::path& p) { REQUIRE(::mknod(p.c_str(), S_IFCHR | 0, makedev(0, 0)) == 0); }

void xattr(const fs::path& p, const char* name, const std::string& value) {
    REQUIRE(::lsetxattr(p.c_str(), name, value.data(), value.size(), 0) == 0);
}

void make_socket(const fs::path& p) {
    UniqueFd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(s.valid());
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    REQUIRE(p.string().size() < sizeof addr.sun_path);
    std::strcpy(addr.sun_path, p.c_str());
    REQUIRE(::bind(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
}

// kDeepLevels directories of 250-byte names, created fd by fd; a file at the bottom.
void make_deep(const fs::path& root) {
    fs::create_directory(root / kDeepDir);
    UniqueFd cur(::open((root / kDeepDir).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    for (int i = 0; i < kDeepLevels; ++i) {
        REQUIRE(::mkdirat(cur.get(), kLongName.c_str(), 0755) == 0);
        cur = UniqueFd(::openat(cur.get(), kLongName.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        REQUIRE(cur.valid());
    }
    UniqueFd f(::openat(cur.get(), "bottom", O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    REQUIRE(::write(f.get(), "deep", 4) == 4);
}

void make_bottom(const fs::path& l) {
    fs::create_directories(l / "bin");
    fs::create_directories(l / "etc");
    fs::create_directories(l / "opt/app");
    fs::create_directories(l / "var/cache/sub");
    fs::create_directories(l / "srv/x");
    fs::create_directories(l / "xw");
    put(l / "bin/sh", "old shell");
    put(l / "bin/ls", "ls binary");
    put(l / "etc/passwd", "root:x:0:0\n");
    put(l / "etc/secret", "lower secret");
    put(l / "opt/app/tool", "tool");
    put(l / "var/cache/a", "a");
    put(l / "var/cache/sub/b", "b");
    put(l / "srv/x/y", "y");
    put(l / "xw/gone", "xattr-whited-out");
    put(l / "xw/kept", "kept");
    put(l / "changed", "version 1");
    REQUIRE(::mkfifo((l / "fifo").c_str(), 0600) == 0);  // opening it would hang the import
    make_socket(l / "sock");
    REQUIRE(::mknod((l / "null").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0);
    REQUIRE(::mknod((l / "loop").c_str(), S_IFBLK | 0600, makedev(7, 0)) == 0);
    fs::create_symlink("/etc/shadow", l / "link-shadow");
    fs::create_symlink("/etc", l / "etc-link");
    fs::create_symlink("/does/not/exist", l / "dangling");
    put(l / "new\nline", "newline");
    put(l / "esc\x1b[31mred", "escape");
    put(l / "bad\xff\xfeutf8", "invalid utf-8");
    put(l / kLongName, "long name");
    make_deep(l);
    UniqueFd big(::open((l / "big.sparse").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    REQUIRE(::ftruncate(big.get(), kSparseSize) == 0);
    REQUIRE(::pwrite(big.get(), "middle", 6, kSparseSize / 2) == 6);
}

void make_middle(const fs::path& l) {
    fs::create_directories(l / "bin");
    fs::create_directories(l / "var/cache");
    fs::create_directories(l / "xw");
    whiteout(l / "opt");                                   // hides all of /opt below
    whiteout(l / "bin/ls");
    xattr(l / "var/cache", "trusted.overlay.opaque", "y");  // hides a, sub/b
    put(l / "var/cache/new", "fresh cache");
    put(l / "srv", "srv is a file now");                    // hides /srv/x/y
    put(l / "changed", "version 2");
    xattr(l / "xw", "trusted.overlay.opaque", "x");          // holds xattr whiteouts, not opaque
    put(l / "xw/gone", "");
    xattr(l / "xw/gone", "trusted.overlay.whiteout", "");
}

void make_top(const fs::path& l) {
    fs::create_directories(l / "bin");
    fs::create_directories(l / "opt");
    fs::create_directories(l / "etc");
    put(l / "bin/sh", "new shell");
    put(l / "opt/new", "re-created opt");
    whiteout(l / "etc/secret");
    fs::create_symlink("../etc/shadow", l / "bin/rel-link");
}

// umount on every way out of a test.
class Mount {
public:
    Mount(const fs::path& at, const std::string& lowers) : at_(at) {
        std::string opts = "lowerdir=" + lowers;
        ok_ = ::mount("overlay", at.c_str(), "overlay", MS_RDONLY, opts.c_str()) == 0;
        err_ = errno;
    }
    ~Mount() {
        if (ok_) ::umount2(at_.c_str(), MNT_DETACH);
    }
    Mount(const Mount&) = delete;
    Mount& operator=(const Mount&) = delete;
    bool ok() const { return ok_; }
    int err() const { return err_; }

private:
    fs::path at_;
    bool ok_ = false;
    int err_ = 0;
};

std::string hash_at(int dirfd, const char* name) {
    UniqueFd fd(::openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (!fd) return "open failed";
    auto d = layerlock::digest::sha256_fd(fd.get());
    return d ? to_hex(*d) : "hash failed";
}

// Walks a directory by fds (paths longer than PATH_MAX included), never following
// a symlink and never opening anything but directories and regular files.
void walk(int dirfd, const std::string& path, View& out) {
    UniqueFd own(::dup(dirfd));
    DIR* d = ::fdopendir(own.release());
    REQUIRE(d != nullptr);
    while (dirent* e = ::readdir(d)) {
        if (!std::strcmp(e->d_name, ".") || !std::strcmp(e->d_name, "..")) continue;
        struct stat st {};
        REQUIRE(::fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0);
        std::string p = path + "/" + e->d_name;
        Seen s{st.st_mode & S_IFMT, "", ""};
        if (S_ISREG(st.st_mode)) s.hash = hash_at(dirfd, e->d_name);
        if (S_ISLNK(st.st_mode)) {
            char buf[4096];
            ssize_t n = ::readlinkat(dirfd, e->d_name, buf, sizeof buf);
            REQUIRE(n >= 0);
            s.target.assign(buf, static_cast<std::size_t>(n));
        }
        out[p] = s;
        if (S_ISDIR(st.st_mode)) {
            UniqueFd sub(::openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            REQUIRE(sub.valid());
            walk(sub.get(), p, out);
        }
    }
    ::closedir(d);
}

View baseline_view(const std::vector<Entry>& entries) {
    View v;
    for (const Entry& e : entries) {
        Seen s{e.mode & S_IFMT, "", ""};
        if (e.kind == EntryKind::Regular) s.hash = to_hex(e.sha256);
        if (e.kind == EntryKind::Symlink) s.target = e.target;
        v[e.path] = s;
    }
    return v;
}

struct Fixture {
    layerlock::test::TempDir tmp;
    fs::path top, middle, bottom, merged;
    std::vector<std::string> lowers;
    Fixture() {
        top = tmp.path() / "top";
        middle = tmp.path() / "middle";
        bottom = tmp.path() / "bottom";
        merged = tmp.path() / "merged";
        for (const auto& p : {top, middle, bottom, merged}) fs::create_directories(p);
        make_bottom(bottom);
        make_middle(middle);
        make_top(top);
        lowers = {top.string(), middle.string(), bottom.string()};
    }
    std::string db() const { return (tmp.path() / "baseline.db").string(); }
};

// Imports every layer in a worker thread so that a hang (a FIFO opened) fails
// the test instead of blocking it forever.
void import_all(Store& store, const std::vector<std::string>& lowers) {
    auto job = std::async(std::launch::async, [&] {
        for (const auto& l : lowers) {
            auto r = store.import_layer(l, 2);
            if (!r) return r.error().message();
        }
        return std::string();
    });
    if (job.wait_for(std::chrono::seconds(120)) != std::future_status::ready) {
        FAIL_CHECK("import did not finish in 120 s: something blocked (a FIFO opened?)");
        std::_Exit(1);
    }
    std::string err = job.get();
    REQUIRE_MESSAGE(err.empty(), err);
}

}  // namespace

TEST_CASE("effective entries equal a walk of the real overlay mount") {
    layerlock::test::require_root();
    Fixture f;
    auto store = Store::open(f.db());
    REQUIRE(store);
    import_all(*store, f.lowers);
    Mount m(f.merged, f.top.string() + ":" + f.middle.string() + ":" + f.bottom.string());
    REQUIRE_MESSAGE(m.ok(), "mount overlay: " << std::strerror(m.err()));

    UniqueFd root(::open(f.merged.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    View merged;
    walk(root.get(), "", merged);
    View baseline = baseline_view(store->effective_entries(f.lowers));
    CHECK(merged.size() > 20);
    CHECK_MESSAGE(baseline == merged, "baseline:\n" << show(baseline) << "merged:\n" << show(merged));
}

TEST_CASE("lookup agrees with the mount for whited-out, opaque-hidden and present paths") {
    layerlock::test::require_root();
    Fixture f;
    auto store = Store::open(f.db());
    REQUIRE(store);
    import_all(*store, f.lowers);
    Mount m(f.merged, f.top.string() + ":" + f.middle.string() + ":" + f.bottom.string());
    REQUIRE(m.ok());
    UniqueFd root(::open(f.merged.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    const char* hidden[] = {"/bin/ls", "/opt/app", "/opt/app/tool", "/var/cache/a", "/var/cache/sub/b",
                            "/srv/x", "/srv/x/y", "/xw/gone", "/etc/secret"};
    for (const char* p : hidden) {
        struct stat st {};
        CHECK_MESSAGE(::fstatat(root.get(), p + 1, &st, AT_SYMLINK_NOFOLLOW) != 0, std::string(p));
        CHECK_MESSAGE(!store->lookup(f.lowers, p), std::string(p));
    }
    CHECK_FALSE(store->lookup(f.lowers, "/etc-link/passwd"));  // through a symlink: not a layer path
    const char* present[] = {"/bin/sh", "/bin/rel-link", "/opt", "/opt/new", "/var/cache/new", "/srv",
                             "/xw/kept", "/changed", "/etc/passwd", "/fifo", "/sock", "/null", "/loop",
                             "/link-shadow", "/big.sparse", "/new\nline", "/bad\xff\xfeutf8"};
    for (const char* p : present) {
        struct stat st {};
        REQUIRE_MESSAGE(::fstatat(root.get(), p + 1, &st, AT_SYMLINK_NOFOLLOW) == 0, std::string(p));
        auto e = store->lookup(f.lowers, p);
        REQUIRE_MESSAGE(e, std::string(p));
        CHECK_MESSAGE((e->mode & S_IFMT) == (st.st_mode & S_IFMT), std::string(p));
        if (S_ISREG(st.st_mode) && st.st_size < (1 << 20)) CHECK(to_hex(e->sha256) == hash_at(root.get(), p + 1));
    }
    CHECK(store->lookup(f.lowers, "/bin/sh")->layer == f.top.string());
    CHECK(store->lookup(f.lowers, "/changed")->layer == f.middle.string());
    CHECK(store->lookup(f.lowers, "/var/cache")->kind == EntryKind::OpaqueDirectory);
    CHECK(store->lookup(f.lowers, "/xw")->kind == EntryKind::Directory);
    CHECK(store->lookup(f.lowers, "/srv")->kind == EntryKind::Regular);
}

TEST_CASE("import never follows a symlink and never opens a FIFO, socket or device") {
    layerlock::test::require_root();
    Fixture f;
    auto store = Store::open(f.db());
    REQUIRE(store);
    import_all(*store, {f.bottom.string()});
    auto link = store->lookup({f.bottom.string()}, "/link-shadow");
    REQUIRE(link);
    CHECK(link->kind == EntryKind::Symlink);
    CHECK(link->target == "/etc/shadow");
    CHECK(link->sha256 == layerlock::model::Sha256{});
    CHECK_FALSE(store->lookup({f.bottom.string()}, "/etc-link/passwd"));
    for (const char* p : {"/fifo", "/sock", "/null", "/loop"}) {
        auto e = store->lookup({f.bottom.string()}, p);
        REQUIRE_MESSAGE(e, std::string(p));
        CHECK_MESSAGE(e->kind == EntryKind::Other, std::string(p));
    }
    auto wo = store->effective_entries({f.middle.string()});
    for (const auto& e : wo) CHECK_MESSAGE(e.kind != EntryKind::Whiteout, e.path);
}

TEST_CASE("hostile names, paths beyond PATH_MAX and a 2 GiB sparse file are recorded") {
    layerlock::test::require_root();
    Fixture f;
    auto store = Store::open(f.db());
    REQUIRE(store);
    import_all(*store, {f.bottom.string()});
    std::vector<std::string> one{f.bottom.string()};
    CHECK(store->lookup(one, "/new\nline"));
    CHECK(store->lookup(one, "/esc\x1b[31mred"));
    CHECK(store->lookup(one, "/bad\xff\xfeutf8"));
    CHECK(store->lookup(one, "/" + kLongName));
    std::string deep = "/" + kDeepDir;
    for (int i = 0; i < kDeepLevels; ++i) deep += "/" + kLongName;
    REQUIRE(deep.size() > PATH_MAX);
    auto bottom = store->lookup(one, deep + "/bottom");
    REQUIRE(bottom);
    CHECK(to_hex(bottom->sha256) == to_hex(layerlock::digest::sha256_bytes("deep", 4)));
    auto big = store->lookup(one, "/big.sparse");
    REQUIRE(big);
    CHECK(big->size == static_cast<std::uint64_t>(kSparseSize));
    UniqueFd fd(::open((f.bottom / "big.sparse").c_str(), O_RDONLY | O_CLOEXEC));
    CHECK(to_hex(big->sha256) == to_hex(*layerlock::digest::sha256_fd(fd.get())));
}

TEST_CASE("the image's file at a path, read from the layers before a baseline exists, agrees with the mount") {
    // Whiteouts of both kinds (a 0/0 device and a zero-size file with the xattr)
    // and opaque directories hide what is below them, as overlayfs reads them.
    layerlock::test::require_root();
    Fixture f;
    Mount m(f.merged, f.top.string() + ":" + f.middle.string() + ":" + f.bottom.string());
    REQUIRE(m.ok());
    std::vector<UniqueFd> fds;
    for (const auto& l : f.lowers) fds.emplace_back(::open(l.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    const ImageLayers layers{f.lowers, fds};
    UniqueFd root(::open(f.merged.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    for (const char* p : {"/bin/ls", "/opt/app/tool", "/var/cache/a", "/var/cache/sub/b", "/xw/gone", "/etc/secret"}) {
        auto img = image_file(f.db(), layers, p);
        CHECK_MESSAGE(img.known, std::string(p));
        CHECK_FALSE_MESSAGE(img.present, std::string(p));
    }
    for (const char* p : {"/bin/sh", "/var/cache/new", "/xw/kept", "/changed", "/etc/passwd", "/srv"}) {
        struct stat st {};
        REQUIRE_MESSAGE(::fstatat(root.get(), p + 1, &st, AT_SYMLINK_NOFOLLOW) == 0, std::string(p));
        auto img = image_file(f.db(), layers, p);
        CHECK_MESSAGE(img.present, std::string(p));
        CHECK_MESSAGE(img.size == static_cast<std::uint64_t>(st.st_size), std::string(p));
        CHECK_FALSE(img.digest);   // no baseline yet: compared byte for byte by the gate
    }
}

TEST_CASE("a layer that cannot be read at a path makes the image's file there unknown, never absent") {
    // Before, a failed read of a layer counted as "no entry": with the middle
    // layer unreadable, /xw/gone (whited out there) read as the bottom layer's file,
    // and /changed (the middle layer's) as absent: an image file judged new drift.
    layerlock::test::require_root();
    Fixture f;
    std::vector<UniqueFd> fds;
    for (const auto& l : f.lowers) fds.emplace_back(::open(l.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    const ImageLayers layers{f.lowers, fds};
    const char* paths[] = {"/xw/gone", "/changed", "/var/cache/a"};
    for (const char* p : paths) CHECK_MESSAGE(image_file(f.db(), layers, p).known, std::string(p));
    fds[1] = UniqueFd();   // no fd: every read of the middle layer fails (EBADF)
    for (const char* p : paths) CHECK_FALSE_MESSAGE(image_file(f.db(), layers, p).known, std::string(p));
}
