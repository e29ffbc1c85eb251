// SPDX-License-Identifier: Apache-2.0
// A real overlay mount for privileged tests: one lower layer holding copies of
// the host's static busybox, an upper and a work directory, mounted on merged/.
// Unmounted (lazily, so a failed test cannot leave it busy) when destroyed.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace layerlock::test {

inline constexpr const char* kBusybox = "/bin/busybox";

class OverlayFixture {
public:
    explicit OverlayFixture(const std::vector<std::string>& binaries = {"bin/busybox"}) {
        namespace fs = std::filesystem;
        for (const char* d : {"lower", "upper", "work", "merged"}) fs::create_directories(dir_.path() / d);
        fs::create_directories(dir_.path() / "lower/tmp");
        for (const auto& b : binaries) {
            fs::create_directories((dir_.path() / "lower" / b).parent_path());
            fs::copy_file(kBusybox, dir_.path() / "lower" / b);
            ::chmod((dir_.path() / "lower" / b).c_str(), 0755);
        }
        std::string opts = "lowerdir=" + lower() + ",upperdir=" + upper() + ",workdir=" + (dir_.path() / "work").string();
        mounted_ = ::mount("overlay", merged().c_str(), "overlay", 0, opts.c_str()) == 0;
    }
    ~OverlayFixture() {
        if (mounted_) ::umount2(merged().c_str(), MNT_DETACH);
    }
    bool mounted() const { return mounted_; }
    std::string lower() const { return (dir_.path() / "lower").string(); }
    std::string upper() const { return (dir_.path() / "upper").string(); }
    std::string merged() const { return (dir_.path() / "merged").string(); }
    std::string at(const std::string& rel) const { return merged() + "/" + rel; }

private:
    TempDir dir_;
    bool mounted_ = false;
};

// Runs `path` with argv {argv0, args...}; returns the exec errno (EPERM when the
// gate denied it) or 0 after the child exited 0; -1 for any other exit.
inline int run(const std::string& path, const std::vector<std::string>& args = {"true"}) {
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid;
    // The child closes every fd above stderr before its exec: it must not hold a
    // copy of the test's fanotify group, or a test that crashes while the child
    // waits for its exec's answer would leave the child waiting on itself forever.
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    int err = ::posix_spawn(&pid, path.c_str(), &actions, nullptr, argv.data(), environ);
    ::posix_spawn_file_actions_destroy(&actions);
    if (err != 0) return err;
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

}  // namespace layerlock::test
