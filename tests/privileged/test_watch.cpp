// SPDX-License-Identifier: Apache-2.0
// The reconcile scan on a real overlay mount: every change kind, and hostile
// content in the writable layer (symlinks out of the container, FIFOs, sockets,
// devices, hostile names, a huge sparse file, a very deep tree): no hang, no
// read outside the layer, every entry reported.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <atomic>
#include <map>
#include <thread>

#include "layerlock/base/unique_fd.hpp"
#include "layerlock/baseline/store.hpp"
#include "layerlock/digest/sha256.hpp"
#include "layerlock/watch/reconcile.hpp"
#include "overlay_fixture.hpp"

using namespace layerlock;
namespace fs = std::filesystem;

namespace {

struct Scan {
    test::OverlayFixture fx{{"bin/busybox", "bin/cat", "etc/passwd"}};
    test::TempDir db;
    std::optional<baseline::Store> store;

    Scan() {
        test::require_root();
        REQUIRE(fx.mounted());
        auto s = baseline::Store::open(db.str() + "/b.db");
        REQUIRE(s);
        store.emplace(std::move(*s));
        REQUIRE(store->import_layer(fx.lower(), 2));
    }
    std::map<std::string, watch::FileChange> run(const watch::ScanLimits& limits = {}) {
        base::UniqueFd upper(::open(fx.upper().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        std::vector<std::string> lowers = {fx.lower()};
        auto changes = watch::reconcile(upper.get(), [&](std::string_view p) { return store->lookup(lowers, p); }, limits);
        REQUIRE(changes);
        std::map<std::string, watch::FileChange> by_path;
        for (auto& c : *changes) by_path[c.path] = c;
        return by_path;
    }
    void write(const std::string& rel, const std::string& text, bool append = false) {
        std::ofstream f(fx.at(rel), append ? std::ios::app : std::ios::trunc);
        f << text;
    }
};

}  // namespace

TEST_CASE("each change kind is reported as docker diff would list it") {
    Scan s;
    s.write("tmp/new", "n");
    s.write("etc/passwd", "evil:x:0:0::/:/bin/sh\n", true);
    REQUIRE(::chmod(s.fx.at("bin/busybox").c_str(), 04755) == 0);
    REQUIRE(::unlink(s.fx.at("bin/cat").c_str()) == 0);
    auto r = s.run();
    REQUIRE(r.count("/tmp/new"));
    CHECK(r["/tmp/new"].change == watch::Change::Added);
    CHECK(r["/tmp"].change == watch::Change::Metadata);            // docker diff: C /tmp
    CHECK(r["/etc/passwd"].change == watch::Change::Modified);
    CHECK(r["/bin/busybox"].change == watch::Change::Metadata);    // same content, new mode
    CHECK(r["/bin/busybox"].detail == "mode 0755 -> 4755");
    CHECK(r["/bin/cat"].change == watch::Change::Deleted);
    CHECK(r.size() == 7);                                          // + the /tmp, /etc, /bin directories
}

TEST_CASE("a file version already hashed elsewhere is taken, not hashed again") {
    Scan s;
    s.write("tmp/dropped", "dropped binary");
    s.write("tmp/other", "other file");
    struct stat dropped{};
    REQUIRE(::stat(s.fx.at("tmp/dropped").c_str(), &dropped) == 0);
    model::Sha256 known{};
    known.fill(0xab);   // not the content's digest: proves where the answer came from
    std::vector<ino_t> asked;
    watch::ScanLimits limits;
    limits.known_digest = [&](const struct stat& st) -> std::optional<model::Sha256> {
        asked.push_back(st.st_ino);
        if (st.st_ino == dropped.st_ino && st.st_size == dropped.st_size &&
            st.st_ctim.tv_nsec == dropped.st_ctim.tv_nsec)
            return known;
        return std::nullopt;
    };
    auto r = s.run(limits);
    REQUIRE(r["/tmp/dropped"].sha256);
    CHECK(*r["/tmp/dropped"].sha256 == known);
    REQUIRE(r["/tmp/other"].sha256);
    CHECK(*r["/tmp/other"].sha256 == digest::sha256_bytes("other file", 10));   // unknown: hashed here
    CHECK(std::count(asked.begin(), asked.end(), dropped.st_ino) == 1);
    s.write("tmp/dropped", "changed", true);   // a new version: the known digest no longer applies
    r = s.run(limits);
    CHECK(*r["/tmp/dropped"].sha256 == digest::sha256_bytes("dropped binarychanged", 21));
}

TEST_CASE("hostile entries are listed, never followed or opened") {
    Scan s;
    REQUIRE(::symlink("/etc/shadow", s.fx.at("tmp/out").c_str()) == 0);
    REQUIRE(::mkfifo(s.fx.at("tmp/fifo").c_str(), 0644) == 0);
    REQUIRE(::mknod(s.fx.at("tmp/mem").c_str(), S_IFCHR | 0600, makedev(1, 1)) == 0);
    int sock = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string sp = s.fx.at("tmp/sock");
    REQUIRE(sp.size() < sizeof addr.sun_path);
    sp.copy(addr.sun_path, sp.size());
    REQUIRE(::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    const std::string hostile = "tmp/a\x1b[31mb\nc\xff";
    s.write(hostile, "x");
    auto r = s.run();
    ::close(sock);
    CHECK(r["/tmp/out"].type == watch::FileType::Symlink);
    CHECK_FALSE(r["/tmp/out"].sha256);                 // the link's target was not read
    CHECK(r["/tmp/fifo"].type == watch::FileType::Fifo);                 // and the FIFO did not hang the scan
    CHECK(r["/tmp/mem"].type == watch::FileType::CharDevice);
    CHECK_FALSE(r["/tmp/mem"].sha256);
    CHECK(r["/tmp/sock"].type == watch::FileType::Socket);
    REQUIRE(r.count("/" + hostile));
    CHECK(r["/" + hostile].sha256 == digest::sha256_bytes("x", 1));
}

TEST_CASE("a huge sparse file is reported without reading past the hash limit") {
    Scan s;
    s.write("tmp/sparse", "");
    REQUIRE(::truncate(s.fx.at("tmp/sparse").c_str(), 3LL << 30) == 0);
    watch::ScanLimits limits;
    limits.max_hash_bytes = 1 << 20;
    auto r = s.run(limits);
    CHECK(r["/tmp/sparse"].size == (3ull << 30));
    CHECK_FALSE(r["/tmp/sparse"].sha256);
}

TEST_CASE("a very deep tree is cut at the depth bound and said so") {
    Scan s;
    int fd = ::open(s.fx.merged().c_str(), O_RDONLY | O_DIRECTORY);
    for (int i = 0; i < 300; ++i) {
        REQUIRE(::mkdirat(fd, "d", 0755) == 0);
        int next = ::openat(fd, "d", O_RDONLY | O_DIRECTORY);
        ::close(fd);
        fd = next;
    }
    ::close(fd);
    auto r = s.run();
    bool cut = false;
    for (const auto& [p, c] : r) cut |= c.detail.find("not scanned below") != std::string::npos;
    CHECK(cut);
    CHECK(r.size() < 300);
}

TEST_CASE("past the entry limit the scan reports what it compared and where it stopped, never nothing") {
    Scan s;
    s.write("bin/dropped", "#!/bin/sh\n");
    for (int i = 0; i < 20; ++i) s.write("tmp/f" + std::to_string(i), "x");
    watch::ScanLimits limits;
    limits.max_entries = 10;
    auto by_path = s.run(limits);   // a success, not an error
    std::size_t marker = 0, files = 0;
    for (const auto& [path, c] : by_path) {
        if (c.detail.find("not scanned from here on: more than 10 entries") != std::string::npos) ++marker;
        else ++files;
    }
    CHECK(marker == 1);
    CHECK(files >= 1);
    CHECK(files <= 10);
}

TEST_CASE("a scan is cancelled at the next entry once the stop flag is set") {
    Scan s;
    for (int i = 0; i < 50; ++i) s.write("tmp/f" + std::to_string(i), "x");
    base::UniqueFd upper(::open(s.fx.upper().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    std::atomic<bool> stop{true};
    watch::ScanLimits limits;
    limits.cancel = &stop;
    auto r = watch::reconcile(upper.get(), [](std::string_view) { return std::optional<baseline::Entry>(); }, limits);
    REQUIRE_FALSE(r);
    CHECK(r.error().message() == "cancelled");
    stop = false;
    CHECK(watch::reconcile(upper.get(), [](std::string_view) { return std::optional<baseline::Entry>(); }, limits));
}

TEST_CASE("a file that keeps changing while it is hashed neither crashes nor stalls the scan") {
    Scan s;
    s.write("tmp/growing", std::string(1 << 20, 'a'));
    std::atomic<bool> stop{false};
    std::thread writer([&] {
        for (int i = 0; !stop && i < 200000; ++i) {
            std::ofstream f(s.fx.at("tmp/growing"), i % 2 ? std::ios::app : std::ios::trunc);
            f << std::string(4096, static_cast<char>('a' + i % 26));
        }
    });
    for (int round = 0; round < 20; ++round) {
        auto r = s.run();
        REQUIRE(r.count("/tmp/growing"));
        CHECK(r["/tmp/growing"].change == watch::Change::Added);
    }
    stop = true;
    writer.join();
}

TEST_CASE("a path of more than 4096 bytes is scanned and reported whole") {
    Scan s;
    int fd = ::open(s.fx.merged().c_str(), O_RDONLY | O_DIRECTORY);
    const std::string name(250, 'n');
    std::string expect;
    for (int i = 0; i < 18; ++i) {                 // 18 * 251 = 4518 bytes
        REQUIRE(::mkdirat(fd, name.c_str(), 0755) == 0);
        int next = ::openat(fd, name.c_str(), O_RDONLY | O_DIRECTORY);
        ::close(fd);
        fd = next;
        expect += "/" + name;
    }
    int f = ::openat(fd, "leaf", O_WRONLY | O_CREAT, 0644);
    REQUIRE(f >= 0);
    ::close(f);
    ::close(fd);
    expect += "/leaf";
    auto r = s.run();
    REQUIRE(r.count(expect));
    CHECK(expect.size() > 4096);
    CHECK(r[expect].change == watch::Change::Added);
}
