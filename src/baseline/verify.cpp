// SPDX-License-Identifier: Apache-2.0
#include "layerlock/baseline/verify.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>

#include "layer_scan.hpp"
#include "layerlock/base/unique_fd.hpp"

namespace layerlock::baseline {
namespace {

class Collect final : public detail::EntrySink {
public:
    base::Result<void> put(const Entry& e) override {
        entries.push_back(e);
        return {};
    }
    std::vector<Entry> entries;
};

// FNV-1a of the path mixed with the seed: a stable pick per (path, seed).
std::uint64_t pick(const std::string& path, std::uint64_t seed) {
    std::uint64_t h = 1469598103934665603ull ^ seed;
    for (unsigned char c : path) h = (h ^ c) * 1099511628211ull;
    return h;
}

constexpr std::uint32_t kPermBits = 07777;

}  // namespace

std::vector<Difference> compare_entries(const std::vector<Entry>& records, const std::vector<Entry>& host) {
    std::vector<Difference> out;
    std::size_t i = 0, j = 0;
    while (i < records.size() || j < host.size()) {
        if (j == host.size() || (i < records.size() && records[i].path < host[j].path)) {
            out.push_back({records[i++].path, "missing"});
            continue;
        }
        if (i == records.size() || host[j].path < records[i].path) {
            out.push_back({host[j++].path, "added"});
            continue;
        }
        const Entry& r = records[i++];
        const Entry& h = host[j++];
        if (r.kind != h.kind) out.push_back({r.path, "kind"});
        else if (r.kind == EntryKind::Regular && r.size != h.size) out.push_back({r.path, "size"});
        else if (r.kind == EntryKind::Regular && h.hashed && r.sha256 != h.sha256) out.push_back({r.path, "content"});
        else if (r.kind == EntryKind::Symlink && r.target != h.target) out.push_back({r.path, "target"});
        else if ((r.kind == EntryKind::Regular || r.kind == EntryKind::Directory ||
                  r.kind == EntryKind::OpaqueDirectory) &&
                 (r.mode & kPermBits) != (h.mode & kPermBits))
            out.push_back({r.path, "mode"});
    }
    return out;
}

base::Result<VerifyResult> verify_layer(const std::string& layer_dir, const std::vector<Entry>& records,
                                        const VerifyOptions& options) {
    base::UniqueFd root(::open(layer_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!root) return base::unexpected(base::Error::from_errno("open " + layer_dir));
    // Sample mode: the records say which files there are; a threshold on the pick
    // hashes about `sample` of the non-executable ones.
    std::uint64_t regular = 0;
    for (const auto& r : records) regular += r.kind == EntryKind::Regular;
    const std::uint64_t threshold =
        regular <= options.sample ? UINT64_MAX : UINT64_MAX / regular * options.sample;
    detail::HashFilter filter = [&](const std::string& path, const struct stat& st) {
        if (options.full) return true;
        if (options.executables && (st.st_mode & 06111) != 0) return true;
        return pick(path, options.seed) <= threshold;
    };
    Collect host;
    auto scanned = detail::scan_layer(root.get(), std::max(1u, options.threads), host, &filter);
    if (!scanned) return base::unexpected(scanned.error());
    std::sort(host.entries.begin(), host.entries.end(),
              [](const Entry& a, const Entry& b) { return a.path < b.path; });
    VerifyResult out;
    out.entries = host.entries.size();
    for (const auto& e : host.entries) out.hashed += e.kind == EntryKind::Regular && e.hashed;
    out.differences = compare_entries(records, host.entries);
    return out;
}

std::string describe(const std::vector<Difference>& d, std::size_t max) {
    std::string out = std::to_string(d.size()) + (d.size() == 1 ? " differs: " : " differ: ");
    for (std::size_t i = 0; i < d.size() && i < max; ++i) out += (i ? ", " : "") + d[i].path + " (" + d[i].what + ")";
    if (d.size() > max) out += ", ...";
    return out;
}

}  // namespace layerlock::baseline
