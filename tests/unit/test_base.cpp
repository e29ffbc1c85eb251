// SPDX-License-Identifier: Apache-2.0
// Unit tests of the base layer: escaping of hostile names, fd ownership, beneath-only opens.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <filesystem>
#include <vector>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "layerlock/base/escape.hpp"
#include "layerlock/base/fs.hpp"
#include "layerlock/base/proc_stat.hpp"
#include "layerlock/base/thread.hpp"
#include "layerlock/base/unique_fd.hpp"
#include "layerlock/base/work_queue.hpp"
#include "layerlock/model/types.hpp"
#include "test_support.hpp"

using namespace layerlock;

TEST_CASE("escape turns control characters and invalid UTF-8 into visible escapes") {
    CHECK(base::escape("/tmp/evil") == "/tmp/evil");
    CHECK(base::escape("a\nb") == "a\\nb");
    CHECK(base::escape("\x1b[31mred") == "\\x1b[31mred");
    CHECK(base::escape("bad\xff\xfe") == "bad\\xff\\xfe");
    CHECK(base::escape("caf\xc3\xa9") == "caf\xc3\xa9");            // valid UTF-8 kept
    CHECK(base::escape("\xc0\xaf") == "\\xc0\\xaf");                 // overlong form rejected
    CHECK(base::escape("\xed\xa0\x80") == "\\xed\\xa0\\x80");        // surrogate rejected
    CHECK(base::escape("back\\slash") == "back\\\\slash");
}

TEST_CASE("escape never leaves a quote that could end a quoted field") {
    CHECK(base::escape("/tmp/q\" severity=info x=\"y") == "/tmp/q\\\" severity=info x=\\\"y");
    CHECK(base::escape("a\"b").find('"') == 1 + 1);   // only as the second char of \"
}

TEST_CASE("json_escape yields a string that stays valid JSON for any bytes") {
    CHECK(base::json_escape("a\"b") == "a\\\\\\\"b");     // escape: a\"b, then JSON: a\\\"b
    CHECK(base::json_escape("\x01") == "\\\\x01");
    CHECK(base::json_escape("x\xff") == "x\\\\xff");
    CHECK(base::json_escape("line\nfeed") == "line\\\\nfeed");
}

TEST_CASE("quote_if_needed quotes a name exactly when a column could not hold it as is") {
    CHECK(base::quote_if_needed("/etc/passwd") == "/etc/passwd");
    CHECK(base::quote_if_needed("/tmp/a b") == "\"/tmp/a b\"");
    CHECK(base::quote_if_needed("/tmp/q\"x") == "\"/tmp/q\\\"x\"");
    CHECK(base::quote_if_needed("a\nb") == "\"a\\nb\"");
    CHECK(base::quote_if_needed("") == "\"\"");
}

TEST_CASE("unescape gives back the raw bytes of every escaped string") {
    const std::string hostile[] = {"plain", "q\"uote", "eq=sign and space", "new\nline", "\x1b[31mansi",
                                   std::string("nul\0byte", 8), "bad\xff\xfe", "back\\slash\\x41", "caf\xc3\xa9",
                                   "tab\tcr\r\x7f"};
    for (const auto& raw : hostile) {
        auto back = base::unescape(base::escape(raw));
        REQUIRE(back.has_value());
        CHECK(*back == raw);
    }
    CHECK_FALSE(base::unescape("dangling\\").has_value());
    CHECK_FALSE(base::unescape("raw\"quote").has_value());
    CHECK_FALSE(base::unescape("short\\x4").has_value());
}

TEST_CASE("UniqueFd closes its descriptor exactly once and transfers on move") {
    int raw = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    REQUIRE(raw >= 0);
    {
        base::UniqueFd a(raw);
        base::UniqueFd b(std::move(a));
        CHECK_FALSE(a.valid());
        CHECK(b.get() == raw);
    }
    CHECK(::fcntl(raw, F_GETFD) == -1);
}

TEST_CASE("open_beneath never follows a symlink out of the directory") {
    test::TempDir dir;
    std::ofstream(dir.path() / "inside") << "x";
    REQUIRE(::symlink("/etc/passwd", (dir.path() / "escape").c_str()) == 0);
    REQUIRE(::mkdir((dir.path() / "sub").c_str(), 0755) == 0);
    REQUIRE(::symlink("../inside", (dir.path() / "sub" / "up").c_str()) == 0);
    auto root = base::open_dir(dir.str());
    REQUIRE(root);
    CHECK(base::open_beneath(root->get(), "/inside", O_RDONLY));
    CHECK_FALSE(base::open_beneath(root->get(), "/escape", O_RDONLY));
    CHECK_FALSE(base::open_beneath(root->get(), "/sub/up", O_RDONLY));
    CHECK_FALSE(base::open_beneath(root->get(), "/../etc/passwd", O_RDONLY));
}

TEST_CASE("same_content compares two files byte for byte over their whole size") {
    test::TempDir dir;
    std::string big(700 * 1024 + 13, 'a');                // more than two comparison chunks
    for (std::size_t i = 0; i < big.size(); i += 4093) big[i] = static_cast<char>(i % 251);
    auto write = [&](const char* name, const std::string& bytes) {
        std::ofstream(dir.path() / name, std::ios::binary) << bytes;
        return base::UniqueFd(::open((dir.path() / name).c_str(), O_RDONLY | O_CLOEXEC));
    };
    auto a = write("a", big);
    auto same = write("same", big);
    std::string last = big;
    last.back() = 'z';
    auto differs_last = write("last", last);
    auto shorter = write("short", big.substr(0, big.size() - 1));
    const auto size = static_cast<std::uint64_t>(big.size());
    auto compare = [&](int x, int y, std::uint64_t n) {
        auto r = base::same_content(x, y, n);
        REQUIRE(r);
        return *r;
    };
    CHECK(compare(a.get(), same.get(), size));
    CHECK_FALSE(compare(a.get(), differs_last.get(), size));
    CHECK_FALSE(compare(a.get(), shorter.get(), size));     // ends early: not the same
    CHECK_FALSE(compare(shorter.get(), a.get(), size));
    CHECK(compare(a.get(), same.get(), 0));
    CHECK(::lseek(a.get(), 0, SEEK_CUR) == 0);                             // offsets untouched
    auto late = base::same_content(a.get(), same.get(), size, std::chrono::steady_clock::now() - std::chrono::seconds(1));
    REQUIRE_FALSE(late);
    CHECK(late.error().code == std::errc::timed_out);
}

TEST_CASE("hex digests round-trip and reject malformed text") {
    model::Sha256 d{};
    for (std::size_t i = 0; i < d.size(); ++i) d[i] = static_cast<std::uint8_t>(i * 7);
    auto hex = model::to_hex(d);
    CHECK(hex.size() == 64);
    CHECK(model::sha256_from_hex(hex) == d);
    CHECK_FALSE(model::sha256_from_hex("abc"));
    CHECK_FALSE(model::sha256_from_hex(std::string(64, 'g')));
}

TEST_CASE("a background thread is named and lowered to nice +10 alone; threads it starts inherit it") {
    errno = 0;
    const int before = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()));
    REQUIRE(errno == 0);
    if (before > 10 && ::geteuid() != 0) {   // raising priority back needs privilege
        MESSAGE("the test runs above nice 10 without privilege: nothing to check");
        return;
    }
    int own = -100, child = -100;
    bool ok = false;
    char name[16] = {};
    std::thread t([&] {
        ok = layerlock::base::become_background_thread("ll-test-background-name");
        own = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()));
        ::pthread_getname_np(::pthread_self(), name, sizeof name);
        std::thread([&] { child = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid())); }).join();
    });
    t.join();
    CHECK(ok);
    CHECK(own == 10);
    CHECK(child == 10);
    CHECK(std::string(name) == "ll-test-backgro");                               // cut to 15 bytes
    CHECK(::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid())) == before);   // the caller is untouched
}

TEST_CASE("the work queue: bounded, drained or dropped on stop, deadlines, waiting for room") {
    using Q = base::WorkQueue<std::shared_ptr<int>>;
    Q q;
    auto item = [](int v) { return std::make_shared<int>(v); };
    CHECK(q.push(item(1), 2));
    CHECK(q.push(item(2), 2));
    CHECK_FALSE(q.push(item(3), 2));   // full
    CHECK(q.size() == 2);
    auto one = q.pop();
    REQUIRE(one);
    CHECK(**one == 1);

    bool stopped = true;
    auto t0 = Q::Clock::now();
    auto got = q.pop_until(t0 + std::chrono::milliseconds(50), &stopped);
    REQUIRE(got);
    CHECK(**got == 2);
    CHECK_FALSE(stopped);
    got = q.pop_until(Q::Clock::now() + std::chrono::milliseconds(30), &stopped);
    CHECK_FALSE(got);   // the deadline passed
    CHECK_FALSE(stopped);

    // Waiting for room: the consumer's pop makes it; a cancel ends the wait unqueued.
    CHECK(q.push(item(4), 1));
    std::thread consumer([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        (void)q.pop();
    });
    CHECK(q.push_wait(item(5), 1));
    consumer.join();
    std::atomic<bool> cancel{true};
    CHECK_FALSE(q.push_wait(item(6), 1, &cancel));
    auto all = q.pop_all_until(Q::Clock::now(), &stopped);
    REQUIRE(all.size() == 1);
    CHECK(*all.front() == 5);

    // Stopped with drain: still handed out, then nothing; without: destroyed at once.
    auto kept = item(7);
    CHECK(q.push(kept));
    q.stop(/*drain=*/true);
    CHECK_FALSE(q.push(item(8)));   // refused once stopped
    got = q.pop();
    REQUIRE(got);
    CHECK(**got == 7);
    CHECK_FALSE(q.pop());
    Q dropped;
    auto watched = item(9);
    CHECK(dropped.push(watched));
    CHECK(watched.use_count() == 2);
    dropped.stop();
    CHECK(watched.use_count() == 1);   // the queue's copy destroyed by stop()
    CHECK_FALSE(dropped.pop());
    CHECK_FALSE(dropped.sleep_for(std::chrono::milliseconds(1000)));   // returns at once: stopped
}

TEST_CASE("/proc/<pid>/stat: comm ends at the last ')', whatever it holds; a cut line is refused") {
    constexpr const char* kTail = " 0 0 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 123456 1000 10";
    auto p = base::parse_proc_stat(std::string("4242 (a) b (c)) S 17") + kTail);
    REQUIRE(p);
    CHECK(p->comm == "a) b (c)");
    CHECK(p->state == 'S');
    CHECK(p->ppid == 17);
    CHECK(p->start_time == 123456);
    CHECK_FALSE(base::parse_proc_stat("4242 (sh) S 17 0 0"));   // no start time
    CHECK_FALSE(base::parse_proc_stat("4242 sh S 17"));
    // This process, read for real: its own start time, parent and name.
    auto self = base::read_proc_stat(::getpid());
    REQUIRE(self);
    CHECK(self->ppid == ::getppid());
    CHECK(self->start_time > 0);
    CHECK(self->state == 'R');
    CHECK_FALSE(base::read_proc_stat(-1));
}

namespace {

// What open_beneath answers for each path of a small tree: "ok:<content>" or the
// errno's name. Run once with openat2 and once where a seccomp filter refuses it
// with ENOSYS (as systemd's RestrictSUIDSGID= does): the answers must agree.
std::vector<std::string> beneath_answers(const std::filesystem::path& root_path, const std::string& long_path) {
    base::UniqueFd root(::open(root_path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    const std::vector<std::string> paths = {
        "/a/b/file", "a/./b//file", "a/link/passwd", "a/link", "a/rel/etc/passwd", "a/rel", "../escape",
        "a/b/../../../escape", "mnt/inside", "mnt", "a/b", long_path, "a/b/missing", "a/b/file/x"};
    std::vector<std::string> out;
    for (const auto& p : paths) {
        auto fd = base::open_beneath(root.get(), p, p == "a/link" || p == "a/rel" || p == "mnt" || p == "a/b" ? O_PATH : O_RDONLY);
        if (!fd) {
            out.push_back(p.substr(0, 40) + " -> " + fd.error().code.message());
            continue;
        }
        char buf[16] = {};
        const ssize_t n = ::pread(fd->get(), buf, sizeof buf - 1, 0);
        out.push_back(p.substr(0, 40) + " -> ok " + (n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : ""));
    }
    return out;
}

void refuse_openat2() {
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {static_cast<unsigned short>(std::size(filter)), filter};
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
        ::_exit(3);
}

}  // namespace

TEST_CASE("open_beneath keeps its rules where openat2 is refused with ENOSYS (a seccomp filter)") {
    test::TempDir dir;
    const auto root = dir.path() / "root";
    std::filesystem::create_directories(root / "a/b");
    std::ofstream(root / "a/b/file") << "inside";
    std::ofstream(dir.path() / "escape") << "OUTSIDE";
    std::filesystem::create_symlink("/etc", root / "a/link");
    std::filesystem::create_symlink("../..", root / "a/rel");
    // A path longer than PATH_MAX: the component walk opens it in both modes.
    std::string long_path;
    base::UniqueFd at(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    for (int i = 0; i < 20; ++i) {
        const std::string name(250, static_cast<char>('a' + i));
        REQUIRE(::mkdirat(at.get(), name.c_str(), 0755) == 0);
        at = base::UniqueFd(::openat(at.get(), name.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        REQUIRE(at.valid());
        long_path += name + "/";
    }
    {
        base::UniqueFd deep(::openat(at.get(), "deep", O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
        REQUIRE(::write(deep.get(), "deep", 4) == 4);
    }
    long_path += "deep";
    // A mount inside the tree (root only): never crossed.
    std::filesystem::create_directories(root / "mnt");
    const bool mounted = ::geteuid() == 0 && ::mount("tmpfs", (root / "mnt").c_str(), "tmpfs", 0, "size=1m") == 0;
    if (mounted) std::ofstream(root / "mnt/inside") << "mounted";

    const auto with_openat2 = beneath_answers(root, long_path);
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        ::close(fds[0]);
        refuse_openat2();
        std::string text;
        for (const auto& line : beneath_answers(root, long_path)) text += line + "\n";
        text += base::openat2_available() ? "openat2 used\n" : "components walked\n";
        (void)!::write(fds[1], text.data(), text.size());
        ::_exit(0);
    }
    ::close(fds[1]);
    std::string text;
    char buf[4096];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
    ::close(fds[0]);
    int status = 0;
    ::waitpid(child, &status, 0);
    if (mounted) ::umount2((root / "mnt").c_str(), MNT_DETACH);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    std::string expected;
    for (const auto& line : with_openat2) expected += line + "\n";
    expected += "components walked\n";
    CHECK(text == expected);
    // And what they agree on is right: inside opened, every escape refused.
    const std::string all = text;
    CHECK(with_openat2[0] == "/a/b/file -> ok inside");
    CHECK(with_openat2[1] == "a/./b//file -> ok inside");
    CHECK(with_openat2[11].ends_with("-> ok deep"));
    CHECK(all.find("OUTSIDE") == std::string::npos);
    CHECK(all.find("root:") == std::string::npos);
    // A trailing symlink opened O_PATH is the link itself (openat2's rule), never its target.
    CHECK(with_openat2[3] == "a/link -> ok ");
    CHECK(with_openat2[5] == "a/rel -> ok ");
    for (int i : {2, 4, 6, 7}) CHECK_MESSAGE(with_openat2[static_cast<std::size_t>(i)].find("-> ok") == std::string::npos, with_openat2[static_cast<std::size_t>(i)]);
    if (mounted) {
        CHECK(with_openat2[8].find("-> ok") == std::string::npos);
        CHECK(with_openat2[9].find("-> ok") == std::string::npos);
    }
}
