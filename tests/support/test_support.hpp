// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the test executables: a self-removing temporary directory and
// the privileged-test gate.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace layerlock::test {

// Exits 77 (skip) when not root outside CI, exits 1 under CI=true.
void require_root();

class TempDir {
public:
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "layerlock-test-XXXXXX").string();
        if (!::mkdtemp(tmpl.data())) std::abort();
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }
    std::string str() const { return path_.string(); }

private:
    std::filesystem::path path_;
};

}  // namespace layerlock::test
