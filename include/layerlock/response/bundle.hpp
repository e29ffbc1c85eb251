// SPDX-License-Identifier: Apache-2.0
// A forensics bundle: one tar file per incident, written with libarchive (which
// stays in src/response), bounded in size: entries past the bound are left out and
// the bundle's MANIFEST says which. Entries are added whole, from memory or from
// an open file.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "layerlock/base/result.hpp"

namespace layerlock::response {

class Bundle {
public:
    // Creates `path` (0600, never overwriting).
    static base::Result<Bundle> create(const std::string& path, std::uint64_t max_bytes);
    Bundle(Bundle&&) noexcept;
    Bundle& operator=(Bundle&&) noexcept;
    ~Bundle();

    // False when the entry would pass the bound (it is then listed as left out).
    bool add(const std::string& name, const std::string& content);
    bool add_file(const std::string& name, int fd);
    // Writes MANIFEST (what is in, what was left out) and closes the archive.
    base::Result<void> finish();

private:
    struct Impl;
    explicit Bundle(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// Names of the entries of a tar file (for `layerlock forensics list` and tests).
base::Result<std::vector<std::string>> bundle_entries(const std::string& path);

}  // namespace layerlock::response
